import { runStoreConformance } from '@getorcreate/core/testing'
import { describe, expect, test } from 'vitest'
import { mysqlConformanceTable } from './support/mysql.js'
import { mysqlEqualKeys } from './support/mysql-equal-keys.js'

/**
 * Callers at once in the suite's races (16 callers of one key at once in its race cases); each table's pool is
 * exactly this large, so that every one of them holds a connection at the same time.
 */
const CONCURRENCY = 16

runStoreConformance(
  { describe, test, expect },
  {
    name: 'MariaDB (mysql2)',
    concurrency: CONCURRENCY,
    table: (shape, options) => mysqlConformanceTable(shape, CONCURRENCY, undefined, options),
    // No insertIfAbsentUnderLock: its INSERT … SELECT … WHERE NOT EXISTS can deadlock on gap locks here.
    members: ['uniqueIndexFix', 'statements', 'insertIfAbsentFenced', 'batch', 'update'],
    equalKeys: mysqlEqualKeys({ unique: true, pool: CONCURRENCY }),
  },
)
