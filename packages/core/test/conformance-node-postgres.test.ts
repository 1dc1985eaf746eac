import { runStoreConformance } from '@getorcreate/core/testing'
import { describe, expect, test } from 'vitest'
import { pgConformanceTable, pgEqualKeyCases } from './support/conformance-pg.js'

runStoreConformance(
  { describe, test, expect },
  {
    name: 'Postgres (node-postgres)',
    table: (shape, options) => pgConformanceTable('node-postgres', shape, 16, options),
    members: [
      'insertIfAbsentUnderLock',
      'uniqueIndexFix',
      'statements',
      'insertIfAbsentFenced',
      'batch',
      'update',
      'findOrInsertUnderAdvisoryLock',
    ],
    equalKeys: pgEqualKeyCases('node-postgres'),
  },
)
