import { runStoreConformance } from '@getorcreate/core/testing'
import { describe, expect, test } from 'vitest'
import { mysqlConformanceTable } from './support/mysql.js'
import { mysqlEqualKeys } from './support/mysql-equal-keys.js'

runStoreConformance(
  { describe, test, expect },
  {
    name: 'MariaDB (mysql2)',
    table: (shape, options) => mysqlConformanceTable(shape, 16, undefined, options),
    // No insertIfAbsentUnderLock: its INSERT … SELECT … WHERE NOT EXISTS can deadlock on gap locks here.
    members: ['uniqueIndexFix', 'statements', 'insertIfAbsentFenced', 'batch', 'update'],
    equalKeys: mysqlEqualKeys({ unique: true, pool: 16 }),
  },
)
