/**
 * The lock as the strategy sees it. The strategy speaks only to this interface; `redlock-client.ts` is the
 * one implementation (Redlock over ioredis, our own Lua), so the lock library can be replaced without
 * touching the strategy.
 */

/** A lock held by this process: its key, its owner token, and how long it is surely still ours. */
export interface HeldLock {
  /** The lock key in Redis. */
  readonly key: string
  /** This owner's random token: the value stored under the key on every node that granted it. */
  readonly token: string
  /**
   * Until when the lock is held on a quorum of nodes, on the monotonic clock (`performance.now()`, so a
   * wall-clock jump cannot stretch it), after subtracting the time the last acquire / extend took and an
   * allowance for clock drift. Moved forward by extend and fence.
   */
  validUntil: number
  /**
   * How many attempts the acquire made: more than one means another owner held the lock when this caller
   * first asked, so it most likely created the row meanwhile.
   */
  readonly attempts: number
  /**
   * With `fence: true` to the acquire: the fencing token it drew, the largest of the granting nodes' draws.
   * On N > 1 nodes it may sit on one node only until {@link LockClient.release} raises the counters where the
   * lock is this owner's; see {@link LockClient.holdFence} for why it still exceeds every earlier owner's.
   */
  readonly fence?: number
}

/** What {@link LockClient.extend} found. */
export type ExtendOutcome =
  /** A quorum renewed the TTL: `validUntil` moved forward. */
  | 'extended'
  /** So many nodes no longer hold this token that a quorum is impossible: the lock is gone. */
  | 'lost'
  /** Too few nodes answered to tell (timeouts, connection errors); `validUntil` is unchanged. */
  | 'unknown'

/** Options of {@link LockClient.acquire}. */
export interface AcquireOptions {
  /** The lock's time to live, in milliseconds. */
  readonly ttlMs: number
  /** How long to keep trying, in milliseconds. */
  readonly acquireTimeoutMs: number
  /** Abort the wait: the promise rejects with the signal's reason, and whatever was taken is given back. */
  readonly signals: readonly AbortSignal[]
  /**
   * Also draw a fencing token on every node that grants the lock, in the same script (`HeldLock.fence`): for a
   * store that checks fences, so that its first write needs no round of its own on one node.
   */
  readonly fence?: boolean
}

/** Acquire, extend, confirm, fence and release locks on one or several Redis nodes. */
export interface LockClient {
  /**
   * Take the lock, retrying until `acquireTimeoutMs` has passed.
   *
   * @throws LockUnavailableError when it could not (held by another owner, nodes down, no quorum).
   */
  acquire(key: string, options: AcquireOptions): Promise<HeldLock>
  /** Renew the lock's TTL to `ttlMs` where this owner still holds it. Never throws. */
  extend(lock: HeldLock, ttlMs: number): Promise<ExtendOutcome>
  /**
   * Confirm the lock is still held on a quorum and renew it to `ttlMs`, in one round: the check before a write
   * to a store that does not check fencing tokens.
   *
   * @throws LockLostError when ownership cannot be confirmed on a quorum.
   */
  confirm(lock: HeldLock, ttlMs: number): Promise<void>
  /**
   * Confirm the lock is still held on a quorum, renew it to `ttlMs`, and take a fencing token: an integer
   * (at most 2^53 - 1) larger than every token an earlier owner of the key was handed, held by a quorum
   * before it is returned, and at least the answering nodes' clock in microseconds, so that it keeps growing
   * when nodes restart empty.
   *
   * @throws LockLostError when ownership cannot be confirmed on a quorum.
   */
  fence(lock: HeldLock, ttlMs: number): Promise<number>
  /**
   * The token the acquire drew (`lock.fence`), for the first write after the acquire only, while nothing else
   * has run and at least half the TTL is left: larger than every earlier owner's token, as
   * {@link LockClient.fence}'s would be (on N > 1 nodes given the clocks' assumption after a lock that expired
   * instead of being released: see "Fencing tokens" in the README). Sends nothing; every later write takes a
   * new token with `fence`.
   *
   * @throws TypeError without `lock.fence`.
   */
  holdFence(lock: HeldLock, ttlMs: number): Promise<number>
  /**
   * Give the lock back on every node (compare-and-delete); for a lock acquired with a fence on N > 1 nodes,
   * first raise the key's counter to `lock.fence` there, in the same script. Never throws; bounded in time.
   */
  release(lock: HeldLock): Promise<void>
}
