import {
  type BatchEntry,
  batchedFind,
  type CallTrace,
  FreshKeyGuess,
  type GetOrCreateResult,
  LockInTransactionError,
  LockUnavailableError,
  type NewRowValues,
  rowOrNone,
  type Store,
  type Strategy,
} from '@getorcreate/core'
import { createManyUnderLocks } from './create-many-under-locks.js'
import { createUnderLock, type LockContext } from './create-under-lock.js'
import { DistinctNodes } from './distinct-nodes.js'
import { lockChannels, publishedErrors, publishLock } from './events.js'
import type { LockClient } from './lock/lock-client.js'
import { RedlockClient } from './lock/redlock-client.js'
import { lockKeyFor } from './lock-key.js'
import { checkedOptions, checkedSignal, type RedisLockStrategyOptions } from './options.js'
import { SingleFlight } from './single-flight.js'

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

/**
 * The Redis-lock strategy: for stores where the database cannot enforce a unique key (a partitioned table
 * whose unique index cannot cover the key, a table that already holds duplicates, a store without unique
 * indexes). Every creator of a key takes a lock on one Redis node or on a majority of N independent nodes
 * (Redlock), so exactly one of them inserts.
 *
 * 1. `store.find(key)` without a lock: a hit sends no Redis command at all; the reads of one store object
 *    made in the same turn of the event loop go as one `findMany` (`batchReads`; core's `batchedFind`).
 *    Skipped for a key this process has not met lately where the keys met for the first time mostly had no
 *    row ({@link FreshKeyGuess}: fresh keys, as in a miss storm) and `defaults` is an object: its read under
 *    the lock (step 3) finds a row that exists (a fenced store's create reads before it raises the fence, so a
 *    wrong guess writes nothing there either), and where the lock cannot be had (`LockUnavailableError`),
 *    the read without it still answers such a row.
 * 2. Take the lock `lockKeyFor(table, key)`, retrying for up to `acquireTimeoutMs`; else
 *    `LockUnavailableError`. `table` and `key` are what `store.lockIdentity(key)` answers, where the store
 *    has it (the drizzle stores do): the table as the database resolves it and the key as the database
 *    compares it, so every spelling of one key takes one lock; else `store.name` and the key as given.
 * 3. Under the lock, `store.insertIfAbsentUnderLock(key, { ...defaults, ...key })`: the fresh read and the
 *    insert in one round trip. A row found there means another caller created it; it is read back with
 *    `store.find(key, { fresh: true })`. A caller that had to wait for the lock (its holder most likely created
 *    the row), a store without `insertIfAbsentUnderLock` and a store with `checksFence: true` read first with
 *    `store.find(key, { fresh: true })`, and only on a miss call `defaults` and `store.insert(values)`; but a
 *    store that fences in the database (`insertIfAbsentFenced`) raises the fence, reads and inserts in that one
 *    call (after the fresh read only where the caller waited).
 * 4. Before each write the lock must still be held: its validity is checked locally, and confirmed on a quorum
 *    too (renewing it; `LockLostError` if not) when anything ran under the lock since the acquire (a `defaults`
 *    function, a fresh read) or less than half the TTL is left. A store with `checksFence: true` always gets a
 *    fencing token from a quorum, passed as `store.insert(values, { fence })`. The lock is extended while the
 *    create runs.
 * 5. Release the lock (compare-and-delete); after a success without making the caller wait for it, after an
 *    error before the error reaches the caller. A failed release never hides the result or the create's error.
 *
 * `getOrCreateMany` under this strategy reads every key without a lock (`store.findMany` where the store has
 * it), takes the missing keys' locks all before any write, in one sorted order (so batches cannot deadlock each
 * other), all or none within `acquireTimeoutMs` (`LockUnavailableError`, nothing written), then creates each key
 * under its lock as above.
 *
 * Callers of one key in one process (same strategy, same store object) share one lock acquisition. A store
 * bound to an open transaction (`store.inTransaction`) is refused with `LockInTransactionError`: the lock
 * would be released before that transaction commits.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis'
 * const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
 * const redis = new Redis(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 0 })
 * const strategy = redisLockStrategy({ clients: redis, ttlMs: 5_000 })
 * const { row, created } = await getOrCreate(drizzleStore(db, events), { externalId }, defaults, strategy)
 * ```
 * @throws RangeError for invalid options; LockMisconfiguredError for clients or a `keyPrefix` with which the
 * lock cannot be safe (a client that can resend a cut-off command, a client with a `keyPrefix`, one node given
 * twice, an empty `{}` in `keyPrefix`).
 */
