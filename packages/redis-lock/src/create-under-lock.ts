import {
  type CallTrace,
  type GetOrCreateResult,
  type InsertOptions,
  LockLostError,
  LockUnavailableError,
  type NewRowValues,
  RowVanishedError,
  rowOrNone,
  type Store,
} from '@getorcreate/core'
import { lockChannels, publishedErrors } from './events.js'
import type { HeldLock, LockClient } from './lock/lock-client.js'
import { LockKeeper } from './lock-keeper.js'

/** What {@link createUnderLock} takes from the strategy: its lock client, its timings, the call's signals. */
export interface LockContext {
  /** Takes, confirms, fences and releases the lock. */
  readonly client: LockClient
  /** The lock's time to live, in milliseconds; it is extended every `ttlMs / 3`. */
  readonly ttlMs: number
  /** How long to try to take the lock, in milliseconds. */
  readonly acquireTimeoutMs: number
  /** End the wait for the lock (never a create that holds it). */
  readonly signals: readonly AbortSignal[]
}

/**
 * A lock this call holds, with what its creates share: the keeper that extends it, and whether a write or a
 * create has used it already (the acquire's token and its "nothing ran since" serve the first one only).
 */
export interface Holding {
  readonly lock: HeldLock
  readonly keeper: LockKeeper
  /** Whether a write took a fencing token already: the acquire's may serve the first one only. */
  fenceTaken: boolean
  /** Whether a create ran under the lock already: then no later one is quiet, and none skips its read. */
  used: boolean
}

/** Whether `store` fences in the database (`insertIfAbsentFenced`): its lock's acquire then draws a token. */
export function fencesInDatabase(store: Store<unknown, unknown, unknown>): boolean {
  return store.checksFence === true && typeof store.insertIfAbsentFenced === 'function'
}

/** `lock`, just taken, held: its keeper starts extending it. */
export function holding(client: LockClient, lock: HeldLock, ttlMs: number, storeName: string): Holding {
  return { lock, keeper: new LockKeeper(client, lock, ttlMs, storeName), fenceTaken: false, used: false }
}

/**
 * Steps 2 to 5 of the strategy, after a lock-free read missed (or was skipped for a key guessed fresh): take
 * the lock `lockKey`, read fresh and insert under it, checking before each write that it is still ours, and
 * release it.
 *
 * @param newRow - the new row's values, as `getOrCreate` hands them over: called only when a create is attempted.
 * @throws LockUnavailableError, LockLostError, the signal's reason, or the store's and `defaults`' own errors.
 */
export async function createUnderLock<Row, Key, Values>(
  context: LockContext,
  store: Store<Row, Key, Values>,
  key: Key,
  newRow: NewRowValues<Values>,
  lockKey: string,
  trace?: CallTrace,
): Promise<GetOrCreateResult<Row>> {
  const { client, ttlMs, acquireTimeoutMs, signals } = context
  // Its first write may use a token drawn by the acquire itself (one Redis round fewer); a store that only
  // has `insert` reads first, so its write is never quiet, and the acquire draws none.
  const fence = fencesInDatabase(store as Store<unknown, unknown, unknown>)
  const started = performance.now()
  let lock: HeldLock
  try {
    lock = await client.acquire(lockKey, { ttlMs, acquireTimeoutMs, signals, fence })
  } catch (error) {
    if (error instanceof LockUnavailableError && lockChannels.unavailable.hasSubscribers) {
      publishedErrors.add(error)
      const waitMs = Math.round(performance.now() - started)
      lockChannels.unavailable.publish({ lock: 'redis', lockKey, store: store.name, waitMs, error })
    }
    throw error
  } finally {
    if (trace) trace.lockWaitMs += performance.now() - started
  }
  if (lockChannels.acquired.hasSubscribers) {
    const waitMs = Math.round(performance.now() - started)
    const { attempts } = lock
    lockChannels.acquired.publish({ lock: 'redis', lockKey, store: store.name, waitMs, attempts })
  }
  const held = holding(client, lock, ttlMs, store.name)
  let succeeded = false
  try {
    const result = await createHolding(context, store, key, newRow, held, trace)
    succeeded = true
    return result
  } catch (error) {
    if (error instanceof LockLostError && lockChannels.lost.hasSubscribers) {
      lockChannels.lost.publish({ lock: 'redis', lockKey, store: store.name, error })
    }
    throw error
  } finally {
    held.keeper.stop()
    // Never throws (bounded, failures swallowed): an unreleased lock expires after ttlMs, and a failed
    // release never hides the result or the create's own error.
    const released = client.release(lock).catch(() => undefined)
    // On success the caller does not wait for the release; on an error it does, so the lock is gone by
    // the time the error reaches the caller.
    if (!succeeded) await released
  }
}

