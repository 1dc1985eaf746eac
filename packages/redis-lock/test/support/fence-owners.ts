/**
 * What the fencing-token tests share: owners that take a lock and a token on real `redis-server` nodes, and
 * client lists whose reachable quorum differs from one owner to the next.
 */
import { once } from 'node:events'
import type { RedisNode } from '@getorcreate/test-support/redis-nodes'
import type { Redis } from 'ioredis'
import { expect } from 'vitest'
import { RedlockClient } from '../../src/lock/redlock-client.js'

/** The lock's TTL in these tests: long enough that no lock expires while an owner draws its token. */
export const TTL_MS = 10_000

/** A client of `node` that is closed: the node is unreachable for an owner whose client list holds it. */
export async function unreachable(node: RedisNode): Promise<Redis> {
  const client = await node.client()
  client.disconnect()
  return client
}

/** Until `client` has reconnected (after its node restarted). */
export async function ready(client: Redis): Promise<void> {
  if (client.status !== 'ready') await once(client, 'ready')
}

/**
 * One owner of `key` through `clients`: take the lock, take a token (from the acquire when `drawn`, else a
 * fence of its own after a plain acquire), give the lock back.
 */
export async function owner(clients: readonly Redis[], key: string, drawn = false): Promise<number> {
  const lock = new RedlockClient({ clients, retryIntervalMs: 5, commandTimeoutMs: 1_000 })
  const held = await lock.acquire(key, { ttlMs: TTL_MS, acquireTimeoutMs: 30_000, signals: [], fence: drawn })
  try {
    return drawn ? await lock.holdFence(held, TTL_MS) : await lock.fence(held, TTL_MS)
  } finally {
    await lock.release(held)
  }
}

/** Each value larger than the one before it. */
export function expectIncreasing(tokens: readonly number[]): void {
  tokens.slice(1).forEach((token, index) => {
    expect(token, `token ${index + 1} of ${tokens.length}`).toBeGreaterThan(tokens[index]!)
  })
}

/**
 * Owner `index`'s client list over `live` (one client per node) and `off` (a closed client per node): for
 * index 0, 1, 2, … a different minority of nodes is unreachable (none every fourth time), so consecutive
 * owners' quorums differ.
 */
export function subset(live: readonly Redis[], off: readonly Redis[], index: number): Redis[] {
  const minority = Math.floor((live.length - 1) / 2)
  if (index % 4 === 3) return [...live]
  const down = new Set(Array.from({ length: minority }, (_, k) => (index + k * 2) % live.length))
  return live.map((client, node) => (down.has(node) ? off[node]! : client))
}
