import { createHash } from 'node:crypto'
import type { CallTrace } from './diagnostics.js'
import { LockMisconfiguredError } from './errors.js'
import { encodeKey } from './key.js'
import { batchedFind } from './read-batch.js'
import { rowOrNone } from './store-answers.js'
import { MAX_LOCK_TIMEOUT_MS } from './store-types.js'
import type { GetOrCreateResult, NewRowValues, Store, Strategy } from './types.js'

/** What a store answered, for a message: `null`, a type, or `{ row: … }` without a row. */
function describe(answer: unknown): string {
  if (answer === null) return 'null'
  if (typeof answer !== 'object') return typeof answer
  return `{ row: ${String((answer as { row?: unknown }).row)} }`
}

/** Options of {@link advisoryLockStrategy}. */
export interface AdvisoryLockStrategyOptions {
  /**
   * How long a caller waits for the key's advisory lock, in milliseconds, before `LockUnavailableError`
   * (nothing written). It bounds the wait for the lock only, not for a connection from the pool. A whole
   * number from `1` to `2_147_483_647`. Default is `10_000`.
   */
  readonly lockTimeoutMs?: number
  /**
   * Share one operation among this process's calls for the same store object and key made in the same tick
   * (see `Strategy.singleFlight`): one read and at most one lock for a burst of callers of one key. Default is
   * `true`; `false` makes every caller take the lock itself (as race tests do, to make the lock settle every
   * race).
   */
  readonly singleFlight?: boolean
  /**
   * Send the lock-free reads of step 1 that one store object is asked for in the same turn of the event loop
   * together, as one `store.findMany` (see `batchedFind`), outside a transaction. Default is `true`; `false`
   * sends one `find` per call.
   */
  readonly batchReads?: boolean
}

/** The strategy {@link advisoryLockStrategy} returns. */
export interface AdvisoryLockStrategy extends Strategy {
  /** `'advisory-lock'`. */
  readonly name: 'advisory-lock'
  /** The wait for a lock, in milliseconds, as checked. */
  readonly lockTimeoutMs: number
}

/**
 * The Postgres advisory-lock strategy: for Postgres tables where the database cannot enforce a unique key (a
 * partitioned table whose unique indexes must include the partition column, a table that already holds
 * duplicates) when there is no Redis. Every creator of a key takes one transaction-scoped advisory lock, so
 * exactly one of them inserts. Postgres and PGlite stores only (`drizzleStore` over a `pg-core` table); any
 * other store is refused with `LockMisconfiguredError` before any I/O.
 *
 * 1. `store.find(key)` without a lock: a hit takes no lock and opens no transaction. The reads of one store
 *    object made in the same turn of the event loop go as one `findMany` (`batchReads`; see `batchedFind`).
 * 2. The lock's id: the first 64 bits of SHA-256 over the table and the key as the database compares them
 *    (`store.lockIdentity(key)`, the same canonical key the Redis lock uses; see {@link advisoryLockIdFor}), so
 *    every spelling of one key takes one lock. Two keys whose ids collide (one chance in 2^64 per pair) only
 *    wait for each other.
 * 3. `defaults` are made (a `defaults` function runs here, before any connection is held for the lock).
 * 4. `store.findOrInsertUnderAdvisoryLock(key, values, { id, timeoutMs })`: in a READ COMMITTED transaction,
 *    `pg_advisory_xact_lock(id)` (waiting at most `lockTimeoutMs`: `LockUnavailableError`), then in a new
 *    statement, so a snapshot taken after the lock was granted, the key's row or the inserted one; the commit
 *    releases the lock. Five round trips on a miss (the read, `BEGIN`, the lock, the find-or-insert, `COMMIT`),
 *    one on a hit.
 *
 * On a store bound to a transaction (`drizzleStore(tx, table)`) the caller's transaction is used: the lock is
 * held until it commits or rolls back, so, unlike a Redis lock, this strategy is safe inside transactions (a
 * second creator waits until the row is committed, then reads it). The wait there is a try of the lock
 * repeated with short pauses, so that a `LockUnavailableError` leaves the transaction usable. A transaction at
 * REPEATABLE READ or SERIALIZABLE is refused with `LockInTransactionError` (its snapshot predates the lock and
 * could hide the other creator's row), before the lock is taken. Only transaction-scoped locks are used, so it
 * works through a transaction-mode pooler (PgBouncer) as well as directly.
 *
 * @throws TypeError for options that are not an object or a `singleFlight` or `batchReads` that is not a
 *   boolean; RangeError
 *   for a `lockTimeoutMs` that is not a whole number of milliseconds in range.
 *
 * @example
 * ```ts
 * const strategy = advisoryLockStrategy({ lockTimeoutMs: 5_000 })
 * const { row, created } = await getOrCreate(drizzleStore(db, events), { externalId }, defaults, strategy)
 * ```
 */