export function redisLockStrategy(options: RedisLockStrategyOptions): RedisLockStrategy {
  const {
    clients,
    ttlMs,
    acquireTimeoutMs,
    retryIntervalMs,
    commandTimeoutMs,
    keyPrefix,
    signal,
    singleFlight,
    batchReads,
  } = checkedOptions(options)
  const client: LockClient = new RedlockClient({ clients, retryIntervalMs, commandTimeoutMs })
  const flights = singleFlight ? new SingleFlight() : undefined
  const nodes = new DistinctNodes(clients)
  const guesses = new WeakMap<object, FreshKeyGuess>()
  const resolved = {
    ttlMs,
    acquireTimeoutMs,
    commandTimeoutMs,
    keyPrefix,
    flights,
    nodes,
    guesses,
    batchReads,
  }
  return makeStrategy(client, resolved, signal ? [signal] : [])
}

/** The options of {@link redisLockStrategy} once checked, and what its `withSignal` copies share. */
interface ResolvedOptions {
  readonly ttlMs: number
  readonly acquireTimeoutMs: number
  readonly commandTimeoutMs: number
  readonly keyPrefix: string
  /** The in-process single flight; undefined when the option `singleFlight` is `false`. */
  readonly flights: SingleFlight | undefined
  readonly nodes: DistinctNodes
  /** Per store object: the keys its calls met lately ({@link FreshKeyGuess}), which tell when to skip step 1. */
  readonly guesses: WeakMap<object, FreshKeyGuess>
  /** Whether step 1's reads go through core's `batchedFind` (the option `batchReads`). */
  readonly batchReads: boolean
}

