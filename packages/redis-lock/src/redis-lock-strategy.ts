import {
  type Defaults,
  type GetOrCreateResult,
  type InsertOptions,
  LockInTransactionError,
  LockLostError,
  resolveValues,
  type Store,
  type Strategy,
} from '@getorcreate/core'
import { abortable } from './lock/bounded.js'
import type { HeldLock, LockClient } from './lock/lock-client.js'
import { RedlockClient } from './lock/redlock-client.js'
import { DEFAULT_KEY_PREFIX, lockKeyFor } from './lock-key.js'
import type { RedisClientLike } from './redis-client.js'

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

/** Extends a held lock every `ttlMs / 3` until stopped, and says whether it is still surely held. */
class LockKeeper {
  readonly #client: LockClient
  readonly #lock: HeldLock
  readonly #ttlMs: number
  #timer: NodeJS.Timeout | undefined
  #lost = false
  #stopped = false

  constructor(client: LockClient, lock: HeldLock, ttlMs: number) {
    this.#client = client
    this.#lock = lock
    this.#ttlMs = ttlMs
    this.#schedule()
  }

  #schedule(): void {
    this.#timer = setTimeout(() => void this.#extend(), Math.max(1, Math.floor(this.#ttlMs / 3)))
    this.#timer.unref()
  }

  async #extend(): Promise<void> {
    const outcome = await this.#client.extend(this.#lock, this.#ttlMs).catch(() => 'unknown' as const)
    if (outcome === 'lost') this.#lost = true
    else if (!this.#stopped) this.#schedule()
  }

  /** @throws LockLostError when the lock was lost or its validity has run out. */
  assertHeld(): void {
    if (this.#lost) {
      throw new LockLostError(
        `Lost the lock ${this.#lock.key} before the write: an extension found it expired or taken. ` +
          'Nothing was written; the call may be retried. If this happens often, raise ttlMs.',
      )
    }
    if (performance.now() >= this.#lock.validUntil) {
      throw new LockLostError(
        `Lost the lock ${this.#lock.key} before the write: it could not be extended in time and may have ` +
          'expired. Nothing was written; the call may be retried. If this happens often, raise ttlMs.',
      )
    }
  }

  stop(): void {
    this.#stopped = true
    clearTimeout(this.#timer)
  }
}

/**
 * The Redis-lock strategy: for stores where the database cannot enforce a unique key (a partitioned table
 * whose unique index cannot cover the key, a table that already holds duplicates, a store without unique
 * indexes). Every creator of a key takes a lock on one Redis node or on a majority of N independent nodes
 * (Redlock), so exactly one of them inserts.
 *
 * 1. `store.find(key)` without a lock: a hit sends no Redis command at all.
 * 2. Take the lock `lockKeyFor(store.name, key)`, retrying for up to `acquireTimeoutMs`; else
 *    `LockUnavailableError`.
 * 3. Under the lock, `store.insertUnlessFound(key, { ...defaults, ...key })`: the fresh read and the insert in
 *    one round trip. A row found there means another caller created it; it is read back with
 *    `store.find(key, { fresh: true })`. A caller that had to wait for the lock (its holder most likely created
 *    the row), a store without `insertUnlessFound` and a store with `checksFence: true` read first with
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
  const inFlight: InFlight = new WeakMap()
  return makeStrategy(
    client,
    { ttlMs, acquireTimeoutMs, keyPrefix, inFlight },
    options.signal ? [options.signal] : [],
  )
}

/**
 * Per store object, per lock key: the row the call that holds (or waits for) the lock in this process will
 * settle on, `undefined` if it fails. Other callers of the same key in this process wait for it instead of
 * queueing on the lock one by one. Keyed by the store object, not its name: two store objects may be two
 * transactions, which must not see each other's rows.
 */
type InFlight = WeakMap<object, Map<string, Promise<unknown>>>

interface ResolvedOptions {
  readonly ttlMs: number
  readonly acquireTimeoutMs: number
  readonly keyPrefix: string
  readonly inFlight: InFlight
}

