import {
  type BatchEntry,
  boundedEach,
  byKeyShape,
  GET_OR_CREATE_MANY_CONCURRENCY,
  type GetOrCreateResult,
  LockUnavailableError,
  type NewRowValues,
  rowOrNone,
  type Store,
} from '@getorcreate/core'
import {
  createHolding,
  fencesInDatabase,
  type Holding,
  holding,
  type LockContext,
} from './create-under-lock.js'
import { lockChannels, publishLock } from './events.js'

/** What the batch needs of the strategy besides {@link LockContext}. */
export interface ManyContext extends LockContext {
  /** The lock key of a key, as the strategy's `getOrCreate` takes it. */
  readonly lockKeyOf: (key: unknown) => Promise<string>
  /** Checks that the strategy's nodes are distinct (once per strategy), within `timeoutMs`. */
  readonly checkNodes: (timeoutMs: number) => Promise<void>
  /** The strategy's bound on one Redis command, in milliseconds. */
  readonly commandTimeoutMs: number
}

/**
 * The strategy's `getOrCreateMany`, for distinct keys (as `encodeKey` encodes them):
 *
 * 1. Every key read without a lock: `store.findMany` (one statement per key shape) where the store has it,
 *    else `store.find`, {@link GET_OR_CREATE_MANY_CONCURRENCY} at a time. Hits send no Redis command.
 * 2. The missing keys' locks taken all at once, in one order for every caller (sorted lock keys), so that two
 *    batches, or a batch and single calls, cannot deadlock: every lock is tried at once; where one is held by
 *    another owner, the locks after it in that order are given back, the caller waits for that one (it holds
 *    only locks that come before it), then tries the rest again. Keys the database treats as equal share one
 *    lock. One budget, `acquireTimeoutMs`, for all of them: when it runs out the call rejects with
 *    `LockUnavailableError`, having given back every lock it took and written nothing.
 * 3. Under the locks, each key created as `getOrCreate` creates it (a fresh read and the insert, a fencing token
 *    where the store checks one), {@link GET_OR_CREATE_MANY_CONCURRENCY} keys at a time; keys that share a lock
 *    one after the other, so that the second finds the first's row.
 * 4. Every lock released; after a success without making the caller wait, after an error before it is thrown.
 */
export async function createManyUnderLocks<Row, Key, Values>(
  context: ManyContext,
  store: Store<Row, Key, Values>,
  entries: readonly BatchEntry<Key, NewRowValues<Values>>[],
): Promise<GetOrCreateResult<Row>[]> {
  const results: GetOrCreateResult<Row>[] = new Array(entries.length)
  const found = await findAll(
    store,
    entries.map((entry) => entry.key),
  )
  const missing: number[] = []
  found.forEach((answered, i) => {
    const row = rowOrNone(answered, store, 'find (or findMany)')
    if (row === undefined) missing.push(i)
    else results[i] = { row, created: false }
  })
  if (missing.length === 0) return results

  const lockKeys = await Promise.all(
    missing.map((i) => context.lockKeyOf((entries[i] as BatchEntry<Key, unknown>).key)),
  )
  /** Per lock key, the entries it serves, in input order. */
  const served = new Map<string, number[]>()
  missing.forEach((i, j) => {
    const lockKey = lockKeys[j] as string
    const same = served.get(lockKey)
    if (same) same.push(i)
    else served.set(lockKey, [i])
  })
  const ordered = [...served.keys()].sort()
  const deadline = performance.now() + context.acquireTimeoutMs
  await context.checkNodes(Math.min(context.commandTimeoutMs, context.acquireTimeoutMs))
  const held = await acquireAll(
    context,
    ordered,
    deadline,
    fencesInDatabase(store as Store<unknown, unknown, unknown>),
    store.name,
  )
  let succeeded = false
  try {
    await boundedEach(ordered, GET_OR_CREATE_MANY_CONCURRENCY, async (lockKey) => {
      const lock = held.get(lockKey) as Holding
      for (const i of served.get(lockKey) as number[]) {
        const entry = entries[i] as BatchEntry<Key, NewRowValues<Values>>
        results[i] = await createHolding(context, store, entry.key, entry.values, lock)
      }
    })
    succeeded = true
    return results
  } finally {
    const released = releaseAll(context, held.values())
    if (!succeeded) await released
  }
}

