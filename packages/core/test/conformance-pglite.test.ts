import { runStoreConformance } from '@getorcreate/core/testing'
import { describe, expect, test } from 'vitest'
import { pgConformanceTable, pgEqualKeyCases } from './support/conformance-pg.js'

// PGlite is one in-process connection: the race still interleaves every step of every caller, but the
// engine runs one statement at a time.
runStoreConformance(
  { describe, test, expect },
  {
    name: 'PGlite',
    table: (shape, options) => pgConformanceTable('pglite', shape, undefined, options),
    members: [
      'insertIfAbsentUnderLock',
      'uniqueIndexFix',
      'statements',
      'insertIfAbsentFenced',
      'batch',
      'findOrInsertManyAtomically',
      'update',
      'findOrInsertUnderAdvisoryLock',
    ],
    equalKeys: pgEqualKeyCases('pglite'),
  },
)