export function advisoryLockStrategy(options: AdvisoryLockStrategyOptions = {}): AdvisoryLockStrategy {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('advisoryLockStrategy: options must be an object.')
  }
  const lockTimeoutMs = options.lockTimeoutMs === undefined ? 10_000 : options.lockTimeoutMs
  if (!Number.isSafeInteger(lockTimeoutMs) || lockTimeoutMs < 1 || lockTimeoutMs > MAX_LOCK_TIMEOUT_MS) {
    throw new RangeError(
      `advisoryLockStrategy: lockTimeoutMs must be a whole number of milliseconds from 1 to ${MAX_LOCK_TIMEOUT_MS}; ` +
        `got ${String(options.lockTimeoutMs)}.`,
    )
  }
  const singleFlight = options.singleFlight === undefined ? true : options.singleFlight
  if (typeof singleFlight !== 'boolean') {
    throw new TypeError(
      `advisoryLockStrategy: singleFlight must be a boolean; got ${String(options.singleFlight)}.`,
    )
  }
  const batchReads = options.batchReads === undefined ? true : options.batchReads
  if (typeof batchReads !== 'boolean') {
    throw new TypeError(
      `advisoryLockStrategy: batchReads must be a boolean; got ${String(options.batchReads)}.`,
    )
  }
  return {
    name: 'advisory-lock',
    lockTimeoutMs,
    singleFlight,
    async getOrCreate<Row, Key, Values>(
      store: Store<Row, Key, Values>,
      key: Key,
      values: NewRowValues<Values>,
      trace?: CallTrace,
    ): Promise<GetOrCreateResult<Row>> {
      const findOrInsert = store.findOrInsertUnderAdvisoryLock
      if (typeof findOrInsert !== 'function' || typeof store.lockIdentity !== 'function') {
        throw new LockMisconfiguredError(
          `advisoryLockStrategy takes Postgres advisory locks, which ${store.name} cannot: it needs a store ` +
            'with findOrInsertUnderAdvisoryLock and lockIdentity (drizzleStore over a pg-core table, on ' +
            'node-postgres, postgres.js or PGlite). Nothing was read or written. On another database use ' +
            'redisLockStrategy (@getorcreate/redis-lock), or a unique index and the default strategy.',
        )
      }
      if (trace) trace.storeCalls++
      const found = rowOrNone(
        await (batchReads ? batchedFind(store, key) : store.find(key)),
        store,
        batchReads ? 'find (or findMany)' : 'find',
      )
      if (found !== undefined) return { row: found, created: false }
      const identity = await store.lockIdentity(key)
      const id = advisoryLockIdFor(identity.table, identity.key as Record<string, unknown>)
      const newRow = await values()
      if (trace) {
        trace.missed = true
        trace.attempts = 1
        trace.storeCalls++
      }
      const result = await findOrInsert.call(store, key, newRow, { id, timeoutMs: lockTimeoutMs })
      if (typeof result !== 'object' || result === null || result.row === undefined || result.row === null) {
        throw new TypeError(
          `Store ${store.name}: findOrInsertUnderAdvisoryLock answered ${describe(result)}, not ` +
            '{ row, created } with the row found or inserted.',
        )
      }
      return result
    },
  }
}

/**
 * The advisory lock id `advisoryLockStrategy` takes for `key` of `table` (what `store.lockIdentity(key)`
 * answers): the first 64 bits of the SHA-256 of `encodeKey(table, key)`, as a signed bigint, the argument of
 * `pg_advisory_xact_lock(bigint)`. Exported so operators can find a lock in `pg_locks` (`locktype =
 * 'advisory'`, `objsubid = 1`, `classid` its high 32 bits and `objid` its low 32 bits, both unsigned).
 *
 * @throws InvalidKeyError for a key `getOrCreate` would refuse.
 *
 * @example
 * ```ts
 * advisoryLockIdFor('pg:public.items', { slug: 'a' }) // -5742… (a bigint)
 * ```
 */
export function advisoryLockIdFor(table: string, key: Record<string, unknown>): bigint {
  return createHash('sha256').update(encodeKey(table, key)).digest().readBigInt64BE(0)
}
