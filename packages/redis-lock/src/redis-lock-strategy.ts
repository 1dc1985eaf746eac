import {
  type GetOrCreateResult,
  LockInTransactionError,
  type NewRowValues,
  type Store,
  type Strategy,
} from '@getorcreate/core'
import { createUnderLock, type LockContext } from './create-under-lock.js'
import type { LockClient } from './lock/lock-client.js'
import { RedlockClient } from './lock/redlock-client.js'
import { DEFAULT_KEY_PREFIX, lockKeyFor } from './lock-key.js'
import type { RedisClientLike } from './redis-client.js'
import { SingleFlight } from './single-flight.js'

/** Options of {@link redisLockStrategy}. */
export interface RedisLockStrategyOptions {
  /**
   * The Redis nodes that hold the locks: one ioredis client (`new Redis(url)`), or an array of clients of
   * independent nodes. With N nodes a lock needs a majority, `floor(N / 2) + 1`: use 1 node, or 3 or 5
   * independent masters (Redlock); never replicas of one another. Required.
   *
   * The clients are used as given and never closed by the strategy. Lock commands are sent only while a
   * client's status is `'ready'` (never into ioredis's offline queue) and each is bounded by
   * `commandTimeoutMs`, so a dead node fails fast whatever the client's settings. Clients of your own with
   * `enableOfflineQueue: false` and `maxRetriesPerRequest: 1` (or 0) are still recommended: then a command
   * cut off by a dropped connection is not resent late either.
   */
  readonly clients: RedisClientLike | readonly RedisClientLike[]
  /**
   * How long a lock lives without being extended, in milliseconds: how long callers wait for the lock of a
   * crashed holder. While a create runs the lock is extended every `ttlMs / 3`. Default is `10_000`.
   */
  readonly ttlMs?: number
  /**
   * How long a caller keeps trying to take the lock before it gives up with `LockUnavailableError`, in
   * milliseconds. Default is `10_000`.
   */
  readonly acquireTimeoutMs?: number
  /**
   * Base wait between two attempts to take a busy lock, in milliseconds; every wait is jittered to 50–150 %
   * of it so that waiters do not move in step. Default is `50`.
   */
  readonly retryIntervalMs?: number
  /**
   * Bound of one lock command (acquire, extend, confirm, fence, release) on one node, in milliseconds, its
   * `EVAL` fallback after a `NOSCRIPT` included: a node that does not answer within it counts as failed for
   * that command. Default is `1_000`.
   */
  readonly commandTimeoutMs?: number
  /** Prefix of every lock key (see {@link lockKeyFor}). Default is `'getorcreate:lock:'`. */
  readonly keyPrefix?: string
  /**
   * Aborts every wait for a lock of this strategy: the call rejects at once with `signal.reason`. It bounds
   * only the wait; a create that holds the lock runs to its end. For one call, see
   * {@link RedisLockStrategy.withSignal}. Default is none.
   */
  readonly signal?: AbortSignal
}

/** The strategy {@link redisLockStrategy} returns: a `Strategy`, plus a per-call abort signal. */
export interface RedisLockStrategy extends Strategy {
  /** `'redis-lock'`. */
  readonly name: 'redis-lock'
  /**
   * The same strategy (same clients, options and lock keys) whose waits for a lock also end when `signal`
   * aborts: the call rejects at once with `signal.reason`, having written nothing. The strategy's own
   * `signal`, if any, still applies.
   *
   * @example
   * ```ts
   * await getOrCreate(store, { slug }, defaults, strategy.withSignal(AbortSignal.timeout(500)))
   * ```
   */
  withSignal(signal: AbortSignal): RedisLockStrategy
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  const chosen = value ?? fallback
  if (!Number.isInteger(chosen) || chosen < 1) {
    throw new RangeError(
      `redisLockStrategy: ${name} must be a whole number of milliseconds ≥ 1, got ${String(value)}.`,
    )
  }
  return chosen
}

/**
 * The Redis-lock strategy: for stores where the database cannot enforce a unique key (a partitioned table
 * whose unique index cannot cover the key, a table that already holds duplicates, a store without unique
 * indexes). Every creator of a key takes a lock on one Redis node or on a majority of N independent nodes
 * (Redlock), so exactly one of them inserts.
 *
 * 1. `store.find(key)` without a lock: a hit sends no Redis command at all.
 * 2. Take the lock `lockKeyFor(table, key)`, retrying for up to `acquireTimeoutMs`; else
 *    `LockUnavailableError`. `table` and `key` are what `store.lockIdentity(key)` answers, where the store
 *    has it (the drizzle stores do): the table as the database resolves it and the key as the database
 *    compares it, so every spelling of one key takes one lock; else `store.name` and the key as given.
 * 3. Under the lock, `store.insertIfAbsentUnderLock(key, { ...defaults, ...key })`: the fresh read and the
 *    insert in one round trip. A row found there means another caller created it; it is read back with
 *    `store.find(key, { fresh: true })`. A caller that had to wait for the lock (its holder most likely created
 *    the row), a store without `insertIfAbsentUnderLock` and a store with `checksFence: true` read first with
 *    `store.find(key, { fresh: true })`, and only on a miss call `defaults` and `store.insert(values)`.
 * 4. Before each write the lock must still be held: its validity is checked locally, and confirmed on a quorum
 *    too (renewing it; `LockLostError` if not) when anything ran under the lock since the acquire (a `defaults`
 *    function, a fresh read) or less than half the TTL is left. A store with `checksFence: true` always gets a
 *    fencing token from a quorum, passed as `store.insert(values, { fence })`. The lock is extended while the
 *    create runs.
 * 5. Release the lock (compare-and-delete); after a success without making the caller wait for it, after an
 *    error before the error reaches the caller. A failed release never hides the result or the create's error.
 *
 * Callers of one key in one process (same strategy, same store object) share one lock acquisition. A store
 * bound to an open transaction (`store.inTransaction`) is refused with `LockInTransactionError`: the lock
 * would be released before that transaction commits.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis'
 * const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
 * const redis = new Redis(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 })
 * const strategy = redisLockStrategy({ clients: redis, ttlMs: 5_000 })
 * const { row, created } = await getOrCreate(drizzleStore(db, events), { externalId }, defaults, strategy)
 * ```
 * @throws RangeError for invalid options.
 */
