/** Redis clients and nodes as the tests use them. */
import { type RedisNode, startRedisNodes } from '@getorcreate/test-support/redis-nodes'
import { Redis } from 'ioredis'
import { afterAll, beforeAll } from 'vitest'

/**
 * Clients of `urls`, resolved once each is ready: no offline queue and no retry nor resend of a command (a command to a
 * node that is down fails at once), connection errors left to the commands that meet them.
 */
export async function readyClients(urls: readonly string[]): Promise<Redis[]> {
  const clients = urls.map((url) => {
    const client = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 })
    client.on('error', () => undefined)
    return client
  })
  await Promise.all(
    clients.map(
      (client) =>
        new Promise((resolve) => (client.status === 'ready' ? resolve(0) : client.once('ready', resolve))),
    ),
  )
  return clients
}

/** `nodes(count)`: `count` new `redis-server` nodes, every one of them stopped after the test file. */
export function nodesForThisFile(): (count: number) => Promise<RedisNode[]> {
  const started: RedisNode[] = []
  afterAll(async () => {
    await Promise.all(started.map((node) => node.stop()))
  })
  return async (count) => {
    const made = await startRedisNodes(count)
    started.push(...made)
    return made
  }
}

/**
 * One new `redis-server` node for the whole test file: started before its tests, stopped after them. Returns
 * the node's getter (the node exists once the tests run).
 */
export function nodeForThisFile(): () => RedisNode {
  const nodes = nodesForThisFile()
  let node: RedisNode | undefined
  beforeAll(async () => {
    ;[node] = await nodes(1)
  })
  return () => {
    if (node === undefined) throw new Error('nodeForThisFile: the node is started before the tests run')
    return node
  }
}

/** The locks `client`'s node holds now (`getorcreate:lock:*`, not their fence counters). */
export async function lockKeysOf(client: Redis): Promise<string[]> {
  return (await client.keys('getorcreate:lock:*')).filter((key) => !key.endsWith(':fence'))
}