/**
 * Steps 3 and 4 under a lock already held (`held`, which the caller releases): read fresh and insert,
 * checking before each write that the lock is still ours. A lock may serve several creates, one after the
 * other (keys the database treats as equal share one lock); only the first may skip its read or its check.
 */
export async function createHolding<Row, Key, Values>(
  context: Pick<LockContext, 'client' | 'ttlMs'>,
  store: Store<Row, Key, Values>,
  key: Key,
  newRow: NewRowValues<Values>,
  held: Holding,
  trace?: CallTrace,
): Promise<GetOrCreateResult<Row>> {
  const { client, ttlMs } = context
  const { lock, keeper } = held
  const lockKey = lock.key
  const fenced = store.checksFence === true
  const fencedInDatabase = fencesInDatabase(store as Store<unknown, unknown, unknown>)
  // Nobody held the lock when it was taken, and no create used it since: the row most likely does not exist.
  const firstOwner = lock.attempts === 1 && !held.used
  held.used = true
  /**
   * Right before a write: the lock must still be ours. Locally (`keeper.assertHeld`: no extension found it
   * lost, its validity has not run out) always; on a quorum too (the confirmation, which also renews the TTL,
   * or the fencing token for a store that checks one), unless `quiet`: nothing has run since the acquire,
   * which checked the same quorum an instant ago, and at least half the TTL is left for the write. For a store
   * that checks fences, a quiet first write uses the acquire's token with no round of its own (on N nodes the
   * release raises the counters to it); every other write takes a new one. Returns the write's options.
   */
  const beforeWrite = async (quiet: boolean): Promise<InsertOptions | undefined> => {
    keeper.assertHeld()
    const fresh = quiet && lock.validUntil - performance.now() >= ttlMs / 2
    if (fenced) {
      // The store refuses a write with an older token: take one (confirms ownership on a quorum too, but for
      // the acquire's own, which the acquire confirmed an instant ago).
      const useAcquired = fresh && !held.fenceTaken && lock.fence !== undefined
      held.fenceTaken = true
      const fence = useAcquired ? await client.holdFence(lock, ttlMs) : await client.fence(lock, ttlMs)
      keeper.assertHeld()
      return { fence, lockKey }
    }
    if (fresh) return undefined
    // A token nobody checks protects nothing: skip the counter (and its second round on N nodes), but still
    // confirm on a quorum, in one round, that the lock was neither deleted nor taken meanwhile.
    await client.confirm(lock, ttlMs)
    keeper.assertHeld()
    return undefined
  }
  /**
   * `store.insert` after a store call under the lock, with the fence (if any) and the key, so that a store
   * can check that the row it stores still has the key (a trigger may rewrite it: `KeyRewrittenError`).
   */
  const insert = async (values: Values): Promise<Row> => {
    const opts = await beforeWrite(false)
    if (trace) trace.storeCalls++
    const row = await store.insert(values, { ...opts, key })
    if (row === undefined || row === null) {
      throw new TypeError(
        `Store ${store.name}: insert answered ${row}. An insert answers the row it stored (nothing to tell ` +
          'apart: it is unconditional).',
      )
    }
    return row
  }
  /** `store.find(key, { fresh: true })`, counted. */
  const findFresh = async (): Promise<Row | undefined> => {
    if (trace) trace.storeCalls++
    return rowOrNone(await store.find(key, { fresh: true }), store, 'find')
  }
  if (fencedInDatabase) return fencedCreate(store, key, newRow, firstOwner, beforeWrite, findFresh, trace)
  // `insertUnlessFound`: the name before 0.3, honoured until 0.4.
  const insertUnderLock = store.insertIfAbsentUnderLock ?? store.insertUnlessFound
  if (typeof insertUnderLock === 'function' && store.checksFence !== true && firstOwner) {
    // Nobody held the lock: the row most likely does not exist, so the fresh read and the insert go in one
    // statement. A row found there (another process created it between our lock-free read and our lock)
    // is read back; if it is gone by then, we still hold the lock: create it. A caller that had to wait
    // for the lock reads first instead: the holder most likely created the row, and `defaults` (maybe an
    // expensive function) is then not called at all. A store that checks fencing tokens gets its token with
    // `insert`, which insertIfAbsentUnderLock does not take.
    // A `defaults` function is user code, which may take its time: confirm the lock after it. Anything but an
    // explicit `false` (a caller that bypassed getOrCreate) counts as such.
    const lazy = newRow.lazy !== false
    const values = await newRow()
    await beforeWrite(!lazy)
    if (trace) {
      trace.attempts++
      trace.storeCalls++
    }
    const inserted = rowOrNone(
      await insertUnderLock.call(store, key, values),
      store,
      'insertIfAbsentUnderLock',
    )
    if (inserted !== undefined) return { row: inserted, created: true }
    const winner = await findFresh()
    if (winner !== undefined) return { row: winner, created: false }
    return { row: await insert(values), created: true }
  }
  const winner = await findFresh()
  if (winner !== undefined) return { row: winner, created: false }
  if (trace) trace.attempts++
  return { row: await insert(await newRow()), created: true }
}

