/**
 * The Redis lock's diagnostics ("Observability" in the README): the `getorcreate:getOrCreate` trace under
 * `redisLockStrategy` (its name, store calls, lock wait), and the `getorcreate:lock:*` events, each from a real
 * fault on real `redis-server` nodes and a real Postgres table: a lock held by another caller, a lock deleted
 * under its holder, a slow create whose lock is extended, a node that is down.
 */
import diagnosticsChannel from 'node:diagnostics_channel'
import { setTimeout as delay } from 'node:timers/promises'
import {
  DIAGNOSTICS_CHANNELS,
  type GetOrCreateTrace,
  getOrCreate,
  type LockEvent,
  type LockNodeFailedEvent,
} from '@getorcreate/core'
import type { RedisNode } from '@getorcreate/test-support/redis-nodes'
import type { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { lockKeyFor, redisLockStrategy } from '../src/index.js'
import { unreachable } from './support/fence-owners.js'
import { itemsFixture } from './support/postgres.js'
import { nodesForThisFile } from './support/redis.js'

type Fixture = Awaited<ReturnType<typeof itemsFixture>>

/** The messages of the plain channel `name` while subscribed. */
function listen<Message>(name: string): { messages: Message[]; stop(): void } {
  const messages: Message[] = []
  const onMessage = (message: unknown) => {
    messages.push(message as Message)
  }
  diagnosticsChannel.subscribe(name, onMessage)
  return { messages, stop: () => diagnosticsChannel.unsubscribe(name, onMessage) }
}

/** The contexts of the `getorcreate:getOrCreate` tracing channel while subscribed, at `asyncEnd`. */
function traces(): { ended: GetOrCreateTrace[]; stop(): void } {
  const channel = diagnosticsChannel.tracingChannel<unknown, GetOrCreateTrace>(
    DIAGNOSTICS_CHANNELS.getOrCreate,
  )
  const ended: GetOrCreateTrace[] = []
  const none = () => undefined
  const handlers = {
    start: none,
    end: none,
    asyncStart: none,
    error: none,
    asyncEnd: (context: GetOrCreateTrace) => {
      ended.push(context)
    },
  }
  channel.subscribe(handlers)
  return { ended, stop: () => channel.unsubscribe(handlers) }
}

const stops: (() => void)[] = []
afterEach(() => {
  for (const stop of stops.splice(0)) stop()
})
function watch<T extends { stop(): void }>(listener: T): T {
  stops.push(() => listener.stop())
  return listener
}

const nodes = nodesForThisFile()
let node: RedisNode
let client: Redis
let items: Fixture

beforeAll(async () => {
  ;[node] = (await nodes(1)) as [RedisNode]
  client = await node.client()
  items = await itemsFixture(8)
})
afterAll(async () => {
  await items?.drop()
})

describe('the getOrCreate trace under redisLockStrategy', () => {
  test('a create: one acquired event, its lock wait in the trace, two store calls; a hit: one', async () => {
    const strategy = redisLockStrategy({ clients: [client] })
    const ended = watch(traces()).ended
    const acquired = watch(listen<LockEvent>(DIAGNOSTICS_CHANNELS.lockAcquired)).messages
    await getOrCreate(items.store, { slug: 'made' }, { payload: 'p' }, strategy)
    expect(ended).toHaveLength(1)
    const [created] = ended as [GetOrCreateTrace]
    expect(created).toMatchObject({
      strategy: 'redis-lock',
      store: items.store.name,
      outcome: 'created',
      storeCalls: 2,
      attempts: 1,
      missed: true,
    })
    expect(created.lockWaitMs).toBeGreaterThan(0)
    expect(acquired).toHaveLength(1)
    const lockKey = lockKeyFor(items.store.name, { slug: 'made' })
    expect(acquired[0]).toMatchObject({ lock: 'redis', lockKey, store: items.store.name, attempts: 1 })
    expect(acquired[0]?.waitMs).toBeGreaterThanOrEqual(0)

    await getOrCreate(items.store, { slug: 'made' }, { payload: 'p' }, strategy)
    expect(ended[1]).toMatchObject({ outcome: 'hit', storeCalls: 1, attempts: 0, lockWaitMs: 0 })
    // A hit takes no lock.
    expect(acquired).toHaveLength(1)
  })

  test('a caller that waited for the holder reads its row: raced, lock waited, no create attempt', async () => {
    const holder = redisLockStrategy({ clients: [client] })
    const waiter = redisLockStrategy({ clients: [client], retryIntervalMs: 10 })
    const ended = watch(traces()).ended
    const acquired = watch(listen<LockEvent>(DIAGNOSTICS_CHANNELS.lockAcquired)).messages
    let release: () => void = () => undefined
    const holding = new Promise<void>((resolve) => {
      release = resolve
    })
    const first = getOrCreate(
      items.store,
      { slug: 'waited' },
      async () => {
        await holding
        return { payload: 'first' }
      },
      holder,
    )
    while (acquired.length === 0) await delay(5)
    const second = getOrCreate(items.store, { slug: 'waited' }, { payload: 'second' }, waiter)
    await delay(150)
    release()
    const results = await Promise.all([first, second])
    expect(results.map((result) => result.created)).toEqual([true, false])
    expect((await items.countBySlug()).get('waited')).toBe(1)
    const waited = ended.find((context) => context.outcome === 'raced') as GetOrCreateTrace
    expect(waited).toMatchObject({ strategy: 'redis-lock', attempts: 0, storeCalls: 2, missed: true })
    expect(waited.lockWaitMs).toBeGreaterThanOrEqual(100)
    expect(acquired.at(-1)?.attempts).toBeGreaterThan(1)
  })
  test('a key met for the first time while keys were fresh: straight to the lock, one store call (the insert that reads); a row found there is a hit', async () => {
    const strategy = redisLockStrategy({ clients: [client] })
    for (let i = 0; i < 20; i++)
      await getOrCreate(items.store, { slug: `warm-${i}` }, { payload: 'w' }, strategy)
    await items.sql.unsafe(`insert into ${items.name} (slug, payload) values ('was-there', 'old')`)
    const ended = watch(traces()).ended
    const acquired = watch(listen<LockEvent>(DIAGNOSTICS_CHANNELS.lockAcquired)).messages
    await getOrCreate(items.store, { slug: 'fresh' }, { payload: 'p' }, strategy)
    await getOrCreate(items.store, { slug: 'was-there' }, { payload: 'p' }, strategy)
    expect(acquired).toHaveLength(2)
    expect(ended[0]).toMatchObject({ outcome: 'created', storeCalls: 1, attempts: 1, missed: true })
    expect(ended[0]?.lockWaitMs).toBeGreaterThan(0)
    // Found under the lock (no lock-free read to miss first): the insert that reads, then the row read back.
    expect(ended[1]).toMatchObject({ outcome: 'hit', storeCalls: 2, attempts: 1, missed: false })
  })
})

describe('getorcreate:lock:* events', () => {
  test('unavailable: another caller held the lock for the whole wait', async () => {
    const holder = redisLockStrategy({ clients: [client] })
    const impatient = redisLockStrategy({ clients: [client], acquireTimeoutMs: 200, retryIntervalMs: 20 })
    const unavailable = watch(listen<LockEvent>(DIAGNOSTICS_CHANNELS.lockUnavailable)).messages
    const acquired = watch(listen<LockEvent>(DIAGNOSTICS_CHANNELS.lockAcquired)).messages
    const ended = watch(traces()).ended
    let release: () => void = () => undefined
    const holding = new Promise<void>((resolve) => {
      release = resolve
    })
    const first = getOrCreate(
      items.store,
      { slug: 'busy' },
      async () => {
        await holding
        return {}
      },
      holder,
    )
    while (acquired.length === 0) await delay(5)
    const error = await getOrCreate(items.store, { slug: 'busy' }, {}, impatient).catch((e: unknown) => e)
    release()
    await first
    expect(error).toMatchObject({ code: 'LOCK_UNAVAILABLE' })
    expect(unavailable).toHaveLength(1)
    expect(unavailable[0]).toMatchObject({
      lock: 'redis',
      store: items.store.name,
      lockKey: acquired[0]?.lockKey,
    })
    expect(unavailable[0]?.error).toBe(error)
    expect(unavailable[0]?.waitMs).toBeGreaterThanOrEqual(150)
    const failed = ended.find((context) => context.outcome === 'error')
    expect(failed).toMatchObject({ errorCode: 'LOCK_UNAVAILABLE', strategy: 'redis-lock' })
    expect(failed?.lockWaitMs).toBeGreaterThanOrEqual(150)
  })

  test('extended: a create slower than the TTL keeps its lock, and each renewal is told', async () => {
    const strategy = redisLockStrategy({ clients: [client], ttlMs: 300 })
    const extended = watch(listen<LockEvent>(DIAGNOSTICS_CHANNELS.lockExtended)).messages
    const result = await getOrCreate(
      items.store,
      { slug: 'slow' },
      async () => {
        await delay(450)
        return {}
      },
      strategy,
    )
    expect(result.created).toBe(true)
    expect(extended.length).toBeGreaterThanOrEqual(2)
    const lockKey = lockKeyFor(items.store.name, { slug: 'slow' })
    for (const event of extended) expect(event).toEqual({ lock: 'redis', lockKey, store: items.store.name })
  })

  test('lost: the lock deleted under its holder before the write; nothing written', async () => {
    const strategy = redisLockStrategy({ clients: [client] })
    const lost = watch(listen<LockEvent>(DIAGNOSTICS_CHANNELS.lockLost)).messages
    const ended = watch(traces()).ended
    const lockKey = lockKeyFor(items.store.name, { slug: 'stolen' })
    const error = await getOrCreate(
      items.store,
      { slug: 'stolen' },
      async () => {
        // Another party took over: the key is no longer this holder's.
        await client.del(lockKey)
        return {}
      },
      strategy,
    ).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'LOCK_LOST' })
    expect((await items.countBySlug()).get('stolen')).toBeUndefined()
    expect(lost).toEqual([{ lock: 'redis', lockKey, store: items.store.name, error }])
    expect(ended.at(-1)).toMatchObject({ outcome: 'error', errorCode: 'LOCK_LOST' })
  })

  test('node-failed: one of three nodes down, the lock still taken on the two others', async () => {
    const [a, b, c] = (await nodes(3)) as [RedisNode, RedisNode, RedisNode]
    const clients = [await a.client(), await b.client(), await unreachable(c)]
    const strategy = redisLockStrategy({ clients })
    const failed = watch(listen<LockNodeFailedEvent>(DIAGNOSTICS_CHANNELS.lockNodeFailed)).messages
    const result = await getOrCreate(items.store, { slug: 'two-of-three' }, {}, strategy)
    expect(result.created).toBe(true)
    const lockKey = lockKeyFor(items.store.name, { slug: 'two-of-three' })
    const acquire = failed.filter((event) => event.operation === 'acquire')
    expect(acquire).toHaveLength(1)
    expect(acquire[0]).toMatchObject({
      lock: 'redis',
      lockKey,
      node: expect.stringContaining(String(c.port)),
    })
    expect(acquire[0]?.error).toBeInstanceOf(Error)
    // Every node event names a node of the list and a lock round.
    for (const event of failed) expect(['acquire', 'release']).toContain(event.operation)
  })

  test('no subscriber: nothing is published, and the result is the same', async () => {
    for (const name of Object.values(DIAGNOSTICS_CHANNELS)) {
      expect(diagnosticsChannel.hasSubscribers(name)).toBe(false)
    }
    const strategy = redisLockStrategy({ clients: [client] })
    const results = await Promise.all(
      Array.from({ length: 8 }, () => getOrCreate(items.store, { slug: 'quiet' }, {}, strategy)),
    )
    expect(results.filter((result) => result.created)).toHaveLength(1)
    expect((await items.countBySlug()).get('quiet')).toBe(1)
  })
})
