/**
 * The strategy's own `keyPrefix`, in Redis (a real `redis-server`, observed with `KEYS` and `MONITOR` while a
 * `defaults` function holds the lock): with `keyPrefix: 'myapp:'` the lock is the key `lockKeyFor(store, key,
 * 'myapp:')`, and its fencing counter (a store with `checksFence`) that key plus `:fence`; every lock script
 * names only keys under the prefix, and nothing is left under the default prefix. A second strategy with the
 * same prefix waits for that lock and finds the row; one with the default prefix takes another lock (the
 * hazard the README warns of: every writer must use the same `keyPrefix`).
 */
import { randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { getOrCreate, type MemoryStore, memoryStore, type Store } from '@getorcreate/core'
import type { Redis } from 'ioredis'
import { beforeAll, describe, expect, it } from 'vitest'
import { lockKeyFor, redisLockStrategy } from '../src/index.js'
import { nodeForThisFile } from './support/redis.js'
import { failOnUnhandledRejections } from './support/unhandled.js'

type Item = { id: number; slug: string }

const node = nodeForThisFile()
failOnUnhandledRejections(50)

let lockClient: Redis
let admin: Redis
beforeAll(async () => {
  lockClient = await node().client()
  admin = await node().client({ bounded: false })
})

function items(): MemoryStore<Item> {
  return memoryStore<Item>({ name: `items-${randomUUID()}`, autoIncrement: 'id' })
}

/** A memory store that declares `checksFence` (and takes `insert`'s fence), so the strategy keeps a counter. */
function fencing(inner: MemoryStore<Item>): Store<Item, Partial<Item>, Partial<Item>> {
  return {
    name: inner.name,
    checksFence: true,
    find: (key, opts) => inner.find(key, opts),
    insert: (values, opts) => inner.insert(values, opts),
  }
}

/** Every key a lock script names (`EVALSHA`/`EVAL` sha numkeys key…) while `body` runs, seen by MONITOR. */
async function scriptKeysDuring(body: () => Promise<void>): Promise<string[]> {
  const watcher = await node().client({ bounded: false })
  const monitor = await watcher.monitor()
  const keys: string[] = []
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    const name = String(args[0]).toLowerCase()
    if (source === 'lua' || (name !== 'evalsha' && name !== 'eval')) return
    const count = Number(args[2])
    keys.push(...args.slice(3, 3 + count))
  })
  try {
    await delay(50)
    await body()
    await delay(100) // the release is not awaited on success
  } finally {
    monitor.disconnect()
    watcher.disconnect()
  }
  return keys
}

describe("the strategy's keyPrefix", () => {
  it.each([false, true])(
    "keyPrefix 'myapp:' (checksFence %s): the lock held in Redis is lockKeyFor(store, key, 'myapp:'), every script names keys under it, nothing under the default prefix",
    async (checksFence) => {
      await admin.flushall()
      const inner = items()
      const store = checksFence ? fencing(inner) : inner
      const strategy = redisLockStrategy({ clients: lockClient, keyPrefix: 'myapp:' })
      const lockKey = lockKeyFor(store.name, { slug: 'a' }, 'myapp:')
      expect(lockKey).toMatch(/^myapp:\{[0-9a-f]{64}\}$/)
      let heldKeys: string[] = []
      let heldTtl = -2
      const seen = await scriptKeysDuring(async () => {
        const { created } = await getOrCreate(
          store,
          { slug: 'a' },
          async () => {
            // Under the lock: what Redis holds now.
            heldKeys = (await admin.keys('*')).sort()
            heldTtl = await admin.pttl(lockKey)
            return {}
          },
          strategy,
        )
        expect(created).toBe(true)
      })
      // The lock (and, for a fencing store, its counter, drawn only after defaults ran: not there yet).
      expect(heldKeys).toEqual([lockKey])
      expect(heldTtl).toBeGreaterThan(0)
      expect(seen.length).toBeGreaterThanOrEqual(2) // acquire, then confirm or fence, then release
      for (const key of seen) expect(key.startsWith('myapp:')).toBe(true)
      expect(new Set(seen)).toEqual(new Set(checksFence ? [lockKey, `${lockKey}:fence`] : [lockKey]))
      // Released; a fencing store's counter stays, under the prefix.
      expect(await admin.keys('*')).toEqual(checksFence ? [`${lockKey}:fence`] : [])
      expect(await admin.keys('getorcreate:*')).toEqual([])
      expect(inner.rows()).toHaveLength(1)
    },
  )

  it('a second strategy with the same keyPrefix waits for that lock and finds the row; one with the default prefix does not see it', async () => {
    await admin.flushall()
    const store = items()
    const holder = redisLockStrategy({ clients: lockClient, keyPrefix: 'myapp:', singleFlight: false })
    const samePrefix = redisLockStrategy({ clients: lockClient, keyPrefix: 'myapp:', singleFlight: false })
    const defaultPrefix = redisLockStrategy({ clients: lockClient, singleFlight: false })
    const lockKey = lockKeyFor(store.name, { slug: 'b' }, 'myapp:')
    let release!: () => void
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    let entered!: () => void
    const holding = new Promise<void>((resolve) => {
      entered = resolve
    })
    const first = getOrCreate(
      store,
      { slug: 'b' },
      async () => {
        entered()
        await gate
        return {}
      },
      holder,
    )
    await holding
    expect(await admin.exists(lockKey)).toBe(1)
    const waiter = getOrCreate(store, { slug: 'b' }, {}, samePrefix)
    let waiterSettled = false
    void waiter.finally(() => {
      waiterSettled = true
    })
    // The default prefix names another key: free, so its lock is taken at once (no exclusion across prefixes).
    const other = lockKeyFor(store.name, { slug: 'b' })
    let otherHeld = 0
    const otherStore: Store<Item, Partial<Item>, Partial<Item>> = {
      name: store.name,
      find: () => Promise.resolve(undefined),
      insert: async () => {
        otherHeld = await admin.exists(other)
        return { id: -1, slug: 'b' }
      },
    }
    expect((await getOrCreate(otherStore, { slug: 'b' }, () => ({}), defaultPrefix)).created).toBe(true)
    expect(otherHeld).toBe(1)
    await delay(300)
    expect(waiterSettled).toBe(false) // still waiting for the 'myapp:' lock
    release()
    expect((await first).created).toBe(true)
    const second = await waiter
    expect(second.created).toBe(false)
    expect(second.row.id).toBe((await first).row.id)
    expect(store.rows()).toHaveLength(1)
  })
})
