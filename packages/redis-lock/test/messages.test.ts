/** What LOCK_UNAVAILABLE says about each node: its name once, then what went wrong there. */
import { getOrCreate, memoryStore } from '@getorcreate/core'
import { freePort, RedisNode } from '@getorcreate/test-support/redis-nodes'
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { redisLockStrategy } from '../src/index.js'

/** The error `getOrCreate` rejects with, on a memory store with a one-node lock on `client`. */
async function lockError(client: Redis): Promise<Error> {
  const store = memoryStore<{ id: number; slug: string }>({ autoIncrement: 'id' })
  const strategy = redisLockStrategy({ clients: client, acquireTimeoutMs: 300, commandTimeoutMs: 100 })
  const error = await getOrCreate(store, { slug: 'a' }, {}, strategy).then(
    () => new Error('expected LOCK_UNAVAILABLE, got a row'),
    (caught: unknown) => caught as Error,
  )
  expect(store.rows()).toEqual([])
  return error
}

describe('LOCK_UNAVAILABLE names each node once', () => {
  it('a node that is not connected: "Redis node host:port is not connected", no repeated prefix', async () => {
    const port = await freePort() // nothing listens there
    const client = new Redis({ host: '127.0.0.1', port, enableOfflineQueue: false, maxRetriesPerRequest: 0 })
    client.on('error', () => undefined)
    try {
      const error = await lockError(client)
      const node = `Redis node 127.0.0.1:${port}`
      expect(error).toMatchObject({ code: 'LOCK_UNAVAILABLE', name: 'LockUnavailableError' })
      expect(error.message).toContain('Redis is down or unreachable: no node answered')
      expect(error.message).toMatch(new RegExp(`\\(${node} is not connected \\(status \\w+\\)\\)`))
      expect(error.message.split(node)).toHaveLength(2) // named exactly once
      expect(error.message).not.toContain(`${node}: ${node}`)
    } finally {
      client.disconnect()
    }
  })

  it('a node that does not answer: "Redis node host:port did not answer within …", no repeated prefix', async () => {
    const node = await RedisNode.start()
    try {
      const client = await node.client()
      const sleeper = await node.client({ bounded: false })
      void sleeper.call('DEBUG', 'SLEEP', '1').catch(() => undefined) // hung for 1 s, connections open
      const error = await lockError(client)
      const name = `Redis node 127.0.0.1:${node.port}`
      expect(error).toMatchObject({ code: 'LOCK_UNAVAILABLE' })
      expect(error.message).toMatch(new RegExp(`\\(${name} did not answer within \\d+ ms\\)`))
      expect(error.message.split(name)).toHaveLength(2)
      expect(error.message).not.toContain(`${name}: ${name}`)
    } finally {
      await node.stop()
    }
  })
})