/** Each key's row read without a lock: `findMany` per key shape where the store has it, else `find`. */
async function findAll<Row, Key, Values>(
  store: Store<Row, Key, Values>,
  keys: readonly Key[],
): Promise<(Row | undefined)[]> {
  const found: (Row | undefined)[] = new Array(keys.length).fill(undefined)
  const { findMany } = store
  if (typeof findMany !== 'function') {
    await boundedEach([...keys.keys()], GET_OR_CREATE_MANY_CONCURRENCY, async (i) => {
      found[i] = await store.find(keys[i] as Key)
    })
    return found
  }
  // `findMany` takes keys of one shape (the same fields).
  for (const indexes of byKeyShape(keys)) {
    const rows = await findMany.call(
      store,
      indexes.map((i) => keys[i] as Key),
    )
    if (!Array.isArray(rows) || rows.length !== indexes.length) {
      throw new TypeError(
        `redisLockStrategy: ${store.name}'s findMany answered ${Array.isArray(rows) ? rows.length : typeof rows} rows for ${indexes.length} keys.`,
      )
    }
    indexes.forEach((i, j) => {
      found[i] = rows[j]
    })
  }
  return found
}

/**
 * The locks `ordered` (sorted), all held on return, each with its keeper started as soon as it was taken.
 * Deadlock-free: the only wait is for the first lock of `ordered` not yet held, while holding only locks before
 * it. On any failure every lock taken is given back before the error is thrown.
 *
 * @throws LockUnavailableError when the locks could not all be taken by `deadline`; the signal's reason.
 */
async function acquireAll(
  context: ManyContext,
  ordered: readonly string[],
  deadline: number,
  fence: boolean,
  storeName: string,
): Promise<Map<string, Holding>> {
  const { client, ttlMs, signals } = context
  const held = new Map<string, Holding>()
  const take = (lockKey: string, acquireTimeoutMs: number) => {
    const started = performance.now()
    return client.acquire(lockKey, { ttlMs, acquireTimeoutMs, signals, fence }).then((lock) => {
      held.set(lockKey, holding(client, lock, ttlMs, storeName))
      publishLock(lockChannels.acquired, () => ({
        lock: 'redis',
        lockKey,
        store: storeName,
        waitMs: Math.round(performance.now() - started),
        attempts: lock.attempts,
      }))
    })
  }
  try {
    let from = 0
    while (from < ordered.length) {
      // Every lock not yet held, tried once, at once.
      const tries = await Promise.allSettled(ordered.slice(from).map((lockKey) => take(lockKey, 0)))
      const failed = tries.findIndex((attempt) => attempt.status === 'rejected')
      if (failed === -1) return held
      const other = tries.find(
        (attempt) => attempt.status === 'rejected' && !(attempt.reason instanceof LockUnavailableError),
      ) as PromiseRejectedResult | undefined
      if (other) throw other.reason
      // Keep only the locks before the first one held elsewhere, and wait for that one.
      const waitFor = from + failed
      const after = ordered.slice(waitFor + 1).flatMap((lockKey) => {
        const lock = held.get(lockKey)
        held.delete(lockKey)
        return lock ? [lock] : []
      })
      void releaseAll(context, after)
      const remainingMs = Math.ceil(deadline - performance.now())
      const lockKey = ordered[waitFor] as string
      if (remainingMs <= 0) {
        const { reason } = tries[failed] as PromiseRejectedResult
        throw unavailable(context, ordered.length, held.size, reason as LockUnavailableError)
      }
      try {
        await take(lockKey, remainingMs)
      } catch (error) {
        if (error instanceof LockUnavailableError)
          throw unavailable(context, ordered.length, held.size, error)
        throw error
      }
      from = waitFor + 1
    }
    return held
  } catch (error) {
    await releaseAll(context, held.values())
    held.clear()
    throw error
  }
}

/** The batch's `LockUnavailableError`: how many of its locks it had, and the lock it could not take. */
function unavailable(
  context: ManyContext,
  total: number,
  taken: number,
  cause: LockUnavailableError,
): LockUnavailableError {
  return new LockUnavailableError(
    `getOrCreateMany could not take all ${total} locks of its missing keys within ${context.acquireTimeoutMs} ms ` +
      `(${taken} taken, all given back): ${cause.message}`,
    { cause },
  )
}

/** Stop keeping and give back every lock of `locks`; never throws. */
function releaseAll(context: Pick<LockContext, 'client'>, locks: Iterable<Holding>): Promise<void> {
  const releases: Promise<void>[] = []
  for (const { lock, keeper } of locks) {
    keeper.stop()
    releases.push(context.client.release(lock).catch(() => undefined))
  }
  return Promise.all(releases).then(() => undefined)
}
