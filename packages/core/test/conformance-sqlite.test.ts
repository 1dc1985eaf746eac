import { runStoreConformance } from '@getorcreate/core/testing'
import { describe, expect, test } from 'vitest'
import { sqliteConformanceTable } from './support/sqlite.js'
import { sqliteEqualKeys } from './support/sqlite-equal-keys.js'

runStoreConformance(
  { describe, test, expect },
  {
    name: 'SQLite (better-sqlite3, WAL file)',
    table: sqliteConformanceTable,
    // No insertIfAbsentUnderLock: a lock strategy reads, then inserts.
    members: ['uniqueIndexFix', 'statements', 'insertIfAbsentFenced', 'batch', 'update'],
    equalKeys: sqliteEqualKeys({ unique: true }),
  },
)
