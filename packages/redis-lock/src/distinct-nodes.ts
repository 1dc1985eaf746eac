/**
 * One Redis node reached through two clients under two addresses (`localhost` and `127.0.0.1`, a DNS alias)
 * passes the address check; its `run_id` (from `INFO server`, one per server process) gives it away. Asked once
 * per client, at the first lock a strategy takes, never on a hit.
 */
import { LockMisconfiguredError } from '@getorcreate/core'
import { isCluster } from './client-checks.js'
import { withTimeout } from './lock/bounded.js'
import type { RedisClientLike } from './redis-client.js'

/** How many times a client that is ready but does not answer `INFO` is asked before it is left unchecked. */
const MAX_PROBES = 3

/** The `run_id` of every client's node, asked once each; duplicates refused. */
export class DistinctNodes {
  readonly #clients: readonly RedisClientLike[]
  readonly #runIds: (string | undefined)[]
  readonly #probes: number[]
  #pending: Promise<void> | undefined
  #settled = false
  #refusal: LockMisconfiguredError | undefined

  constructor(clients: readonly RedisClientLike[]) {
    this.#clients = clients
    this.#runIds = clients.map(() => undefined)
    // One client, a Cluster or a client without INFO: nothing to compare, nothing to ask.
    this.#probes = clients.map((client) =>
      clients.length < 2 || isCluster(client) || typeof client.info !== 'function' ? MAX_PROBES : 0,
    )
    this.#settled = this.#probes.every((count) => count >= MAX_PROBES)
  }

  /**
   * Resolves once every client whose node could answer has said its `run_id`, at most `timeoutMs` later; a
   * client not ready yet is asked at a later call (at most {@link MAX_PROBES} times in all).
   *
   * @throws LockMisconfiguredError when two clients reach one node.
   */
  async check(timeoutMs: number): Promise<void> {
    if (this.#refusal) throw this.#refusal
    if (this.#settled) return
    this.#pending ??= this.#probe(timeoutMs).finally(() => {
      this.#pending = undefined
    })
    await this.#pending
    if (this.#refusal) throw this.#refusal
  }

  async #probe(timeoutMs: number): Promise<void> {
    await Promise.all(
      this.#clients.map(async (client, index) => {
        if (this.#runIds[index] !== undefined || (this.#probes[index] ?? 0) >= MAX_PROBES) return
        if (client.status !== 'ready' || client.info === undefined) return
        this.#probes[index] = (this.#probes[index] ?? 0) + 1
        try {
          const info = await withTimeout(client.info('server'), timeoutMs, 'INFO server')
          const runId = /^run_id:(\w+)/m.exec(String(info))?.[1]
          if (runId !== undefined) this.#runIds[index] = runId
          else this.#probes[index] = MAX_PROBES // a server that does not say: nothing to compare
        } catch {
          // Unreachable for now: asked again at a later call, up to MAX_PROBES times.
        }
      }),
    )
    const first = new Map<string, number>()
    this.#runIds.forEach((runId, index) => {
      if (runId === undefined || this.#refusal) return
      const other = first.get(runId)
      if (other === undefined) {
        first.set(runId, index)
        return
      }
      this.#refusal = new LockMisconfiguredError(
        `redisLockStrategy: clients ${other + 1} and ${index + 1} reach the same Redis node (run_id ${runId}) ` +
          'under two addresses: it would count twice towards the majority. Nothing was written. Give one client ' +
          'per independent node.',
      )
    })
    this.#settled = this.#runIds.every(
      (runId, index) => runId !== undefined || (this.#probes[index] ?? 0) >= MAX_PROBES,
    )
  }
}
