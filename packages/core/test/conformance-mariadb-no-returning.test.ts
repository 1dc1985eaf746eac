import { runStoreConformance } from '@getorcreate/core/testing'
import { describe, expect, test } from 'vitest'
import { mysqlConformanceTable } from './support/mysql.js'

// MySQL's path (no INSERT … RETURNING: read back by insertId or key) on the local MariaDB.
runStoreConformance(
  { describe, test, expect },
  {
    name: 'MariaDB as MariaDB 10.4 (no RETURNING)',
    table: (shape, options) => mysqlConformanceTable(shape, 16, '10.4.32-MariaDB', options),
    members: ['uniqueIndexFix', 'statements', 'insertIfAbsentFenced', 'batch', 'update'],
  },
)
