import { runStoreConformance } from '@getorcreate/core/testing'
import { describe, expect, test } from 'vitest'
import { mysqlConformanceTable } from './support/mysql.js'

runStoreConformance(
  { describe, test, expect },
  { name: 'MariaDB (mysql2)', table: (shape) => mysqlConformanceTable(shape, 16) },
)
