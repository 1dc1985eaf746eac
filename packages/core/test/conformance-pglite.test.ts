import { runStoreConformance } from '@getorcreate/core/testing'
import { describe, expect, test } from 'vitest'
import { pgConformanceTable, pgEqualKeyCases } from './support/conformance-pg.js'

// PGlite is one in-process connection: the race still interleaves every step of every caller, but the
// engine runs one statement at a time.
runStoreConformance(
  { describe, test, expect },
  {
    name: 'PGlite',
    table: (shape) => pgConformanceTable('pglite', shape),
    members: ['insertIfAbsentUnderLock', 'uniqueIndexFix', 'statements'],
    equalKeys: pgEqualKeyCases('pglite'),
  },
)
