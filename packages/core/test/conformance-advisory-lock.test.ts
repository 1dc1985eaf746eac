/**
 * The store conformance suite in its lock-strategy mode (`enforcedBy: 'strategy'`) under
 * `advisoryLockStrategy`, over a Postgres `drizzleStore` on each driver (postgres.js, node-postgres, PGlite):
 * the tables have no unique index on their key, so the advisory lock alone must keep one row per key, and
 * the key-equality cases (spellings of one key that Postgres treats as equal: citext, numeric, rounded
 * timestamps, nondeterministic collations) run on tables without a unique index too: every spelling must take
 * one lock. NULL is a value like any other for a lock. On postgres.js once more with single flight on, as an
 * application uses the strategy.
 */
import { advisoryLockStrategy } from '@getorcreate/core'
import { type ConformanceTestApi, runStoreConformance } from '@getorcreate/core/testing'
import { describe, expect, test } from 'vitest'
import { pgConformanceTable } from './support/conformance-pg.js'
import { openPg, PG_DRIVERS } from './support/pg.js'
import { PG_KEY_COLUMNS, PG_LOCK_MODE_MEMBERS, pgEqualKeys } from './support/pg-equal-keys.js'

/** Callers at once in the suite's races; each table's pool is exactly this large. */
const CONCURRENCY = 16

const api: ConformanceTestApi = { describe, test, expect }

for (const driver of PG_DRIVERS) {
  for (const singleFlight of driver === 'postgres.js' ? [false, true] : [false]) {
    runStoreConformance(api, {
      name: `advisoryLockStrategy (singleFlight: ${singleFlight}) over drizzleStore, ${driver}, no unique index on the key`,
      table: (shape) => pgConformanceTable(driver, shape, CONCURRENCY),
      concurrency: CONCURRENCY,
      strategy: advisoryLockStrategy({ singleFlight }),
      enforcedBy: 'strategy',
      nullKeys: 'allowed',
      members: PG_LOCK_MODE_MEMBERS,
      equalKeys: pgEqualKeys(() => openPg(driver, CONCURRENCY), {
        unique: false,
        // A nondeterministic collation has no lock key: refused (see advisory-lock.test.ts).
        columns: PG_KEY_COLUMNS.filter((spec) => !spec.lockRefused && (driver !== 'pglite' || !spec.icu)),
      }),
    })
  }
}
