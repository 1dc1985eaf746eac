import { LockLostError, type LockNodeFailedEvent, LockUnavailableError } from '@getorcreate/core'
import { lockChannels } from '../events.js'
import type { RedisClientLike } from '../redis-client.js'
import { abortable, abortReason, sleep } from './bounded.js'
import { driftMs, FENCE_TTL_MS, fenceKeys } from './fence-counter.js'
import type { AcquireOptions, ExtendOutcome, HeldLock, LockClient } from './lock-client.js'
import { LockNode, labelOf } from './lock-node.js'
import { newToken } from './owner-token.js'
import {
  ACQUIRE_FENCED_SCRIPT,
  ACQUIRE_SCRIPT,
  EXTEND_SCRIPT,
  FENCE_SCRIPT,
  type LuaScript,
  RELEASE_FENCED_SCRIPT,
  RELEASE_SCRIPT,
} from './scripts.js'
import { causeOf, describeErrors, type Tally, tally } from './tally.js'

/** Options of {@link RedlockClient}. */
export interface RedlockClientOptions {
  /** The independent Redis nodes: one, or N ≥ 3 for a majority quorum. */
  readonly clients: readonly RedisClientLike[]
  /** Base wait between acquire attempts, in milliseconds; each wait is jittered to 50–150 % of it. */
  readonly retryIntervalMs: number
  /** Bound of every lock command on every node, in milliseconds. */
  readonly commandTimeoutMs: number
}

/**
 * Redlock (antirez, "Distributed locks with Redis") in our own Lua over ioredis: `SET NX PX` with a random
 * token on every node, a majority quorum `floor(N / 2) + 1`, a validity time that subtracts the acquisition
 * time and the clock drift, partial acquisitions given back at once, jittered retries. Every attempt has a
 * token of its own, so a give-back that arrives late can never delete a lock a later attempt took.
 */
export class RedlockClient implements LockClient {
  readonly #nodes: readonly LockNode[]
  readonly #quorum: number
  readonly #retryIntervalMs: number
  readonly #commandTimeoutMs: number

  constructor(options: RedlockClientOptions) {
    const total = options.clients.length
    this.#nodes = options.clients.map((client, index) => new LockNode(client, labelOf(client, index, total)))
    this.#quorum = Math.floor(total / 2) + 1
    this.#retryIntervalMs = options.retryIntervalMs
    this.#commandTimeoutMs = options.commandTimeoutMs
  }

