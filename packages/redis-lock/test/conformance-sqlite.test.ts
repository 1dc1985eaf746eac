/**
 * The store conformance suite in its lock-strategy mode (`enforcedBy: 'strategy'`), with the real
 * `redisLockStrategy` on the local Redis (REDIS_URL; see test/support/lock-conformance.ts), over a SQLite
 * `drizzleStore` (better-sqlite3, a WAL file per table) whose tables have no unique index on their key (see
 * test/support/sqlite.ts), and with the key-equality cases: spellings of one key that SQLite treats as equal
 * (case under NOCASE, trailing spaces under RTRIM, number text under numeric affinity, a Date in a
 * `timestamp` column's whole seconds) must take one lock, so that one row is created for them all. Once with
 * one strategy, as an application uses it; once with one strategy per caller, independent lock contenders as
 * if from separate processes.
 */
import { runLockConformance } from './support/lock-conformance.js'
import { sqliteEqualKeys, sqliteShapeTable } from './support/sqlite.js'

// One connection serves all 16 callers (better-sqlite3 is synchronous): they interleave at every await, the
// Redis lock's round trips among them.
await runLockConformance({
  database: 'SQLite (better-sqlite3)',
  tag: 'rl_sqlite',
  concurrency: 16,
  table: (shape) => sqliteShapeTable(shape),
  equalKeys: sqliteEqualKeys(),
  batch: true,
})
