import { runStoreConformance } from '@getorcreate/core/testing'
import { describe, expect, test } from 'vitest'
import { pgConformanceTable, pgEqualKeyCases } from './support/conformance-pg.js'

/**
 * Callers at once in the suite's races (16 callers of one key at once in its race cases); each table's pool is
 * exactly this large, so that every one of them holds a connection at the same time.
 */
const CONCURRENCY = 16

runStoreConformance(
  { describe, test, expect },
  {
    name: 'Postgres (postgres.js)',
    concurrency: CONCURRENCY,
    table: (shape, options) => pgConformanceTable('postgres.js', shape, CONCURRENCY, options),
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
    equalKeys: pgEqualKeyCases('postgres.js'),
  },
)