function makeStrategy(
  client: LockClient,
  options: ResolvedOptions,
  signals: readonly AbortSignal[],
): RedisLockStrategy {
  const { ttlMs, acquireTimeoutMs, keyPrefix, inFlight } = options

  async function createUnderLock<Row, Key, Values>(
    store: Store<Row, Key, Values>,
    key: Key,
    defaults: Defaults<Values>,
    lockKey: string,
  ): Promise<GetOrCreateResult<Row>> {
    const lock = await client.acquire(lockKey, { ttlMs, acquireTimeoutMs, signals })
    const keeper = new LockKeeper(client, lock, ttlMs)
    let succeeded = false
    /**
     * Right before a write: the lock must still be ours. Locally (`keeper.assertHeld`: no extension found it
     * lost, its validity has not run out) always; on a quorum too (the confirmation, which also renews the TTL,
     * or the fencing token for a store that checks one), unless `quiet`: nothing has run since the acquire,
     * which checked the same quorum an instant ago, and at least half the TTL is left for the write. Returns the
     * write's options.
     */
    const beforeWrite = async (quiet: boolean): Promise<InsertOptions | undefined> => {
      keeper.assertHeld()
      if (store.checksFence === true) {
        // The store refuses a write with an older token: take one (confirms ownership on a quorum too).
        const fence = await client.fence(lock, ttlMs)
        keeper.assertHeld()
        return { fence }
      }
      if (quiet && lock.validUntil - performance.now() >= ttlMs / 2) return undefined
      // A token nobody checks protects nothing: skip the counter (and its second round on N nodes), but still
      // confirm on a quorum, in one round, that the lock was neither deleted nor taken meanwhile.
      await client.confirm(lock, ttlMs)
      keeper.assertHeld()
      return undefined
    }
    /** `store.insert` after a store call under the lock; no second argument when there is no fence to pass. */
    const insert = async (values: Values): Promise<Row> => {
      const opts = await beforeWrite(false)
      return opts ? store.insert(values, opts) : store.insert(values)
    }
    try {
      let result: GetOrCreateResult<Row>
      if (
        typeof store.insertUnlessFound === 'function' &&
        store.checksFence !== true &&
        lock.attempts === 1
      ) {
        // Nobody held the lock: the row most likely does not exist, so the fresh read and the insert go in one
        // statement. A row found there (another process created it between our lock-free read and our lock)
        // is read back; if it is gone by then, we still hold the lock: create it. A caller that had to wait
        // for the lock reads first instead: the holder most likely created the row, and `defaults` (maybe an
        // expensive function) is then not called at all. A store that checks fencing tokens gets its token with
        // `insert`, which insertUnlessFound does not take.
        const lazy = typeof defaults === 'function' // user code, which may take its time
        const values = await resolveValues(key, defaults)
        await beforeWrite(!lazy)
        const inserted = await store.insertUnlessFound(key, values)
        if (inserted !== undefined) {
          result = { row: inserted, created: true }
        } else {
          const winner = await store.find(key, { fresh: true })
          if (winner !== undefined) result = { row: winner, created: false }
          else result = { row: await insert(values), created: true }
        }
      } else {
        const winner = await store.find(key, { fresh: true })
        if (winner !== undefined) {
          result = { row: winner, created: false }
        } else {
          const values = await resolveValues(key, defaults)
          result = { row: await insert(values), created: true }
        }
      }
      succeeded = true
      return result
    } finally {
      keeper.stop()
      // Never throws (bounded, failures swallowed): an unreleased lock expires after ttlMs, and a failed
      // release never hides the result or the create's own error.
      const released = client.release(lock).catch(() => undefined)
      // On success the caller does not wait for the release; on an error it does, so the lock is gone by
      // the time the error reaches the caller.
      if (!succeeded) await released
    }
  }

  return {
    name: 'redis-lock',
    withSignal(signal: AbortSignal): RedisLockStrategy {
      return makeStrategy(client, options, [...signals, signal])
    },
    async getOrCreate<Row, Key, Values>(
      store: Store<Row, Key, Values>,
      key: Key,
      defaults: Defaults<Values>,
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

      const lockKey = lockKeyFor(store.name, key as Record<string, unknown>, keyPrefix)
      let perStore = inFlight.get(store)
      if (!perStore) {
        perStore = new Map()
        inFlight.set(store, perStore)
      }
      const leader = perStore.get(lockKey)
      if (leader) {
        // Another call in this process is settling this key: its row is the row. If it fails, try ourselves.
        const row = (await abortable(leader, signals)) as Row | undefined
        if (row !== undefined) return { row, created: false }
      }
      const own = createUnderLock(store, key, defaults, lockKey)
      if (!perStore.has(lockKey)) {
        const shared = own.then(
          (result) => result.row,
          () => undefined,
        )
        perStore.set(lockKey, shared)
        void shared.then(() => {
          if (perStore.get(lockKey) === shared) perStore.delete(lockKey)
        })
      }
      return own
    },
  }
}
