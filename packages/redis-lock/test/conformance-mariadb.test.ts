/**
 * The store conformance suite in its lock-strategy mode (`enforcedBy: 'strategy'`), with the real
 * `redisLockStrategy` on the local Redis (REDIS_URL; see test/support/lock-conformance.ts), over a MariaDB `drizzleStore` (mysql2) whose tables have
 * no unique index on their key (see test/support/mysql.ts), and with the key-equality cases: spellings of one
 * key that MariaDB treats as equal (case, accents and trailing spaces under its collations; a Date or a decimal
 * the column rounds) must take one lock, so that one row is created for them all. Once with one strategy, as an
 * application uses it; once with one strategy per caller, independent lock contenders as if from separate
 * processes.
 */
import { runLockConformance } from './support/lock-conformance.js'
import { mysqlEqualKeys, mysqlShapeTable } from './support/mysql.js'

/** Callers at once in the suite's races; the store's pool is exactly this large. */
const CONCURRENCY = 16

await runLockConformance({
  database: 'MariaDB (mysql2)',
  tag: 'rl_mariadb',
  concurrency: CONCURRENCY,
  table: (shape) => mysqlShapeTable(shape, CONCURRENCY),
  equalKeys: mysqlEqualKeys(CONCURRENCY),
  batch: true,
})
