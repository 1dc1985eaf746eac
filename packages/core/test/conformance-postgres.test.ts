import { runStoreConformance } from '@getorcreate/core/testing'
import { describe, expect, test } from 'vitest'
import { pgConformanceTable, pgEqualKeyCases } from './support/conformance-pg.js'

runStoreConformance(
  { describe, test, expect },
  {
    name: 'Postgres (postgres.js)',
    table: (shape) => pgConformanceTable('postgres.js', shape, 16),
    members: ['insertIfAbsentUnderLock', 'uniqueIndexFix', 'statements'],
    equalKeys: pgEqualKeyCases('postgres.js'),
  },
)
