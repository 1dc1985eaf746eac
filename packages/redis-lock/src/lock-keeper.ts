import { LockLostError } from '@getorcreate/core'
import { lockChannels } from './events.js'
import type { HeldLock, LockClient } from './lock/lock-client.js'

/**
 * Extends a held lock every `ttlMs / 3` until stopped, and says whether it is still surely held: a create
 * slower than the TTL keeps its lock, and a crashed holder, which stops extending, loses it within one TTL.
 */
export class LockKeeper {
  readonly #client: LockClient
  readonly #lock: HeldLock
  readonly #ttlMs: number
  readonly #storeName: string
  #timer: NodeJS.Timeout | undefined
  #lost = false
  #stopped = false

  /** Starts keeping `lock`: its first extension is due `ttlMs / 3` from now. */
  constructor(client: LockClient, lock: HeldLock, ttlMs: number, storeName: string) {
    this.#client = client
    this.#lock = lock
    this.#ttlMs = ttlMs
    this.#storeName = storeName
    this.#schedule()
  }

  #schedule(): void {
    this.#timer = setTimeout(() => void this.#extend(), Math.max(1, Math.floor(this.#ttlMs / 3)))
    this.#timer.unref()
  }

  async #extend(): Promise<void> {
    const outcome = await this.#client.extend(this.#lock, this.#ttlMs).catch(() => 'unknown' as const)
    if (outcome === 'extended' && lockChannels.extended.hasSubscribers) {
      lockChannels.extended.publish({ lock: 'redis', lockKey: this.#lock.key, store: this.#storeName })
    }
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

  /** Stops extending; an extension already in flight finishes but schedules no next one. */
  stop(): void {
    this.#stopped = true
    clearTimeout(this.#timer)
  }
}