  /** Run one script on every node at once, each bounded by `timeoutMs`. */
  async #everywhere(
    operation: LockNodeFailedEvent['operation'],
    script: LuaScript,
    keys: readonly string[],
    args: readonly (string | number)[],
    timeoutMs: number,
  ) {
    const results = await Promise.allSettled(
      this.#nodes.map((node) => node.run(script, keys, args, timeoutMs)),
    )
    const counted = tally(this.#nodes, results)
    if (counted.errors.length > 0 && lockChannels.nodeFailed.hasSubscribers) {
      const lockKey = keys[0] as string
      for (const { node, error } of counted.errors) {
        lockChannels.nodeFailed.publish({ lock: 'redis', node, operation, lockKey, error })
      }
    }
    return counted
  }

  async acquire(key: string, options: AcquireOptions): Promise<HeldLock> {
    const { signals } = options
    const early = abortReason(signals)
    if (early) throw early.reason
    const attempts = this.#acquireLoop(key, options)
    if (signals.length > 0) {
      // A lock that arrives after an abort has no caller left to release it: give it back. This reaction is
      // registered before abortable's, so both run in the same turn and agree on whether the wait was aborted.
      void attempts.then(
        (lock) => {
          if (abortReason(signals)) void this.release(lock)
        },
        () => undefined,
      )
    }
    return abortable(attempts, signals)
  }

  async #acquireLoop(key: string, options: AcquireOptions): Promise<HeldLock> {
    const { ttlMs, acquireTimeoutMs, signals } = options
    const total = this.#nodes.length
    const fenced = options.fence === true
    const script = fenced ? ACQUIRE_FENCED_SCRIPT : ACQUIRE_SCRIPT
    const keys = fenced ? fenceKeys(key) : [key]
    const deadline = performance.now() + acquireTimeoutMs
    let attempts = 0
    for (;;) {
      attempts++
      // A new token per attempt: the give-back of a failed attempt is not awaited, and an EVALSHA that meets
      // NOSCRIPT is resent as EVAL one round trip later, so it can reach a node after the next attempt's
      // acquire. With the old token it would delete the lock that attempt just took.
      const token = newToken()
      const start = performance.now()
      // Bounded by the deadline, but never so short that a healthy node could not answer in time: a last
      // attempt may overrun acquireTimeoutMs by at most 100 ms.
      const floorMs = Math.min(this.#commandTimeoutMs, 100)
      const timeoutMs = Math.min(this.#commandTimeoutMs, Math.max(floorMs, deadline - start))
      const args = fenced ? [token, ttlMs, FENCE_TTL_MS] : [token, ttlMs]
      const { replies, errors } = await this.#everywhere('acquire', script, keys, args, timeoutMs)
      // A granting node answers 1, or with `fence` the token it drew (>= 1); a node held by another owner 0.
      const draws = replies.filter((reply) => reply >= 1)
      const granted = draws.length
      const held = replies.filter((reply) => reply === 0).length
      const validUntil = start + ttlMs - driftMs(ttlMs)
      if (granted >= this.#quorum && validUntil > performance.now()) {
        // The granting quorum overlaps the quorum that held each earlier owner's token (see `holdFence`).
        return fenced
          ? { key, token, validUntil, attempts, fence: Math.max(...draws) }
          : { key, token, validUntil, attempts }
      }

      // Give back what this attempt took, on every node: a node that timed out may still run the SET later,
      // and its connection runs our release after it. Not awaited: if it lands after the next attempt's
      // acquire (a NOSCRIPT resend), that attempt's own token is untouched and it only finds this leftover.
      if (granted > 0 || errors.length > 0) void this.release({ key, token, validUntil: 0, attempts })

      const now = performance.now()
      const remaining = deadline - now
      if (remaining <= 0 || abortReason(signals)) {
        const aborted = abortReason(signals)
        if (aborted) throw aborted.reason
        let why: string
        if (errors.length === total) {
          why = `Redis is down or unreachable: no node answered (${describeErrors(errors)})`
        } else if (granted >= this.#quorum) {
          why = `acquiring took longer than the lock's TTL of ${ttlMs} ms`
        } else if (errors.length === 0 && held > 0 && total === 1) {
          why = 'another caller held it for the whole wait'
        } else if (errors.length === 0) {
          why = `another caller held it for the whole wait (${held} of ${total} nodes held by another owner)`
        } else {
          why =
            `no quorum: the last attempt got ${granted} of ${total} nodes (needs ${this.#quorum}), ` +
            `${held} held by another owner, ${errors.length} did not answer (${describeErrors(errors)})`
        }
        throw new LockUnavailableError(
          `Could not take the lock ${key} within ${acquireTimeoutMs} ms (${attempts} attempts): ${why}. ` +
            'Nothing was written; the call may be retried.',
          causeOf(errors),
        )
      }
      const jittered = this.#retryIntervalMs * (0.5 + Math.random())
      await sleep(Math.min(remaining, jittered), signals)
    }
  }

  async extend(lock: HeldLock, ttlMs: number): Promise<ExtendOutcome> {
    const start = performance.now()
    const { replies } = await this.#everywhere(
      'extend',
      EXTEND_SCRIPT,
      [lock.key],
      [lock.token, ttlMs],
      this.#commandTimeoutMs,
    )
    const extended = replies.filter((reply) => reply === 1).length
    const notOurs = replies.filter((reply) => reply === 0).length
    if (extended >= this.#quorum) {
      lock.validUntil = Math.max(lock.validUntil, start + ttlMs - driftMs(ttlMs))
      return 'extended'
    }
    return notOurs > this.#nodes.length - this.#quorum ? 'lost' : 'unknown'
  }

  async confirm(lock: HeldLock, ttlMs: number): Promise<void> {
    const start = performance.now()
    const { replies, errors } = await this.#everywhere(
      'confirm',
      EXTEND_SCRIPT,
      [lock.key],
      [lock.token, ttlMs],
      this.#commandTimeoutMs,
    )
    const confirmed = replies.filter((reply) => reply === 1).length
    if (confirmed < this.#quorum) {
      throw this.#lostError(lock, confirmed, replies.filter((reply) => reply === 0).length, errors)
    }
    lock.validUntil = Math.max(lock.validUntil, start + ttlMs - driftMs(ttlMs))
  }

  async fence(lock: HeldLock, ttlMs: number): Promise<number> {
    const start = performance.now()
    const keys = fenceKeys(lock.key)
    // Round 1, on every node that holds our token: take max(counter + 1, node clock in µs). A quorum must
    // answer: it overlaps the quorum that holds every earlier token, so the largest reply exceeds them all.
    const token = Math.max(...(await this.#fenceRound(lock, keys, ttlMs, 1, 0)))
    if (this.#nodes.length > 1) {
      // Round 2: raise a quorum's counters to the token, so that any later owner's round-1 quorum, which
      // overlaps this one, draws a larger one. The token stays round 1's maximum: a larger round-2 reply (a
      // node that missed round 1, ahead of the others) may sit on that node alone, and a later owner whose
      // quorum leaves it out would draw a smaller token.
      await this.#fenceRound(lock, keys, ttlMs, 0, token)
    }
    lock.validUntil = Math.max(lock.validUntil, start + ttlMs - driftMs(ttlMs))
    return token
  }

  async holdFence(lock: HeldLock, _ttlMs: number): Promise<number> {
    const token = lock.fence
    if (token === undefined)
      throw new TypeError(`holdFence: the lock ${lock.key} was not acquired with a fence.`)
    // Why the acquire's token exceeds every earlier owner's. On one node: that node drew it after the earlier
    // owner's lock was gone there, so after every raise of that owner, from max(counter + 1, its clock).
    // On N > 1 nodes the token is the largest of the granting quorum's draws, and may sit on one node alone.
    // An earlier owner E's token was held (>=) by the nodes where E released its lock (`release` raises the
    // counter to it in the script that deletes the lock) and by a quorum if E took it with `fence`. Our
    // granting quorum shares a node Y with E's, and our SET NX succeeded on Y only once E's lock was gone
    // there: released (Y's counter >= E's token, so Y drew more), or expired, at least a TTL after E drew its
    // token, so Y drew at least its clock, a TTL past E's draws (the clocks' assumption in "Fencing tokens"
    // in the README). No round is sent: the caller writes only while the acquire is recent (half the TTL
    // left, nothing run since), as an unfenced quiet write does.
    return token
  }

  async #fenceRound(
    lock: HeldLock,
    keys: readonly string[],
    ttlMs: number,
    increment: number,
    floor: number,
  ) {
    const args = [lock.token, ttlMs, increment, floor, FENCE_TTL_MS]
    const { replies, errors } = await this.#everywhere(
      'fence',
      FENCE_SCRIPT,
      keys,
      args,
      this.#commandTimeoutMs,
    )
    // Round 2's replies are >= the floor on every node that holds our token (the script raises to it).
    const tokens = replies.filter((reply) => reply >= Math.max(1, floor))
    if (tokens.length >= this.#quorum) return tokens
    throw this.#lostError(lock, tokens.length, replies.filter((reply) => reply === -1).length, errors)
  }

  /** The LockLostError of a confirmation that `confirmed` nodes passed and `notOurs` nodes refused. */
  #lostError(lock: HeldLock, confirmed: number, notOurs: number, errors: Tally['errors']): LockLostError {
    const total = this.#nodes.length
    const why =
      notOurs > total - this.#quorum
        ? `it expired or was taken (${notOurs} of ${total} nodes no longer hold this owner's token)`
        : `too few nodes confirmed it (${confirmed} of ${total}, needs ${this.#quorum}; ` +
          `${errors.length} did not answer: ${describeErrors(errors)})`
    return new LockLostError(
      `Lost the lock ${lock.key} before the write: ${why}. Nothing was written; the call may be retried.`,
      causeOf(errors),
    )
  }

  async release(lock: HeldLock): Promise<void> {
    // Never throws: a failed release leaves a lock that expires after its TTL.
    if (lock.fence !== undefined && this.#nodes.length > 1) {
      // The acquire's token may sit on one granting node: raise the counter to it wherever the lock is ours,
      // before the lock goes (see `holdFence`).
      const args = [lock.token, String(lock.fence), FENCE_TTL_MS]
      await this.#everywhere(
        'release',
        RELEASE_FENCED_SCRIPT,
        fenceKeys(lock.key),
        args,
        this.#commandTimeoutMs,
      )
      return
    }
    await this.#everywhere('release', RELEASE_SCRIPT, [lock.key], [lock.token], this.#commandTimeoutMs)
  }
}