export function redisLockStrategy(options: RedisLockStrategyOptions): RedisLockStrategy {
  const clients = Array.isArray(options.clients) ? [...options.clients] : [options.clients as RedisClientLike]
  if (
    clients.length === 0 ||
    clients.some((client) => typeof client?.eval !== 'function' || typeof client.evalsha !== 'function')
  ) {
    throw new RangeError('redisLockStrategy: clients must be an ioredis client or a non-empty array of them.')
  }
  const ttlMs = positiveInteger('ttlMs', options.ttlMs, 10_000)
  const acquireTimeoutMs = positiveInteger('acquireTimeoutMs', options.acquireTimeoutMs, 10_000)
  const retryIntervalMs = positiveInteger('retryIntervalMs', options.retryIntervalMs, 50)
  const commandTimeoutMs = positiveInteger('commandTimeoutMs', options.commandTimeoutMs, 1_000)
  const keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX
  const client: LockClient = new RedlockClient({ clients, retryIntervalMs, commandTimeoutMs })
  const flights = new SingleFlight()
  return makeStrategy(
    client,
    { ttlMs, acquireTimeoutMs, keyPrefix, flights },
    options.signal ? [options.signal] : [],
  )
}

/** The options of {@link redisLockStrategy} once checked, and what its `withSignal` copies share. */
interface ResolvedOptions {
  readonly ttlMs: number
  readonly acquireTimeoutMs: number
  readonly keyPrefix: string
  readonly flights: SingleFlight
}

/** The strategy over `client`, whose waits for a lock end when any of `signals` aborts. */
function makeStrategy(
  client: LockClient,
  options: ResolvedOptions,
  signals: readonly AbortSignal[],
): RedisLockStrategy {
  const { ttlMs, acquireTimeoutMs, keyPrefix, flights } = options
  const context: LockContext = { client, ttlMs, acquireTimeoutMs, signals }
  return {
    name: 'redis-lock',
    withSignal(signal: AbortSignal): RedisLockStrategy {
      return makeStrategy(client, options, [...signals, signal])
    },
    async getOrCreate<Row, Key, Values>(
      store: Store<Row, Key, Values>,
      key: Key,
      newRow: NewRowValues<Values>,
    ): Promise<GetOrCreateResult<Row>> {
      if (store.inTransaction === true) {
        throw new LockInTransactionError(
          `${store.name} is bound to an open transaction: the lock would be released before that transaction ` +
            'commits the row, and the next holder would create a second one. Nothing was written. Pass a store ' +
            'over the database itself (drizzleStore(db, table), not drizzleStore(tx, table)), or give the key a ' +
            'unique index and use the constraint strategy, which is safe inside transactions.',
        )
      }
      const found = await store.find(key)
      if (found !== undefined) return { row: found, created: false }

      const lockKey = await lockKeyOf(store, key, keyPrefix)
      return flights.run(store, lockKey, signals, () => createUnderLock(context, store, key, newRow, lockKey))
    },
  }
}

/**
 * The lock key of `key`: from the table and the key as the database compares them, where the store can say
 * ({@link Store.lockIdentity}), so that every spelling of one key takes one lock; else from its name and the
 * key as given.
 */
async function lockKeyOf<Row, Key, Values>(
  store: Store<Row, Key, Values>,
  key: Key,
  keyPrefix: string,
): Promise<string> {
  if (typeof store.lockIdentity !== 'function') {
    return lockKeyFor(store.name, key as Record<string, unknown>, keyPrefix)
  }
  const identity = await store.lockIdentity(key)
  if (
    typeof identity?.table !== 'string' ||
    identity.table === '' ||
    typeof identity.key !== 'object' ||
    identity.key === null
  ) {
    throw new TypeError(
      `redisLockStrategy: ${store.name}'s lockIdentity must return { table, key } (a non-empty string and an ` +
        "object of the key's fields).",
    )
  }
  return lockKeyFor(identity.table, identity.key as Record<string, unknown>, keyPrefix)
}
