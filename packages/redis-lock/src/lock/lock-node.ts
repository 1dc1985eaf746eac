/**
 * The per-node command layer: one Redis node, the only place a lock script is sent. `redlock-client.ts` runs it
 * on every node at once and counts the replies.
 */
import type { RedisClientLike } from '../redis-client.js'
import { withTimeout } from './bounded.js'
import type { LuaScript } from './scripts.js'

/** A node that is not connected: lock commands are never queued for later (an ioredis offline queue). */
class NodeNotReadyError extends Error {
  constructor(label: string, status: string) {
    super(`${label} is not connected (status ${status})`)
    this.name = 'NodeNotReadyError'
  }
}

/** A `NOSCRIPT` reply: the node does not hold the script (restarted, `SCRIPT FLUSH`, a new node). */
function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT')
}

/**
 * One Redis node: runs scripts only over a ready connection, each bounded by a timer. A script is sent as
 * `EVALSHA`; on `NOSCRIPT` it is sent again as `EVAL` (which also loads it), within the same bound, and only
 * if the bound has not run out: a command that timed out never sends a late second step.
 */
export class LockNode {
  readonly #client: RedisClientLike
  /** The node's name in messages: `Redis node host:port`, or its position among the clients. */
  readonly label: string

  constructor(client: RedisClientLike, label: string) {
    this.#client = client
    this.label = label
  }

  /** @throws NodeNotReadyError unless the connection is ready: a lock command is never queued for later. */
  #assertReady(): void {
    const status = this.#client.status
    if (status === 'ready') return
    // A lazyConnect client is asked to connect; this attempt fails fast, a retry may find it ready.
    if (status === 'wait' && this.#client.connect) void this.#client.connect().catch(() => undefined)
    throw new NodeNotReadyError(this.label, status)
  }

  /**
   * The script's reply on this node.
   *
   * @throws NodeNotReadyError, CommandTimeoutError, or the node's own error.
   */
  async run(
    script: LuaScript,
    keys: readonly string[],
    args: readonly (string | number)[],
    timeoutMs: number,
  ): Promise<unknown> {
    this.#assertReady()
    const client = this.#client
    let timedOut = false
    const reply = client.evalsha(script.sha1, keys.length, ...keys, ...args).catch((error: unknown) => {
      if (!isNoScript(error) || timedOut) throw error
      this.#assertReady()
      return client.eval(script.source, keys.length, ...keys, ...args)
    })
    return withTimeout(reply, timeoutMs, this.label, () => {
      timedOut = true
    })
  }
}

/**
 * The label of the `index`-th of `total` clients, so that a message says which node failed: its `host:port`
 * where the client's `options` carry them (a `Redis`), else its position among the clients.
 */
export function labelOf(client: RedisClientLike, index: number, total: number): string {
  const options = (client as { options?: unknown }).options
  if (typeof options === 'object' && options !== null) {
    const { host, port } = options as { host?: unknown; port?: unknown }
    if (typeof host === 'string' && typeof port === 'number') return `Redis node ${host}:${port}`
  }
  return `Redis node ${index + 1} of ${total}`
}
