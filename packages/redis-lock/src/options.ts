import { checkClients, checkedKeyPrefix } from './client-checks.js'
import { DEFAULT_KEY_PREFIX } from './lock-key.js'
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
   * `commandTimeoutMs`, so a dead node fails fast whatever the client's settings. Refused with
   * `LockMisconfiguredError`: a `Redis` client that can resend a command cut off by a dropped connection once
   * it reconnects (create it with `maxRetriesPerRequest: 0`, or `autoResendUnfulfilledCommands: false`;
   * `enableOfflineQueue: false` is recommended too), a client with a `keyPrefix` of its own, one client given
   * twice, two clients of one `host:port`, and (checked once, at the first lock) two clients whose nodes
   * answer one `run_id`.
   */
  readonly clients: RedisClientLike | readonly RedisClientLike[]
  /**
   * How long a lock lives without being extended, in milliseconds: how long callers wait for the lock of a
   * crashed holder. While a create runs the lock is extended every `ttlMs / 3`. At least `30`, at most
   * Node's longest timer (2^31 − 1). Default is `10_000`.
   */
  readonly ttlMs?: number
  /**
   * How long a caller keeps trying to take the lock before it gives up with `LockUnavailableError`, in
   * milliseconds, all told: a caller that first waits for another call of this process on the same key (the
   * in-process single flight) and then, that call having failed, takes the lock itself, gets this much time
   * for both together. Default is `10_000`.
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
   * that command. Less than `ttlMs`: a command allowed the whole TTL can answer after the lock it took or
   * renewed has expired. Default is `1_000`, or `ttlMs / 3` when that is less.
   */
  readonly commandTimeoutMs?: number
  /**
   * Prefix of every lock key (see {@link lockKeyFor}). An empty `{}` in it is refused
   * (`LockMisconfiguredError`): Redis Cluster would put a lock and its fencing counter in different slots.
   * Default is `'getorcreate:lock:'`.
   */
  readonly keyPrefix?: string
  /**
   * Aborts every wait for a lock of this strategy: the call rejects at once with `signal.reason`. It bounds
   * only the wait; a create that holds the lock runs to its end. For one call, see
   * {@link RedisLockStrategy.withSignal}. Default is none.
   */
  readonly signal?: AbortSignal
  /**
   * Share one lock acquisition among this process's concurrent callers of one key (the same strategy object
   * and store object): while one of them holds or waits for the lock, the others that missed wait for its row
   * instead of queueing on Redis one by one; if it fails, each of them tries on its own, within what is left of
   * its `acquireTimeoutMs`. Default is `true`; `false` makes every caller take the lock itself (as race tests
   * do, so that Redis settles the race).
   */
  readonly singleFlight?: boolean
  /**
   * Send the lock-free reads of step 1 that one store object is asked for in the same turn of the event loop
   * together, as one `store.findMany` where the store has it (core's `batchedFind`): a hit costs a share of
   * one statement when many calls read at once. Default is `true`; `false` sends one `find` per call.
   */
  readonly batchReads?: boolean
}

function positiveInteger(name: string, value: number | undefined, fallback: number, min = 1): number {
  const chosen = value ?? fallback
  if (!Number.isInteger(chosen) || chosen < min || chosen > MAX_TIMER_MS) {
    throw new RangeError(
      `redisLockStrategy: ${name} must be a whole number of milliseconds from ${min} to ${MAX_TIMER_MS} ` +
        `(the longest timer Node runs), got ${String(value)}.`,
    )
  }
  return chosen
}

/** The longest delay `setTimeout` honours (2^31 − 1 ms, about 24.8 days); a longer one fires at once. */
const MAX_TIMER_MS = 2_147_483_647

/**
 * The shortest `ttlMs`: below it the allowance for clock drift (1 % + 2 ms) and the extension every `ttlMs /
 * 3` leave a lock that expires before it can be used.
 */
const MIN_TTL_MS = 30

/** `signal` if it is an AbortSignal (or absent); else a TypeError that says what was given. */
export function checkedSignal(signal: unknown, where: string): AbortSignal | undefined {
  if (signal === undefined || signal instanceof AbortSignal) return signal
  throw new TypeError(`redisLockStrategy: ${where} must be an AbortSignal, got ${typeof signal}.`)
}

/** {@link RedisLockStrategyOptions} checked, with their defaults. */
export interface CheckedOptions {
  readonly clients: RedisClientLike[]
  readonly ttlMs: number
  readonly acquireTimeoutMs: number
  readonly retryIntervalMs: number
  readonly commandTimeoutMs: number
  readonly keyPrefix: string
  readonly signal: AbortSignal | undefined
  readonly singleFlight: boolean
  readonly batchReads: boolean
}

/**
 * The options, checked: each timing a whole number within Node's timers, the ones that cannot work together
 * refused.
 *
 * @throws RangeError for invalid options; TypeError for a `signal` that is not an AbortSignal;
 * LockMisconfiguredError for clients or a `keyPrefix` with which the lock cannot be safe.
 */
export function checkedOptions(options: RedisLockStrategyOptions): CheckedOptions {
  const clients = Array.isArray(options.clients) ? [...options.clients] : [options.clients as RedisClientLike]
  if (
    clients.length === 0 ||
    clients.some((client) => typeof client?.eval !== 'function' || typeof client.evalsha !== 'function')
  ) {
    throw new RangeError('redisLockStrategy: clients must be an ioredis client or a non-empty array of them.')
  }
  checkClients(clients)
  const ttlMs = positiveInteger('ttlMs', options.ttlMs, 10_000, MIN_TTL_MS)
  const acquireTimeoutMs = positiveInteger('acquireTimeoutMs', options.acquireTimeoutMs, 10_000)
  const retryIntervalMs = positiveInteger('retryIntervalMs', options.retryIntervalMs, 50)
  const commandTimeoutMs = positiveInteger(
    'commandTimeoutMs',
    options.commandTimeoutMs,
    Math.min(1_000, Math.floor(ttlMs / 3)),
  )
  if (commandTimeoutMs >= ttlMs) {
    throw new RangeError(
      `redisLockStrategy: commandTimeoutMs (${commandTimeoutMs}) must be less than ttlMs (${ttlMs}): a lock ` +
        'command allowed to take the whole TTL can answer after the lock it took or renewed has expired.',
    )
  }
  const keyPrefix = checkedKeyPrefix(options.keyPrefix, DEFAULT_KEY_PREFIX)
  const signal = checkedSignal(options.signal, 'signal')
  const singleFlight = options.singleFlight ?? true
  if (typeof singleFlight !== 'boolean') {
    throw new TypeError(`redisLockStrategy: singleFlight must be a boolean, got ${typeof singleFlight}.`)
  }
  const batchReads = options.batchReads === undefined ? true : options.batchReads
  if (typeof batchReads !== 'boolean') {
    throw new TypeError(`redisLockStrategy: batchReads must be a boolean, got ${typeof batchReads}.`)
  }
  return {
    clients,
    ttlMs,
    acquireTimeoutMs,
    retryIntervalMs,
    commandTimeoutMs,
    keyPrefix,
    signal,
    singleFlight,
    batchReads,
  }
}
