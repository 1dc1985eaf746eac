import { runStoreConformance } from '@getorcreate/core/testing'
import { describe, expect, test } from 'vitest'
import { pgConformanceTable, pgEqualKeyCases } from './support/conformance-pg.js'

runStoreConformance(
  { describe, test, expect },
  {
    name: 'Postgres (node-postgres)',
    table: (shape) => pgConformanceTable('node-postgres', shape, 16),
    members: ['insertIfAbsentUnderLock', 'uniqueIndexFix', 'statements'],
    equalKeys: pgEqualKeyCases('node-postgres'),
  },
)
