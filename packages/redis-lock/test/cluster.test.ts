/**
 * A Redis Cluster given as one node (a real 3-master cluster of `redis-server` processes): lock keys carry a
 * hash tag, so a lock and its fencing counter share a slot. A key prefix with an empty `{}` would split them
 * (`CROSSSLOT` on every fence) and is refused; so is a Cluster client with a `keyPrefix` of its own.
 */
import { randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { getOrCreate, memoryStore, type Store } from '@getorcreate/core'
import { raceViolations } from '@getorcreate/test-support'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisLockStrategy } from '../src/index.js'
import { RedlockClient } from '../src/lock/redlock-client.js'
import { startCluster, type TestCluster } from './support/redis-cluster.js'

type Item = { id: number; slug: string }

let cluster: TestCluster

beforeAll(async () => {
  cluster = await startCluster()
}, 30_000)
afterAll(async () => {
  await cluster?.stop()
})

/**
 * A store that reads, then inserts after a pause, with no unique index; with `checksFence`, every insert must
 * carry a token larger than the last one it accepted.
 */
function findThenInsertStore(checksFence: boolean) {
  const inner = memoryStore<Item>({ name: `items-${randomUUID()}`, autoIncrement: 'id' })
  let rows = 0
  let lastFence = 0
  const store: Store<Item, Partial<Item>, Partial<Item>> = {
    name: inner.name,
    checksFence,
    find: (key) => inner.find(key),
    async insert(values, options) {
      if (checksFence) {
        const fence = options?.fence
        if (typeof fence !== 'number' || fence <= lastFence)
          throw new Error(`stale or missing fence ${fence}`)
        lastFence = fence
      }
      await delay(2)
      rows++
      return inner.insert(values)
    },
  }
  return { store, rows: () => rows }
}

describe('a Redis Cluster given as one node', () => {
  it.each([false, true])('30 racers of one key make one row (checksFence: %s)', async (checksFence) => {
    const strategy = redisLockStrategy({ clients: await cluster.client() })
    const { store, rows } = findThenInsertStore(checksFence)
    const outcomes = await Promise.all(
      Array.from({ length: 30 }, async () => {
        const { row, created } = await getOrCreate(store, { slug: 'a' }, {}, strategy)
        return { key: 'a', id: row.id, created }
      }),
    )
    const rowsByKey = new Map([['a', rows()]])
    expect(raceViolations({ keys: ['a'], outcomes, rowsByKey, callersPerKey: 30 })).toEqual([])
  })

  it("a keyPrefix with an empty '{}' is refused; the hazard: under it every fence fails with CROSSSLOT", async () => {
    const client = await cluster.client()
    expect(() => redisLockStrategy({ clients: client, keyPrefix: 'app{}:' })).toThrow(
      expect.objectContaining({ code: 'LOCK_MISCONFIGURED', message: expect.stringMatching(/CROSSSLOT/) }),
    )
    // The lock layer itself, which does not check prefixes: the lock is taken, its fence cannot be.
    const lock = new RedlockClient({ clients: [client], retryIntervalMs: 20, commandTimeoutMs: 1_000 })
    const held = await lock.acquire(`app{}:{${randomUUID()}}`, {
      ttlMs: 5_000,
      acquireTimeoutMs: 1_000,
      signals: [],
    })
    const error = await lock.fence(held, 5_000).catch((caught: unknown) => caught)
    expect(error).toMatchObject({ code: 'LOCK_LOST', message: expect.stringMatching(/CROSSSLOT/) })
    await lock.release(held)
  })

  it('a Cluster client with a keyPrefix of its own is refused', async () => {
    const prefixed = await cluster.client({ keyPrefix: 'app:', redisOptions: { maxRetriesPerRequest: 0 } })
    expect(() => redisLockStrategy({ clients: prefixed })).toThrow(
      expect.objectContaining({
        code: 'LOCK_MISCONFIGURED',
        message: expect.stringMatching(/keyPrefix 'app:'/),
      }),
    )
  })
})