/**
 * The create on a store that fences in the database (`insertIfAbsentFenced`): its read under the fence
 * decides, so no second statement is needed when it finds the row; a caller that waited for the lock reads
 * first, so that `defaults` is not called when the holder created the row. Each write takes a new token.
 */
async function fencedCreate<Row, Key, Values>(
  store: Store<Row, Key, Values>,
  key: Key,
  newRow: NewRowValues<Values>,
  firstAttempt: boolean,
  beforeWrite: (quiet: boolean) => Promise<InsertOptions | undefined>,
  findFresh: () => Promise<Row | undefined>,
  trace: CallTrace | undefined,
): Promise<GetOrCreateResult<Row>> {
  const insertFenced = store.insertIfAbsentFenced as NonNullable<typeof store.insertIfAbsentFenced>
  if (!firstAttempt) {
    const winner = await findFresh()
    if (winner !== undefined) return { row: winner, created: false }
  }
  const values = await newRow()
  // Quiet: nothing ran since the acquire (no read, no `defaults` function; see beforeWrite).
  const quiet = firstAttempt && newRow.lazy === false
  // A row found under the fence was committed by an earlier owner; if it is gone by the time it is read
  // back, create again (still ours: each write is fenced anew).
  for (let attempt = 1; ; attempt++) {
    const { fence, lockKey } = (await beforeWrite(quiet && attempt === 1)) as Required<InsertOptions>
    if (trace) {
      trace.attempts++
      trace.storeCalls++
    }
    const inserted = rowOrNone(
      await insertFenced.call(store, key, values, { token: fence, lockKey }),
      store,
      'insertIfAbsentFenced',
    )
    if (inserted !== undefined) return { row: inserted, created: true }
    const winner = await findFresh()
    if (winner !== undefined || attempt >= 3) {
      if (winner !== undefined) return { row: winner, created: false }
      throw new RowVanishedError(
        `A row for this key of ${store.name} was found under the fence but deleted before it could be read, ` +
          `${attempt} times. Something deletes rows as fast as they are created; the call may be retried.`,
      )
    }
  }
}
