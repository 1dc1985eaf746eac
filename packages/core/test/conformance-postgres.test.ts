import { runStoreConformance } from '@getorcreate/core/testing'
import { describe, expect, test } from 'vitest'
import { pgConformanceTable, pgEqualKeyCases } from './support/conformance-pg.js'

runStoreConformance(
  { describe, test, expect },
  {
    name: 'Postgres (postgres.js)',
    table: (shape, options) => pgConformanceTable('postgres.js', shape, 16, options),
    members: [
      'insertIfAbsentUnderLock',
      'uniqueIndexFix',
      'statements',
      'insertIfAbsentFenced',
      'batch',
      'update',
      'findOrInsertUnderAdvisoryLock',
    ],
    equalKeys: pgEqualKeyCases('postgres.js'),
  },
)