/** The strategy over `client`, whose waits for a lock end when any of `signals` aborts. */
function makeStrategy(
  client: LockClient,
  options: ResolvedOptions,
  signals: readonly AbortSignal[],
): RedisLockStrategy {
  const { ttlMs, acquireTimeoutMs, commandTimeoutMs, keyPrefix, flights, nodes, guesses, batchReads } =
    options
  const context: LockContext = { client, ttlMs, acquireTimeoutMs, signals }
  /**
   * Steps 2 to 5, once the lock-free read missed or was skipped: the lock key, the wait for a call of this
   * process that settles it, the create under the lock.
   */
  async function underLock<Row, Key, Values>(
    store: Store<Row, Key, Values>,
    key: Key,
    newRow: NewRowValues<Values>,
    trace: CallTrace | undefined,
  ): Promise<GetOrCreateResult<Row>> {
    const lockKey = await lockKeyOf(store, key, keyPrefix)
    // One budget for the whole wait: for the nodes' run_ids (the first lock only), for another call of this
    // process that settles the key, then, if it fails, for the lock itself.
    const deadline = performance.now() + acquireTimeoutMs
    await nodes.check(Math.min(commandTimeoutMs, acquireTimeoutMs))
    const timedOut = () =>
      new LockUnavailableError(
        `Could not take the lock ${lockKey} within ${acquireTimeoutMs} ms: another call in this process held ` +
          'it for this key all that time. Nothing was written; the call may be retried.',
      )
    const create = (remainingMs: number) =>
      createUnderLock({ ...context, acquireTimeoutMs: remainingMs }, store, key, newRow, lockKey, trace)
    // Without single flight the whole budget left after the nodes' check goes to this caller's own lock.
    if (!flights) return create(Math.max(1, Math.ceil(deadline - performance.now())))
    const waiting = flights.run(store, lockKey, signals, deadline, timedOut, create)
    if (!lockChannels.unavailable.hasSubscribers) return waiting
    // The wait for another call of this process can time out too: tell it as the lock's own would be.
    return waiting.catch((error: unknown) => {
      if (error instanceof LockUnavailableError && !publishedErrors.has(error)) {
        const waitMs = Math.round(acquireTimeoutMs - (deadline - performance.now()))
        publishLock(lockChannels.unavailable, () => ({
          lock: 'redis',
          lockKey,
          store: store.name,
          waitMs,
          error,
        }))
      }
      throw error
    })
  }
  return {
    name: 'redis-lock',
    withSignal(signal: AbortSignal): RedisLockStrategy {
      const checked = checkedSignal(signal, 'withSignal(signal)')
      if (checked === undefined) throw new TypeError('redisLockStrategy: withSignal needs an AbortSignal.')
      return makeStrategy(client, options, [...signals, checked])
    },
    async getOrCreate<Row, Key, Values>(
      store: Store<Row, Key, Values>,
      key: Key,
      newRow: NewRowValues<Values>,
      trace?: CallTrace,
    ): Promise<GetOrCreateResult<Row>> {
      refuseTransaction(store)
      // A key met for the first time where such keys mostly had no row lately (a miss storm) most likely has
      // none: straight to the lock, whose create reads under it anyway. Not with a `defaults` function, which
      // the create may call before it knows (and which must not run for a row that exists). A guess that
      // misses writes nothing: the create under the lock finds the row, and a fenced store's create finds it
      // before it raises the fence (`insertIfAbsentFenced`; a create that raised it for a row that exists
      // would be a write, on SQLite a turn at the one writer of the whole file: the stress run's two
      // processes on one file then starved a writer past its busy timeout).
      let guess: FreshKeyGuess | undefined
      if (newRow.lazy === false) {
        guess = guesses.get(store)
        if (guess === undefined) {
          guess = new FreshKeyGuess()
          guesses.set(store, guess)
        }
      }
      const meeting = guess?.meet(key as Record<string, unknown>)
      if (meeting === 'fresh') {
        let result: GetOrCreateResult<Row>
        try {
          result = await underLock(store, key, newRow, trace)
        } catch (error) {
          // No lock (Redis down, or held past acquireTimeoutMs), so nothing was written: a row that exists
          // needs none, as when the lock-free read comes first.
          if (!(error instanceof LockUnavailableError)) throw error
          if (trace) trace.storeCalls++
          const found = rowOrNone(await store.find(key), store, 'find')
          if (found === undefined) throw error
          guess?.count(false)
          return { row: found, created: false }
        }
        guess?.count(result.created)
        // Asking for the values marked a miss; a row found under the lock was most likely there before.
        if (trace) trace.missed = result.created
        return result
      }
      if (trace) trace.storeCalls++
      const found = rowOrNone(
        await (batchReads ? batchedFind(store, key) : store.find(key)),
        store,
        batchReads ? 'find (or findMany)' : 'find',
      )
      if (meeting === 'new') guess?.count(found === undefined)
      if (found !== undefined) return { row: found, created: false }
      if (trace) trace.missed = true
      return underLock(store, key, newRow, trace)
    },
    async getOrCreateMany<Row, Key, Values>(
      store: Store<Row, Key, Values>,
      entries: readonly BatchEntry<Key, NewRowValues<Values>>[],
    ): Promise<GetOrCreateResult<Row>[]> {
      refuseTransaction(store)
      return createManyUnderLocks(
        {
          ...context,
          commandTimeoutMs,
          lockKeyOf: (key) => lockKeyOf(store, key as Key, keyPrefix),
          checkNodes: (timeoutMs) => nodes.check(timeoutMs),
        },
        store,
        entries,
      )
    },
  }
}

/** @throws LockInTransactionError for a store bound to an open transaction, before any I/O. */
function refuseTransaction(store: Store<unknown, unknown, unknown>): void {
  if (store.inTransaction !== true) return
  throw new LockInTransactionError(
    `${store.name} is bound to an open transaction: the lock would be released before that transaction ` +
      'commits the row, and the next holder would create a second one. Nothing was written. Pass a store ' +
      'over the database itself (drizzleStore(db, table), not drizzleStore(tx, table)), or give the key a ' +
      'unique index and use the constraint strategy, which is safe inside transactions.',
  )
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
