/** Behaviour of one lock on one Redis node: hits, errors, release, extension, loss, abort. */
import { randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { getOrCreate, isGetOrCreateError, type MemoryStore, memoryStore, type Store } from '@getorcreate/core'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { lockKeyFor, redisLockStrategy } from '../src/index.js'
import { itemsFixture } from './support/postgres.js'
import { RedisNode } from './support/redis-nodes.js'

type Item = { id: number; slug: string; payload?: string }

let node: RedisNode
let lockClient: Redis
let admin: Redis

beforeAll(async () => {
  node = await RedisNode.start()
  lockClient = await node.client()
  admin = await node.client({ bounded: false })
})
afterAll(async () => {
  await node.stop()
})

function items(): MemoryStore<Item> {
  return memoryStore<Item>({ name: `items-${randomUUID()}`, autoIncrement: 'id' })
}

/** Every command the node runs while `body` runs, seen through MONITOR. */
async function commandsDuring(body: () => Promise<void>): Promise<string[]> {
  const monitor = await admin.duplicate().monitor()
  const seen: string[] = []
  monitor.on('monitor', (_time: string, args: string[]) => {
    seen.push(args.join(' '))
  })
  await delay(50)
  try {
    await body()
    await delay(100)
  } finally {
    monitor.disconnect()
  }
  return seen
}

describe('redisLockStrategy on one node', () => {
  it('creates once, then finds: created true, then false, same row, and no lock left behind', async () => {
    const store = items()
    const strategy = redisLockStrategy({ clients: lockClient })
    const first = await getOrCreate(store, { slug: 'a' }, { payload: 'p' }, strategy)
    const second = await getOrCreate(store, { slug: 'a' }, { payload: 'other' }, strategy)
    expect(first).toEqual({ row: { id: 1, slug: 'a', payload: 'p' }, created: true })
    expect(second).toEqual({ row: first.row, created: false })
    expect(store.rows()).toHaveLength(1)
    expect(await admin.exists(lockKeyFor(store.name, { slug: 'a' }))).toBe(0)
    expect(strategy.name).toBe('redis-lock')
  })

  it('serializes 100 concurrent callers of one key on a store that holds duplicates', async () => {
    const store = items()
    const strategies = Array.from({ length: 10 }, () =>
      redisLockStrategy({ clients: lockClient, retryIntervalMs: 5 }),
    )
    const naive = items()
    const naiveResults = await Promise.all(
      Array.from(
        { length: 100 },
        async () => (await naive.find({ slug: 'k' })) ?? naive.insert({ slug: 'k' }),
      ),
    )
    expect(new Set(naiveResults.map((row) => row.id)).size).toBeGreaterThan(1) // the race is real
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        getOrCreate(store, { slug: 'k' }, { payload: 'x' }, strategies[i % 10]!),
      ),
    )
    expect(store.rows()).toHaveLength(1)
    expect(results.filter((result) => result.created)).toHaveLength(1)
    expect(new Set(results.map((result) => result.row.id))).toEqual(new Set([1]))
  })

  it('a hit sends zero Redis commands; a miss sends the lock commands', async () => {
    const store = items()
    const strategy = redisLockStrategy({ clients: lockClient })
    const onMiss = await commandsDuring(async () => {
      await getOrCreate(store, { slug: 'hit' }, {}, strategy)
    })
    // acquire, fence, release (an extension too, if the create were slow)
    expect(
      onMiss.filter((command) => command.startsWith('"eval"') || command.startsWith('eval')),
    ).toHaveLength(3)
    const onHits = await commandsDuring(async () => {
      for (let i = 0; i < 100; i++) {
        const { created } = await getOrCreate(store, { slug: 'hit' }, {}, strategy)
        expect(created).toBe(false)
      }
    })
    expect(onHits).toEqual([])
  })

  it('callers of one key in one process share one lock acquisition, and a failed leader does not fail them', async () => {
    const store = items()
    const strategy = redisLockStrategy({ clients: lockClient })
    const results: { created: boolean; id: number }[] = []
    const commands = await commandsDuring(async () => {
      const all = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          getOrCreate(store, { slug: 'shared' }, { payload: String(i) }, strategy),
        ),
      )
      results.push(...all.map(({ row, created }) => ({ created, id: row.id })))
    })
    expect(commands.filter((command) => command.toLowerCase().includes('eval'))).toHaveLength(3)
    expect(results.filter((result) => result.created)).toHaveLength(1)
    expect(new Set(results.map((result) => result.id)).size).toBe(1)
    expect(store.rows()).toHaveLength(1)

    const boom = new Error('leader defaults failed')
    const [leader, follower] = await Promise.allSettled([
      getOrCreate(
        store,
        { slug: 'retry' },
        async () => {
          await delay(50)
          throw boom
        },
        strategy,
      ),
      getOrCreate(store, { slug: 'retry' }, { payload: 'follower' }, strategy),
    ])
    expect(leader).toEqual({ status: 'rejected', reason: boom })
    expect(follower).toMatchObject({
      status: 'fulfilled',
      value: { created: true, row: { payload: 'follower' } },
    })
  })

  it('passes a fencing token that grows with every new owner of the key', async () => {
    const fences: (number | undefined)[] = []
    const inner = items()
    const store: Store<Item, Partial<Item>, Partial<Item>> = {
      name: inner.name,
      find: (key, opts) => inner.find(key, opts),
      insert: async (values, opts) => {
        fences.push(opts?.fence)
        return inner.insert(values, opts)
      },
    }
    const strategy = redisLockStrategy({ clients: lockClient })
    await getOrCreate(store, { slug: 'f' }, {}, strategy)
    inner.delete({ slug: 'f' })
    await getOrCreate(store, { slug: 'f' }, {}, strategy)
    inner.delete({ slug: 'f' })
    await getOrCreate(store, { slug: 'f' }, {}, strategy)
    expect(fences).toEqual([1, 2, 3])
    const counter = `${lockKeyFor(store.name, { slug: 'f' })}:fence`
    expect(await admin.get(counter)).toBe('3')
    expect(await admin.pttl(counter)).toBeGreaterThan(86_000_000)
  })

  it('a create that throws: that exact error reaches the caller, and the lock is released at once', async () => {
    const store = items()
    const strategy = redisLockStrategy({ clients: lockClient, ttlMs: 30_000 })
    const boom = new Error('defaults failed')
    await expect(
      getOrCreate(
        store,
        { slug: 'x' },
        () => {
          throw boom
        },
        strategy,
      ),
    ).rejects.toBe(boom)
    expect(await admin.exists(lockKeyFor(store.name, { slug: 'x' }))).toBe(0)

    const insertError = Object.assign(new Error('insert failed'), { code: '23514' })
    const failing: Store<Item, Partial<Item>, Partial<Item>> = {
      name: store.name,
      find: (key) => store.find(key),
      insert: async () => {
        throw insertError
      },
    }
    await expect(getOrCreate(failing, { slug: 'x' }, {}, strategy)).rejects.toBe(insertError)
    expect(await admin.exists(lockKeyFor(store.name, { slug: 'x' }))).toBe(0)

    const started = Date.now()
    const { created } = await getOrCreate(store, { slug: 'x' }, {}, strategy)
    expect(created).toBe(true)
    expect(Date.now() - started).toBeLessThan(1_000) // not the 30 s TTL
  })

  it('a release that fails hides neither the result nor the create error', async () => {
    const pausedNode = await RedisNode.start()
    try {
      const client = await pausedNode.client()
      const pauser = await pausedNode.client()
      const store = items()
      const strategy = redisLockStrategy({ clients: client, commandTimeoutMs: 100, ttlMs: 5_000 })
      // The insert pauses writes on the lock's node, so the release (an EVAL) cannot run in time.
      const pausingStore = (fail?: Error): Store<Item, Partial<Item>, Partial<Item>> => ({
        name: store.name,
        find: (key) => store.find(key),
        insert: async (values, opts) => {
          await pauser.call('CLIENT', 'PAUSE', '400', 'WRITE')
          if (fail) throw fail
          return store.insert(values, opts)
        },
      })
      const started = Date.now()
      const result = await getOrCreate(pausingStore(), { slug: 'r' }, {}, strategy)
      expect(result.created).toBe(true)
      expect(Date.now() - started).toBeLessThan(400) // bounded by commandTimeoutMs, not by the pause
      await delay(450)
      const boom = new Error('insert failed while the release fails')
      await expect(getOrCreate(pausingStore(boom), { slug: 's' }, {}, strategy)).rejects.toBe(boom)
    } finally {
      await pausedNode.stop()
    }
  })

  it('a create slower than ttlMs is extended: 20 racers on Postgres still make one row', async () => {
    const fixture = await itemsFixture(24)
    try {
      const strategies = Array.from({ length: 20 }, () =>
        redisLockStrategy({ clients: lockClient, ttlMs: 300, acquireTimeoutMs: 20_000 }),
      )
      const lockKey = lockKeyFor(fixture.store.name, { slug: 'slow' })
      let lockAliveAfter3Ttl = false
      const slowDefaults = async () => {
        await delay(1_000)
        lockAliveAfter3Ttl = (await admin.exists(lockKey)) === 1
        return { payload: 'slow' }
      }
      const results = await Promise.all(
        strategies.map((strategy) => getOrCreate(fixture.store, { slug: 'slow' }, slowDefaults, strategy)),
      )
      expect(lockAliveAfter3Ttl).toBe(true)
      expect(await fixture.total()).toBe(1)
      expect(results.filter((result) => result.created)).toHaveLength(1)
      expect(new Set(results.map((result) => result.row.id)).size).toBe(1)
    } finally {
      await fixture.drop()
    }
  })

  it('the lock removed before the write: LockLostError, nothing written', async () => {
    const fixture = await itemsFixture(4)
    try {
      const strategy = redisLockStrategy({ clients: lockClient })
      const lockKey = lockKeyFor(fixture.store.name, { slug: 'gone' })
      const error = await getOrCreate(
        fixture.store,
        { slug: 'gone' },
        async () => {
          await admin.del(lockKey)
          return { payload: 'never' }
        },
        strategy,
      ).catch((caught: unknown) => caught)
      expect(isGetOrCreateError(error)).toBe(true)
      expect(error).toMatchObject({ code: 'LOCK_LOST', retryable: true, name: 'LockLostError' })
      expect(await fixture.total()).toBe(0)
    } finally {
      await fixture.drop()
    }
  })

  it('the lock taken over by another owner before the write: LockLostError, and its lock is untouched', async () => {
    const store = items()
    const strategy = redisLockStrategy({ clients: lockClient })
    const lockKey = lockKeyFor(store.name, { slug: 'stolen' })
    await expect(
      getOrCreate(
        store,
        { slug: 'stolen' },
        async () => {
          await admin.set(lockKey, 'someone-else', 'PX', 10_000)
          return {}
        },
        strategy,
      ),
    ).rejects.toMatchObject({ code: 'LOCK_LOST' })
    expect(store.rows()).toHaveLength(0)
    expect(await admin.get(lockKey)).toBe('someone-else') // only the owner can release
    await admin.del(lockKey)
  })

  it('extension blocked by CLIENT PAUSE until the lock expires: LockLostError, nothing written', async () => {
    const pausedNode = await RedisNode.start()
    const fixture = await itemsFixture(4)
    try {
      const client = await pausedNode.client()
      const pauser = await pausedNode.client()
      const strategy = redisLockStrategy({ clients: client, ttlMs: 400, commandTimeoutMs: 100 })
      const error = await getOrCreate(
        fixture.store,
        { slug: 'paused' },
        async () => {
          await pauser.call('CLIENT', 'PAUSE', '1500', 'WRITE')
          await delay(1_000)
          return { payload: 'never' }
        },
        strategy,
      ).catch((caught: unknown) => caught)
      expect(error).toMatchObject({ code: 'LOCK_LOST' })
      expect(await fixture.total()).toBe(0)
    } finally {
      await pausedNode.stop()
      await fixture.drop()
    }
  })

  it('aborting the per-call signal while waiting for the lock rejects at once, with its reason', async () => {
    const store = items()
    const strategy = redisLockStrategy({ clients: lockClient, acquireTimeoutMs: 30_000 })
    const lockKey = lockKeyFor(store.name, { slug: 'busy' })
    await admin.set(lockKey, 'holder', 'PX', 30_000)
    try {
      const controller = new AbortController()
      const started = Date.now()
      const call = getOrCreate(store, { slug: 'busy' }, {}, strategy.withSignal(controller.signal))
      const settled = call.catch((caught: unknown) => caught)
      await delay(200)
      controller.abort()
      const error = await settled
      expect(error).toBe(controller.signal.reason)
      expect((error as Error).name).toBe('AbortError')
      expect(Date.now() - started).toBeLessThan(400)

      // The strategy's own signal, and a timeout signal.
      const perStrategy = new AbortController()
      const aborting = redisLockStrategy({
        clients: lockClient,
        signal: perStrategy.signal,
        acquireTimeoutMs: 30_000,
      })
      const second = getOrCreate(store, { slug: 'busy' }, {}, aborting).catch((caught: unknown) => caught)
      await delay(100)
      perStrategy.abort(new Error('shutting down'))
      expect(await second).toEqual(new Error('shutting down'))
      const timedOut = await getOrCreate(
        store,
        { slug: 'busy' },
        {},
        strategy.withSignal(AbortSignal.timeout(150)),
      )
        .then(() => 'resolved')
        .catch((caught: unknown) => (caught as Error).name)
      expect(timedOut).toBe('TimeoutError')

      // Already aborted: rejects before any lock command.
      const already = new AbortController()
      already.abort()
      await expect(
        getOrCreate(store, { slug: 'busy' }, {}, strategy.withSignal(already.signal)),
      ).rejects.toBe(already.signal.reason)
      expect(store.rows()).toHaveLength(0)
      expect(await admin.get(lockKey)).toBe('holder')
    } finally {
      await admin.del(lockKey)
    }
  })

  it('a lock held for the whole wait: LockUnavailableError after acquireTimeoutMs, saying so', async () => {
    const store = items()
    const strategy = redisLockStrategy({ clients: lockClient, acquireTimeoutMs: 300 })
    const lockKey = lockKeyFor(store.name, { slug: 'held' })
    await admin.set(lockKey, 'holder', 'PX', 10_000)
    try {
      const started = Date.now()
      const error = await getOrCreate(store, { slug: 'held' }, {}, strategy).catch(
        (caught: unknown) => caught,
      )
      const elapsed = Date.now() - started
      expect(error).toMatchObject({ code: 'LOCK_UNAVAILABLE', retryable: true })
      expect((error as Error).message).toContain('another caller held it for the whole wait')
      expect(elapsed).toBeGreaterThanOrEqual(290)
      expect(elapsed).toBeLessThan(1_300)
      expect(store.rows()).toHaveLength(0)
    } finally {
      await admin.del(lockKey)
    }
  })

  it('a lazyConnect client (status "wait") is asked to connect, and the retry takes the lock', async () => {
    const lazy = new Redis({
      port: node.port,
      host: '127.0.0.1',
      lazyConnect: true,
      enableOfflineQueue: false,
    })
    lazy.on('error', () => undefined)
    try {
      expect(lazy.status).toBe('wait')
      const store = items()
      const strategy = redisLockStrategy({ clients: lazy, acquireTimeoutMs: 2_000 })
      const { created } = await getOrCreate(store, { slug: 'lazy' }, {}, strategy)
      expect(created).toBe(true)
      expect(lazy.status).toBe('ready')
    } finally {
      lazy.disconnect()
    }
  })

  it('refuses invalid options', () => {
    expect(() => redisLockStrategy({ clients: [] })).toThrow(RangeError)
    expect(() => redisLockStrategy({ clients: lockClient, ttlMs: 0 })).toThrow(RangeError)
    expect(() => redisLockStrategy({ clients: lockClient, acquireTimeoutMs: 1.5 })).toThrow(RangeError)
    expect(() => redisLockStrategy({ clients: lockClient, keyPrefix: 'x:' })).not.toThrow()
  })
})
