import { runStoreConformance } from '@getorcreate/core/testing'
import { describe, expect, test } from 'vitest'
import { mysqlConformanceTable } from './support/mysql.js'

// MySQL's path (no INSERT … RETURNING: read back by insertId or key) on the local MariaDB.
/**
 * Callers at once in the suite's races (16 callers of one key at once in its race cases); each table's pool is
 * exactly this large, so that every one of them holds a connection at the same time.
 */
const CONCURRENCY = 16

runStoreConformance(
  { describe, test, expect },
  {
    name: 'MariaDB as MariaDB 10.4 (no RETURNING)',
    concurrency: CONCURRENCY,
    table: (shape, options) => mysqlConformanceTable(shape, CONCURRENCY, '10.4.32-MariaDB', options),
    members: ['uniqueIndexFix', 'statements', 'insertIfAbsentFenced', 'batch', 'update'],
  },
)
