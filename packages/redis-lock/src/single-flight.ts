import type { GetOrCreateResult } from '@getorcreate/core'
import { abortable, withTimeout } from './lock/bounded.js'

/**
 * The in-process single flight: callers of one key in this process share one lock acquisition. While one of
 * them (the leader) holds or waits for the lock, the others wait for its row instead of queueing on Redis one
 * by one; if the leader fails, each of them tries on its own.
 *
 * Keyed by the store object, not its name: two store objects may be two transactions, which must not see each
 * other's rows. One instance is shared by a strategy and its `withSignal` copies.
 */
export class SingleFlight {
  /**
   * Per store object, per lock key: the row the leader will settle on, `undefined` if it fails. A WeakMap, so
   * that a store object the caller dropped takes its entries with it.
   */
  readonly #inFlight = new WeakMap<object, Map<string, Promise<unknown>>>()

  /**
   * The leader's row as `{ row, created: false }` when a call in this process is already settling `lockKey`
   * of `store` and succeeds; else the result of `create()`, which becomes the leader when there is none.
   *
   * @param signals - end the wait for a leader, rejecting with the reason of the first to abort.
   * @param deadline - when this call's own time to take the lock runs out (`performance.now()` clock): the
   *   wait for a leader ends there with `timedOut()`, and a call whose leader failed gets only what is left
   *   (`create(remainingMs)`), so that joining a leader never doubles the caller's `acquireTimeoutMs`.
   */
  async run<Row>(
    store: object,
    lockKey: string,
    signals: readonly AbortSignal[],
    deadline: number,
    timedOut: () => Error,
    create: (remainingMs: number) => Promise<GetOrCreateResult<Row>>,
  ): Promise<GetOrCreateResult<Row>> {
    let perStore = this.#inFlight.get(store)
    if (!perStore) {
      perStore = new Map()
      this.#inFlight.set(store, perStore)
    }
    const leader = perStore.get(lockKey)
    if (leader) {
      // Another call in this process is settling this key: its row is the row. If it fails, try ourselves.
      const row = (await abortable(withTimeout(leader, deadline - performance.now(), timedOut), signals)) as
        | Row
        | undefined
      if (row !== undefined) return { row, created: false }
    }
    const remainingMs = Math.ceil(deadline - performance.now())
    if (remainingMs <= 0) throw timedOut()
    const own = create(remainingMs)
    // One leader per key at a time: a follower whose leader failed may find another follower already leads.
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
  }
}
