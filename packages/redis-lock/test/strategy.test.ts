/** Behaviour of one lock on one Redis node: hits, errors, release, extension, loss, abort. */
import { randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import {
  getOrCreate,
  isGetOrCreateError,
  type MemoryStore,
  memoryStore,
  type Store,
  type Strategy,
} from '@getorcreate/core'
import { drizzleStore, pgFencesSql, pgFencesTable } from '@getorcreate/core/drizzle'
import { scratchName } from '@getorcreate/test-support'
import { RedisNode } from '@getorcreate/test-support/redis-nodes'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { lockKeyFor, redisLockStrategy } from '../src/index.js'
import {
  ACQUIRE_FENCED_SCRIPT,
  ACQUIRE_SCRIPT,
  EXTEND_SCRIPT,
  FENCE_SCRIPT,
  RELEASE_FENCED_SCRIPT,
  RELEASE_SCRIPT,
} from '../src/lock/scripts.js'
import { itemsFixture } from './support/postgres.js'
import { failOnUnhandledRejections } from './support/unhandled.js'

type Item = { id: number; slug: string; payload?: string }

/** A store's `find`, all {@link countingLockFreeReads} wraps. */
type LockFreeReader = { find(key: never, opts?: { fresh?: boolean }): Promise<unknown> }

let node: RedisNode
let lockClient: Redis
let admin: Redis

beforeAll(async () => {
  node = await RedisNode.start()
  lockClient = await node.client()
  admin = await node.client({ bounded: false })
  // As on a node that has served locks before: the tests that count commands expect EVALSHA, not EVAL.
  for (const script of [ACQUIRE_SCRIPT, EXTEND_SCRIPT, FENCE_SCRIPT, RELEASE_SCRIPT]) {
    await admin.script('LOAD', script.source)
  }
})
afterAll(async () => {
  await node.stop()
})

failOnUnhandledRejections(50)

function items(): MemoryStore<Item> {
  return memoryStore<Item>({ name: `items-${randomUUID()}`, autoIncrement: 'id' })
}

/**
 * True once `key` no longer exists, polling every 5 ms for at most `withinMs`: after a successful call the
 * release runs without the caller waiting for it, so it lands a moment later.
 */
async function gone(client: Redis, key: string, withinMs = 1_000): Promise<boolean> {
  const deadline = Date.now() + withinMs
  for (;;) {
    if ((await client.exists(key)) === 0) return true
    if (Date.now() >= deadline) return false
    await delay(5)
  }
}

const scriptNames = new Map(
  [
    ACQUIRE_SCRIPT,
    ACQUIRE_FENCED_SCRIPT,
    EXTEND_SCRIPT,
    FENCE_SCRIPT,
    RELEASE_SCRIPT,
    RELEASE_FENCED_SCRIPT,
  ].map((script) => [script.sha1, script.name]),
)

/** The lock scripts among `commands` (MONITOR lines), as `'evalsha acquire'`, `'eval release'`, …. */
function lockScripts(commands: readonly string[][]): string[] {
  return commands
    .filter(([name]) => name === 'eval' || name === 'evalsha')
    .map(([name, script = '']) => {
      // EVALSHA names the script by its SHA1; EVAL carries its source, whose header names the operation.
      const known = name === 'evalsha' ? scriptNames.get(script) : /-- (\w+):/.exec(script)?.[1]
      return `${name} ${known ?? 'unknown script'}`
    })
}

/**
 * A store over `inner` that says whether it checks fencing tokens, and records each write: the `opts` of an
 * `insert`, `['insertIfAbsentUnderLock']` for that method. With `merged` it has `insertIfAbsentUnderLock` (the strategy's
 * one-statement path); without, the strategy takes the fresh `find`, then `insert`.
 */
function fencingAware<Row>(
  inner: Store<Row, Partial<Row>, Partial<Row>>,
  checksFence: boolean,
  merged = false,
): Store<Row, Partial<Row>, Partial<Row>> & { inserts: unknown[][] } {
  const inserts: unknown[][] = []
  const store: Store<Row, Partial<Row>, Partial<Row>> & { inserts: unknown[][] } = {
    name: inner.name,
    checksFence,
    inserts,
    find: (key, opts) => inner.find(key, opts),
    insert: (...args) => {
      inserts.push(args.slice(1))
      return inner.insert(...args)
    },
  }
  const insertIfAbsentUnderLock = inner.insertIfAbsentUnderLock?.bind(inner)
  if (merged && insertIfAbsentUnderLock) {
    store.insertIfAbsentUnderLock = (...args) => {
      inserts.push(['insertIfAbsentUnderLock'])
      return insertIfAbsentUnderLock(...args)
    }
  }
  return store
}

/** Every (checksFence, insertIfAbsentUnderLock) pair: the lock-loss tests run on both write paths, with and without fences. */
const FENCE_AND_PATH = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
] as const

/** Every command the node runs while `body` runs, seen through MONITOR, as arrays of arguments. */
async function commandArgsDuring(body: () => Promise<void>): Promise<string[][]> {
  const monitor = await admin.monitor()
  const seen: string[][] = []
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    // Commands a script runs show up too, from source 'lua': keep what clients sent.
    if (source !== 'lua') seen.push([String(args[0]).toLowerCase(), ...args.slice(1)])
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

/** Every command clients sent the node while `body` runs, seen through MONITOR, one string each. */
async function commandsDuring(body: () => Promise<void>): Promise<string[]> {
  return (await commandArgsDuring(body)).map((args) => args.join(' '))
}

describe('redisLockStrategy on one node', () => {
  it('a store that answers null (as many ORMs do for none) is refused with a TypeError: no row of null, no created for an insert that wrote nothing', async () => {
    const strategy = redisLockStrategy({ clients: lockClient, singleFlight: false, batchReads: false })
    const base = items()
    const nullFind: Store<Item> = Object.assign(Object.create(base) as Store<Item>, {
      find: async () => null,
    })
    await expect(getOrCreate(nullFind, { slug: 'a' }, {}, strategy)).rejects.toThrow(
      /find answered null\. A Store answers undefined where it has no row/,
    )
    expect(base.rows()).toEqual([])
    const nullInsert: Store<Item> = Object.assign(Object.create(base) as Store<Item>, {
      find: async () => undefined,
      insertIfAbsentUnderLock: async () => null,
    })
    await expect(getOrCreate(nullInsert, { slug: 'b' }, {}, strategy)).rejects.toThrow(
      /insertIfAbsentUnderLock answered null/,
    )
    // A store with only the unconditional insert: it must answer the row it stored.
    for (const answer of [null, undefined]) {
      const bareInsert: Store<Item> = Object.assign(Object.create(base) as Store<Item>, {
        find: async () => undefined,
        insertIfAbsentUnderLock: undefined,
        insertUnlessFound: undefined,
        insert: async () => answer,
      })
      await expect(getOrCreate(bareInsert, { slug: 'c' }, {}, strategy)).rejects.toThrow(
        new RegExp(`insert answered ${answer}\\. An insert answers the row it stored`),
      )
    }
  })

  it('creates once, then finds: created true, then false, same row, and no lock left behind', async () => {
    const store = items()
    const strategy = redisLockStrategy({ clients: lockClient })
    const first = await getOrCreate(store, { slug: 'a' }, { payload: 'p' }, strategy)
    const second = await getOrCreate(store, { slug: 'a' }, { payload: 'other' }, strategy)
    expect(first).toEqual({ row: { id: 1, slug: 'a', payload: 'p' }, created: true })
    expect(second).toEqual({ row: first.row, created: false })
    expect(store.rows()).toHaveLength(1)
    expect(await gone(admin, lockKeyFor(store.name, { slug: 'a' }))).toBe(true)
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
    const onMiss = await commandArgsDuring(async () => {
      await getOrCreate(store, { slug: 'hit' }, {}, strategy)
    })
    // A store without checksFence, object defaults, a free lock: acquire, then at once the write, then release.
    expect(onMiss.map(([name]) => name)).toEqual(['evalsha', 'evalsha'])
    expect(lockScripts(onMiss)).toEqual(['evalsha acquire', 'evalsha release'])
    const onHits = await commandsDuring(async () => {
      for (let i = 0; i < 100; i++) {
        const { created } = await getOrCreate(store, { slug: 'hit' }, {}, strategy)
        expect(created).toBe(false)
      }
    })
    expect(onHits).toEqual([])
  })

  it('hits asked for in one turn: the first read at once, the rest in one findMany, no Redis command; batchReads: false, one find each', async () => {
    for (const batchReads of [true, false]) {
      const inner = items()
      for (const slug of ['a', 'b', 'c']) await inner.insert({ slug })
      const calls: string[] = []
      const store: MemoryStore<Item> = Object.assign(Object.create(inner) as MemoryStore<Item>, {
        find(key: Partial<Item>, opts?: { fresh?: boolean }) {
          calls.push(`find ${key.slug}`)
          return inner.find(key, opts)
        },
        findMany(keys: readonly Partial<Item>[]) {
          calls.push(`findMany ${keys.map((key) => key.slug).join(',')}`)
          return Promise.all(keys.map((key) => inner.find(key)))
        },
      })
      const strategy = redisLockStrategy({ clients: lockClient, batchReads })
      const onHits = await commandsDuring(async () => {
        const results = await Promise.all(
          ['a', 'b', 'c'].map((slug) => getOrCreate(store, { slug }, () => ({}), strategy)),
        )
        expect(results.map((result) => [result.row.slug, result.created])).toEqual([
          ['a', false],
          ['b', false],
          ['c', false],
        ])
      })
      expect(onHits).toEqual([])
      // The first read goes at once (none out); the two asked for while it is out are one findMany.
      expect(calls).toEqual(batchReads ? ['find a', 'findMany b,c'] : ['find a', 'find b', 'find c'])
    }
  })

  /** `inner` (a new `items()` by default) behind a store that counts its lock-free reads (`find` without `fresh`). */
  function countingLockFreeReads<S extends LockFreeReader = MemoryStore<Item>>(
    inner: S = items() as unknown as S,
  ) {
    const counts = { lockFree: 0 }
    const store: S = Object.assign(Object.create(inner) as S, {
      find(key: never, opts?: { fresh?: boolean }) {
        if (!opts?.fresh) counts.lockFree++
        return inner.find(key, opts)
      },
    })
    return { inner, store, counts }
  }

  it('keys met for the first time where such keys mostly had no row go straight to the lock; a key met lately is a hit with no Redis command', async () => {
    const { store, counts } = countingLockFreeReads()
    const strategy = redisLockStrategy({ clients: lockClient })
    for (let i = 0; i < 20; i++) await getOrCreate(store, { slug: `warm-${i}` }, { payload: 'w' }, strategy)
    counts.lockFree = 0
    const onFresh = await commandArgsDuring(async () => {
      for (let i = 0; i < 10; i++) {
        const { created, row } = await getOrCreate(store, { slug: `fresh-${i}` }, { payload: 'f' }, strategy)
        expect(created).toBe(true)
        expect(row.payload).toBe('f')
      }
    })
    expect(counts.lockFree).toBe(0)
    expect(lockScripts(onFresh)).toEqual(
      Array.from({ length: 10 }, () => ['evalsha acquire', 'evalsha release']).flat(),
    )
    const onMet = await commandsDuring(async () => {
      expect(await getOrCreate(store, { slug: 'fresh-3' }, { payload: 'other' }, strategy)).toMatchObject({
        created: false,
        row: { slug: 'fresh-3', payload: 'f' },
      })
    })
    expect(onMet).toEqual([])
    expect(counts.lockFree).toBe(1)
    expect(store.rows()).toHaveLength(30)
  })

  it('existing keys met for the first time while keys were fresh: found under the lock, nothing written, then read without a lock again', async () => {
    const { inner: rows, store } = countingLockFreeReads()
    const strategy = redisLockStrategy({ clients: lockClient })
    for (let i = 0; i < 20; i++) await getOrCreate(store, { slug: `warm-${i}` }, { payload: 'w' }, strategy)
    const old: Item[] = []
    for (let i = 0; i < 30; i++) old.push(await rows.insert({ slug: `old-${i}`, payload: 'old' }))
    const byCall: string[][] = []
    for (let i = 0; i < 30; i++) {
      const commands = await commandsDuring(async () => {
        const { created, row } = await getOrCreate(store, { slug: `old-${i}` }, { payload: 'new' }, strategy)
        expect(created).toBe(false)
        expect(row).toEqual(old[i])
      })
      byCall.push(commands)
    }
    expect(rows.rows()).toHaveLength(50)
    // The first ones took the lock (the store's keys were fresh until now); with each found row fewer keys met
    // for the first time had none, and the calls went back to the lock-free read: a hit, no Redis command.
    expect(byCall[0]?.length).toBeGreaterThan(0)
    expect(byCall.slice(20)).toEqual(Array.from({ length: 10 }, () => []))
  })

  it('a defaults function: the lock-free read first, however fresh the keys, so it never runs for a row that exists', async () => {
    const { inner: rows, store, counts } = countingLockFreeReads()
    const strategy = redisLockStrategy({ clients: lockClient })
    for (let i = 0; i < 20; i++) await getOrCreate(store, { slug: `warm-${i}` }, { payload: 'w' }, strategy)
    await rows.insert({ slug: 'there', payload: 'old' })
    counts.lockFree = 0
    let called = 0
    const commands = await commandsDuring(async () => {
      const result = await getOrCreate(
        store,
        { slug: 'there' },
        () => {
          called++
          return { payload: 'new' }
        },
        strategy,
      )
      expect(result).toMatchObject({ created: false, row: { payload: 'old' } })
    })
    expect(called).toBe(0)
    expect(commands).toEqual([])
    expect(counts.lockFree).toBe(1)
  })

  it('a store that fences in the database (Postgres) takes the guess too, and a wrong one writes nothing: fresh keys acquire, release and one fenced statement each, no lock-free read; an existing key met first is found by the fenced statement with no fence row written, then met again a hit with no Redis command', async () => {
    const fixture = await itemsFixture(4)
    const fencesName = scratchName('rl_fences')
    await fixture.sql.unsafe(pgFencesSql(fencesName))
    try {
      const inner = drizzleStore(fixture.db, fixture.table, { fences: pgFencesTable(fencesName) })
      const reads = countingLockFreeReads(inner)
      const counts = Object.assign(reads.counts, { fenced: 0 })
      const store = Object.assign(reads.store, {
        insertIfAbsentFenced(...args: Parameters<NonNullable<typeof inner.insertIfAbsentFenced>>) {
          counts.fenced++
          return (inner.insertIfAbsentFenced as NonNullable<typeof inner.insertIfAbsentFenced>)(...args)
        },
      })
      expect(store.checksFence).toBe(true)
      const strategy = redisLockStrategy({ clients: lockClient })
      for (let i = 0; i < 20; i++) await getOrCreate(store, { slug: `warm-${i}` }, { payload: 'w' }, strategy)
      counts.lockFree = 0
      counts.fenced = 0
      const onFresh = await commandArgsDuring(async () => {
        for (let i = 0; i < 10; i++) {
          const { created, row } = await getOrCreate(
            store,
            { slug: `fresh-${i}` },
            { payload: 'f' },
            strategy,
          )
          expect([created, row.payload]).toEqual([true, 'f'])
        }
      })
      expect(counts).toEqual({ lockFree: 0, fenced: 10 })
      expect(lockScripts(onFresh)).toEqual(
        Array.from({ length: 10 }, () => ['evalsha acquire', 'evalsha release']).flat(),
      )
      // A row written behind the strategy's back, its key met for the first time while keys were fresh: the
      // guess is wrong, and the fenced statement finds the row without raising its fence.
      await fixture.sql.unsafe(`insert into ${fixture.name} (slug, payload) values ('old', 'old')`)
      const onOld = await commandArgsDuring(async () => {
        const old = await getOrCreate(store, { slug: 'old' }, { payload: 'new' }, strategy)
        expect([old.created, old.row.payload]).toEqual([false, 'old'])
      })
      expect(lockScripts(onOld)).toEqual(['evalsha acquire', 'evalsha release'])
      expect(counts).toEqual({ lockFree: 0, fenced: 11 })
      const onAgain = await commandsDuring(async () => {
        const again = await getOrCreate(store, { slug: 'old' }, { payload: 'new' }, strategy)
        expect([again.created, again.row.payload]).toEqual([false, 'old'])
      })
      expect(onAgain).toEqual([])
      expect(counts).toEqual({ lockFree: 1, fenced: 11 })
      // A fence row for each key created (the 20 warm-up keys and the 10 fresh ones), none for 'old'.
      const [fences] = await fixture.sql.unsafe<{ n: number }[]>(
        `select count(*)::int as n from ${fencesName}`,
      )
      expect(fences?.n).toBe(30)
      expect(Object.fromEntries(await fixture.countBySlug())).toMatchObject({
        old: 1,
        'fresh-0': 1,
        'fresh-9': 1,
      })
      expect(await fixture.total()).toBe(31)
    } finally {
      await fixture.sql.unsafe(`drop table if exists ${fencesName}`)
      await fixture.drop()
    }
  })

  it('a key guessed fresh whose lock cannot be had: a row that exists is still answered (read without the lock), a missing one fails LOCK_UNAVAILABLE', async () => {
    const { inner: rows, store } = countingLockFreeReads()
    const strategy = redisLockStrategy({ clients: lockClient, acquireTimeoutMs: 100, retryIntervalMs: 10 })
    for (let i = 0; i < 20; i++) await getOrCreate(store, { slug: `warm-${i}` }, { payload: 'w' }, strategy)
    const there = await rows.insert({ slug: 'there', payload: 'old' })
    // Another owner holds both keys' locks for longer than the calls wait.
    for (const slug of ['there', 'missing']) {
      await admin.set(lockKeyFor(store.name, { slug }), 'another-owner', 'PX', 5_000)
    }
    expect(await getOrCreate(store, { slug: 'there' }, { payload: 'new' }, strategy)).toEqual({
      row: there,
      created: false,
    })
    const error = await getOrCreate(store, { slug: 'missing' }, { payload: 'new' }, strategy).catch(
      (caught: unknown) => caught,
    )
    expect(error).toMatchObject({ code: 'LOCK_UNAVAILABLE' })
    expect(rows.rows()).toHaveLength(21)
  })

  it('a key guessed fresh while the Redis node is down: a row that exists is still answered, as a hit always is', async () => {
    const downNode = await RedisNode.start()
    try {
      const client = await downNode.client()
      const { inner: rows, store } = countingLockFreeReads()
      const strategy = redisLockStrategy({ clients: client, acquireTimeoutMs: 200, commandTimeoutMs: 100 })
      for (let i = 0; i < 20; i++) await getOrCreate(store, { slug: `warm-${i}` }, { payload: 'w' }, strategy)
      const there = await rows.insert({ slug: 'there', payload: 'old' })
      await downNode.kill() // the node dies; its clients stay, failing each command
      expect(await getOrCreate(store, { slug: 'there' }, { payload: 'new' }, strategy)).toEqual({
        row: there,
        created: false,
      })
      const error = await getOrCreate(store, { slug: 'missing' }, { payload: 'new' }, strategy).catch(
        (caught: unknown) => caught,
      )
      expect(isGetOrCreateError(error) && error.code).toBe('LOCK_UNAVAILABLE')
      expect(rows.rows()).toHaveLength(21)
    } finally {
      await downNode.stop()
    }
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
    // One acquisition for all ten: acquire and release (object defaults: no confirmation needed).
    expect(commands.filter((command) => command.toLowerCase().startsWith('evalsha '))).toHaveLength(2)
    expect(commands.filter((command) => command.toLowerCase().startsWith('eval '))).toHaveLength(0)
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

  it('singleFlight: false: every caller of one key in one process takes the lock itself', async () => {
    const store = items()
    const strategy = redisLockStrategy({ clients: lockClient, singleFlight: false })
    const results: { created: boolean; id: number }[] = []
    const commands = await commandsDuring(async () => {
      const all = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          getOrCreate(store, { slug: 'own-locks' }, { payload: String(i) }, strategy),
        ),
      )
      results.push(...all.map(({ row, created }) => ({ created, id: row.id })))
    })
    // Each of the 8 acquires (the losers retry: more than one acquire each) and releases once.
    const evalshas = commands.filter((command) => command.toLowerCase().startsWith('evalsha '))
    expect(evalshas.length).toBeGreaterThanOrEqual(16)
    expect(results.filter((result) => result.created)).toHaveLength(1)
    expect(new Set(results.map((result) => result.id)).size).toBe(1)
    expect(store.rows()).toHaveLength(1)
    expect(() => redisLockStrategy({ clients: lockClient, singleFlight: 1 as never })).toThrow(TypeError)
  })

  it.each([false, true])(
    'passes a fencing token that grows with every new owner of the key, to a store that checks it (insertIfAbsentUnderLock %s)',
    async (merged) => {
      const inner = items()
      const store = fencingAware(inner, true, merged)
      const strategy = redisLockStrategy({ clients: lockClient })
      await admin.script('LOAD', FENCE_SCRIPT.source) // as after an earlier fence on this node
      const before = Date.now()
      const onMiss = await commandArgsDuring(async () => {
        await getOrCreate(store, { slug: 'f' }, {}, strategy)
      })
      expect(lockScripts(onMiss)).toEqual(['evalsha acquire', 'evalsha fence', 'evalsha release'])
      inner.delete({ slug: 'f' })
      await getOrCreate(store, { slug: 'f' }, {}, strategy)
      inner.delete({ slug: 'f' })
      await getOrCreate(store, { slug: 'f' }, {}, strategy)
      // Never insertIfAbsentUnderLock, which takes no token: a fencing store always gets insert(values, { fence }).
      const fences = store.inserts.map(([opts]) => (opts as { fence: number }).fence)
      const lockKey = lockKeyFor(store.name, { slug: 'f' }) // the token's own lock, passed with it
      expect(store.inserts).toEqual(fences.map((fence) => [{ fence, lockKey, key: { slug: 'f' } }]))
      // Each larger than the one before, and at least the node's clock in microseconds (the node runs on this
      // machine: its clock is ours) when the first call began.
      expect(fences[0]).toBeGreaterThanOrEqual(before * 1_000)
      expect(fences[1]).toBeGreaterThan(fences[0]!)
      expect(fences[2]).toBeGreaterThan(fences[1]!)
      for (const fence of fences) expect(Number.isSafeInteger(fence)).toBe(true)
      const counter = `${lockKeyFor(store.name, { slug: 'f' })}:fence`
      expect(await admin.get(counter)).toBe(String(fences[2]))
      expect(await admin.pttl(counter)).toBeGreaterThan(86_000_000)
    },
  )

  it.each([
    [false, 'an object', ['evalsha acquire', 'evalsha extend', 'evalsha release']],
    [false, 'a function', ['evalsha acquire', 'evalsha extend', 'evalsha release']],
    [true, 'an object', ['evalsha acquire', 'evalsha release']],
    [true, 'a function', ['evalsha acquire', 'evalsha extend', 'evalsha release']],
  ])(
    'a store without checksFence (insertIfAbsentUnderLock %s, defaults %s): no fencing token, no counter; a confirmation only after something ran under the lock',
    async (merged, defaultsKind, scripts) => {
      for (const checksFence of [undefined, false]) {
        const inner = items()
        const store = fencingAware(inner, false, merged)
        const { checksFence: _absent, ...withoutProperty } = store
        const plain: Store<Item, Partial<Item>, Partial<Item>> = checksFence === undefined
          ? withoutProperty
          : store
        const strategy = redisLockStrategy({ clients: lockClient })
        const defaults = defaultsKind === 'an object' ? { payload: 'p' } : async () => ({ payload: 'p' })
        const onMiss = await commandArgsDuring(async () => {
          const { created } = await getOrCreate(plain, { slug: 'n' }, defaults, strategy)
          expect(created).toBe(true)
        })
        // The confirmation (extend script) follows a fresh read or a defaults function; right after the
        // acquire it would only repeat what the acquire just checked.
        expect(lockScripts(onMiss)).toEqual(scripts)
        expect(onMiss).toHaveLength(scripts.length)
        // No fence; the key, for a store that checks that the row it stores still has it.
        expect(store.inserts).toEqual(merged ? [['insertIfAbsentUnderLock']] : [[{ key: { slug: 'n' } }]])
        const lockKey = lockKeyFor(store.name, { slug: 'n' })
        expect(await admin.exists(`${lockKey}:fence`)).toBe(0)
        expect(await gone(admin, lockKey)).toBe(true)
        expect(inner.rows()).toEqual([{ id: 1, slug: 'n', payload: 'p' }])
      }
    },
  )

  it.each([false, true])(
    'inserts the very values getOrCreate made, the key merged in once (insertIfAbsentUnderLock %s)',
    async (merged) => {
      const inner = items()
      const written: unknown[] = []
      const store: Store<Item, Partial<Item>, Partial<Item>> = {
        name: inner.name,
        find: (key, opts) => inner.find(key, opts),
        insert: (values) => {
          written.push(values)
          return inner.insert(values)
        },
      }
      if (merged) {
        store.insertIfAbsentUnderLock = (key, values) => {
          written.push(values)
          return inner.insertIfAbsentUnderLock(key, values)
        }
      }
      const locked = redisLockStrategy({ clients: lockClient })
      const made: unknown[] = []
      const watching: Strategy = {
        name: 'watching',
        async getOrCreate(s, key, values) {
          const result = await locked.getOrCreate(s, key, values)
          made.push(await values())
          return result
        },
      }
      const { created } = await getOrCreate(store, { slug: 'm' }, async () => ({ payload: 'p' }), watching)
      expect(created).toBe(true)
      expect(written).toHaveLength(1)
      expect(written[0]).toBe(made[0])
      expect(inner.rows()).toEqual([{ id: 1, slug: 'm', payload: 'p' }])
    },
  )

  it.each([false, true])(
    "a defaults function that changes the caller's key object cannot make the call create another key's row under this key's lock (insertIfAbsentUnderLock %s)",
    async (merged) => {
      const inner = items()
      const store = fencingAware(inner, false, merged)
      const strategy = redisLockStrategy({ clients: lockClient })
      const key = { slug: 'mine' }
      const result = await getOrCreate(
        store,
        key,
        async () => {
          key.slug = 'other'
          return { payload: 'p' }
        },
        strategy,
      )
      expect(result).toEqual({ row: { id: 1, slug: 'mine', payload: 'p' }, created: true })
      expect(inner.rows()).toEqual([{ id: 1, slug: 'mine', payload: 'p' }])
    },
  )

  it.each(['insertIfAbsentUnderLock', 'insertUnlessFound'] as const)(
    'a store with %s (insertUnlessFound: its name before 0.3): a miss is one read and one write statement, no fresh find and no insert',
    async (method) => {
      const inner = items()
      const calls: string[] = []
      const store: Store<Item, Partial<Item>, Partial<Item>> = {
        name: inner.name,
        find(key, opts) {
          calls.push(opts?.fresh ? 'find fresh' : 'find')
          return inner.find(key, opts)
        },
        insert(values) {
          calls.push('insert')
          return inner.insert(values)
        },
        [method](this: unknown, key: Partial<Item>, values: Partial<Item>) {
          calls.push(`${method} ${String(this === store)}`) // called as a method of the store
          return inner.insertIfAbsentUnderLock(key, values)
        },
      }
      const strategy = redisLockStrategy({ clients: lockClient })
      const first = await getOrCreate(store, { slug: 'one' }, { payload: 'p' }, strategy)
      expect(first).toEqual({ row: { id: 1, slug: 'one', payload: 'p' }, created: true })
      expect(calls).toEqual(['find', `${method} true`])
    },
  )

  it.each([false, true])(
    'a row created by someone else after the lock-free read is found under the lock, not duplicated (insertIfAbsentUnderLock %s)',
    async (merged) => {
      const inner = items()
      const base = fencingAware(inner, false, merged)
      let planted = false
      const store: typeof base = {
        ...base,
        // The lock-free read misses; right after it, another process creates the row (it held the lock).
        async find(key, opts) {
          const row = await inner.find(key, opts)
          if (!opts?.fresh && !planted) {
            planted = true
            await inner.insert({ ...key, payload: 'theirs' })
          }
          return row
        },
      }
      const strategy = redisLockStrategy({ clients: lockClient })
      const result = await getOrCreate(store, { slug: 'late' }, { payload: 'ours' }, strategy)
      expect(result).toEqual({ row: { id: 1, slug: 'late', payload: 'theirs' }, created: false })
      expect(inner.rows()).toHaveLength(1)
      // insertIfAbsentUnderLock ran and found it; insert never ran.
      expect(base.inserts).toEqual(merged ? [['insertIfAbsentUnderLock']] : [])
    },
  )

  it('a row found by insertIfAbsentUnderLock but deleted before the read-back: created under the same lock, once', async () => {
    const inner = items()
    await inner.insert({ slug: 'flicker', payload: 'old' })
    const store = fencingAware(inner, false, true)
    // Someone deletes the row right after insertIfAbsentUnderLock saw it.
    const seen = store.insertIfAbsentUnderLock!
    store.insertIfAbsentUnderLock = async (key, values) => {
      const row = await seen(key, values)
      inner.delete(key)
      return row
    }
    let lockFree = true
    const find = store.find
    store.find = async (key, opts) => {
      if (lockFree && !opts?.fresh) {
        lockFree = false
        return undefined // the lock-free read ran before the old row was visible to it
      }
      return find(key, opts)
    }
    const strategy = redisLockStrategy({ clients: lockClient })
    const onMiss = await commandArgsDuring(async () => {
      const result = await getOrCreate(store, { slug: 'flicker' }, { payload: 'new' }, strategy)
      expect(result).toEqual({ row: { id: 2, slug: 'flicker', payload: 'new' }, created: true })
    })
    // insertIfAbsentUnderLock right after the acquire; the insert after the read-back, so confirmed first.
    expect(lockScripts(onMiss)).toEqual(['evalsha acquire', 'evalsha extend', 'evalsha release'])
    expect(inner.rows()).toEqual([{ id: 2, slug: 'flicker', payload: 'new' }])
  })

  it('an acquire that used up more than half the TTL: the write is confirmed (and the lock renewed) first', async () => {
    const store = items()
    const strategy = redisLockStrategy({ clients: lockClient, ttlMs: 2_000, commandTimeoutMs: 1_900 })
    const sleeper = await node.client({ bounded: false })
    try {
      const slowAcquire = await commandArgsDuring(async () => {
        // The node stalls for 1.2 s: the acquire answers with about 0.8 s of its 2 s left, less than half.
        void sleeper.call('DEBUG', 'SLEEP', '1.2').catch(() => undefined)
        await delay(20)
        expect((await getOrCreate(store, { slug: 'slow' }, { payload: 'p' }, strategy)).created).toBe(true)
      })
      expect(lockScripts(slowAcquire)).toEqual(['evalsha acquire', 'evalsha extend', 'evalsha release'])
      const quickAcquire = await commandArgsDuring(async () => {
        expect((await getOrCreate(store, { slug: 'quick' }, { payload: 'p' }, strategy)).created).toBe(true)
      })
      expect(lockScripts(quickAcquire)).toEqual(['evalsha acquire', 'evalsha release'])
    } finally {
      sleeper.disconnect()
    }
  })

  it('EVALSHA, with EVAL when a node lost its scripts (SCRIPT FLUSH); the next miss is EVALSHA only', async () => {
    const store = items()
    const strategy = redisLockStrategy({ clients: lockClient })
    await getOrCreate(store, { slug: 'warm' }, {}, strategy)
    expect(await gone(admin, lockKeyFor(store.name, { slug: 'warm' }))).toBe(true) // its release has run
    await admin.script('FLUSH')
    // A defaults function: the write is confirmed first, so all three scripts run.
    const afterFlush = await commandArgsDuring(async () => {
      expect((await getOrCreate(store, { slug: 'flushed' }, () => ({}), strategy)).created).toBe(true)
    })
    expect(lockScripts(afterFlush)).toEqual([
      'evalsha acquire',
      'eval acquire',
      'evalsha extend',
      'eval extend',
      'evalsha release',
      'eval release',
    ])
    const next = await commandArgsDuring(async () => {
      expect((await getOrCreate(store, { slug: 'next' }, () => ({}), strategy)).created).toBe(true)
    })
    expect(lockScripts(next)).toEqual(['evalsha acquire', 'evalsha extend', 'evalsha release'])
    expect(store.rows().map((row) => row.slug)).toEqual(['warm', 'flushed', 'next'])
    expect(await gone(admin, lockKeyFor(store.name, { slug: 'next' }))).toBe(true)
  })

  it('a command that timed out sends no late EVAL after its NOSCRIPT', async () => {
    const sleepyNode = await RedisNode.start()
    try {
      const client = await sleepyNode.client()
      const sleeper = await sleepyNode.client({ bounded: false })
      const watcher = await sleepyNode.client({ bounded: false })
      const store = items()
      const strategy = redisLockStrategy({ clients: client, commandTimeoutMs: 100, acquireTimeoutMs: 300 })
      const monitor = await watcher.monitor()
      const seen: string[][] = []
      monitor.on('monitor', (_time: string, args: string[], source: string) => {
        if (source !== 'lua') seen.push([String(args[0]).toLowerCase(), ...args.slice(1)])
      })
      await delay(50)
      void sleeper.call('DEBUG', 'SLEEP', '0.6').catch(() => undefined)
      await delay(50)
      const error = await getOrCreate(store, { slug: 'late' }, {}, strategy).catch(
        (caught: unknown) => caught,
      )
      expect(error).toMatchObject({ code: 'LOCK_UNAVAILABLE' })
      await delay(900) // the node wakes up, answers NOSCRIPT to every queued EVALSHA
      monitor.disconnect()
      const scripts = lockScripts(seen)
      expect(scripts.length).toBeGreaterThanOrEqual(2)
      expect(scripts.filter((script) => script.startsWith('eval '))).toEqual([])
      expect(await client.dbsize()).toBe(0)
      expect(store.rows()).toHaveLength(0)
    } finally {
      await sleepyNode.stop()
    }
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

  it('a release that fails hides neither the result nor the create error; only the error path waits for it', async () => {
    const pausedNode = await RedisNode.start()
    try {
      const client = await pausedNode.client()
      const pauser = await pausedNode.client()
      const store = items()
      const strategy = redisLockStrategy({ clients: client, commandTimeoutMs: 300, ttlMs: 5_000 })
      // The insert pauses writes on the lock's node, so the release (a script) cannot run within its bound.
      const pausingStore = (fail?: Error): Store<Item, Partial<Item>, Partial<Item>> => ({
        name: store.name,
        find: (key) => store.find(key),
        insert: async (values, opts) => {
          await pauser.call('CLIENT', 'PAUSE', '600', 'WRITE')
          if (fail) throw fail
          return store.insert(values, opts)
        },
      })
      const started = Date.now()
      const result = await getOrCreate(pausingStore(), { slug: 'r' }, {}, strategy)
      expect(result.created).toBe(true)
      // The success path does not wait for the release (it would take its full 300 ms bound here).
      expect(Date.now() - started).toBeLessThan(200)
      await delay(650)
      const boom = new Error('insert failed while the release fails')
      const failedAt = Date.now()
      await expect(getOrCreate(pausingStore(boom), { slug: 's' }, {}, strategy)).rejects.toBe(boom)
      // The error path waits for the release, bounded by commandTimeoutMs, not by the 600 ms pause.
      const elapsed = Date.now() - failedAt
      expect(elapsed).toBeGreaterThanOrEqual(290)
      expect(elapsed).toBeLessThan(600)
      await delay(650)
    } finally {
      await pausedNode.stop()
    }
  })

  it('a create slower than ttlMs is extended: 20 racers on Postgres still make one row, and only its creator calls defaults', async () => {
    const fixture = await itemsFixture(24)
    try {
      const strategies = Array.from({ length: 20 }, () =>
        // 600 ms, not less: a loaded CI machine can stall the event loop for a few hundred ms, and the
        // extension (every ttlMs / 3) must still reach Redis in time; the create still lasts over 3 TTLs.
        redisLockStrategy({ clients: lockClient, ttlMs: 600, acquireTimeoutMs: 20_000 }),
      )
      const lockKey = lockKeyFor(fixture.store.name, { slug: 'slow' })
      let lockAliveAfter3Ttl = false
      let made = 0
      const slowDefaults = async () => {
        made++
        await delay(2_000)
        lockAliveAfter3Ttl = (await admin.exists(lockKey)) === 1
        return { payload: 'slow' }
      }
      const results = await Promise.all(
        strategies.map((strategy) => getOrCreate(fixture.store, { slug: 'slow' }, slowDefaults, strategy)),
      )
      expect(lockAliveAfter3Ttl).toBe(true)
      // The others waited for the lock, so they read before calling defaults (insertIfAbsentUnderLock is skipped).
      expect(made).toBe(1)
      expect(await fixture.total()).toBe(1)
      expect(results.filter((result) => result.created)).toHaveLength(1)
      expect(new Set(results.map((result) => result.row.id)).size).toBe(1)
    } finally {
      await fixture.drop()
    }
  })

  it.each(FENCE_AND_PATH)(
    'the lock removed before the write (checksFence %s, insertIfAbsentUnderLock %s): LockLostError, nothing written',
    async (checksFence, merged) => {
      const fixture = await itemsFixture(4)
      try {
        const store = fencingAware(fixture.store, checksFence, merged)
        const strategy = redisLockStrategy({ clients: lockClient })
        const lockKey = lockKeyFor(fixture.store.name, { slug: 'gone' })
        const error = await getOrCreate(
          store,
          { slug: 'gone' },
          async () => {
            await admin.del(lockKey)
            return { payload: 'never' }
          },
          strategy,
        ).catch((caught: unknown) => caught)
        expect(isGetOrCreateError(error)).toBe(true)
        expect(error).toMatchObject({ code: 'LOCK_LOST', retryable: true, name: 'LockLostError' })
        expect((error as Error).message).toContain('it expired or was taken (1 of 1 nodes no longer hold')
        expect(store.inserts).toEqual([])
        expect(await fixture.total()).toBe(0)
      } finally {
        await fixture.drop()
      }
    },
  )

  it.each(FENCE_AND_PATH)(
    'the lock taken over by another owner before the write (checksFence %s, insertIfAbsentUnderLock %s): LockLostError, and its lock is untouched',
    async (checksFence, merged) => {
      const inner = items()
      const store = fencingAware(inner, checksFence, merged)
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
      expect(store.inserts).toEqual([])
      expect(inner.rows()).toHaveLength(0)
      await delay(50)
      expect(await admin.get(lockKey)).toBe('someone-else') // only the owner can release
      await admin.del(lockKey)
    },
  )

  it.each(FENCE_AND_PATH)(
    'extension blocked by CLIENT PAUSE until the lock expires (checksFence %s, insertIfAbsentUnderLock %s): LockLostError, nothing written',
    async (checksFence, merged) => {
      const pausedNode = await RedisNode.start()
      const fixture = await itemsFixture(4)
      try {
        const client = await pausedNode.client()
        const pauser = await pausedNode.client()
        const store = fencingAware(fixture.store, checksFence, merged)
        const strategy = redisLockStrategy({ clients: client, ttlMs: 400, commandTimeoutMs: 100 })
        const error = await getOrCreate(
          store,
          { slug: 'paused' },
          async () => {
            await pauser.call('CLIENT', 'PAUSE', '1500', 'WRITE')
            await delay(1_000)
            return { payload: 'never' }
          },
          strategy,
        ).catch((caught: unknown) => caught)
        expect(error).toMatchObject({ code: 'LOCK_LOST' })
        // Detected without a round trip: the lock's validity ran out while no extension could renew it.
        expect((error as Error).message).toContain('could not be extended in time')
        expect(store.inserts).toEqual([])
        expect(await fixture.total()).toBe(0)
      } finally {
        await pausedNode.stop()
        await fixture.drop()
      }
    },
  )

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
      maxRetriesPerRequest: 0,
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

  it.each([
    [{ ttlMs: 1 }, /ttlMs must be a whole number of milliseconds from 30/],
    [{ ttlMs: 2 }, /ttlMs must be a whole number of milliseconds from 30/],
    [{ ttlMs: 2 ** 31 }, /the longest timer Node runs/],
    [{ acquireTimeoutMs: 2 ** 31 }, /acquireTimeoutMs .*the longest timer/],
    [{ ttlMs: 1_000, commandTimeoutMs: 1_000 }, /commandTimeoutMs \(1000\) must be less than ttlMs \(1000\)/],
    [{ ttlMs: 1_000, commandTimeoutMs: 5_000 }, /must be less than ttlMs/],
  ])('refuses options that cannot work: %o', (options, message) => {
    expect(() => redisLockStrategy({ clients: lockClient, ...options })).toThrow(message)
    expect(() => redisLockStrategy({ clients: lockClient, ...options })).toThrow(RangeError)
  })

  it('refuses one client given twice, and a signal that is not an AbortSignal', () => {
    expect(() => redisLockStrategy({ clients: [lockClient, lockClient, admin] })).toThrow(/more than once/)
    const notASignal = { aborted: false } as unknown as AbortSignal
    expect(() => redisLockStrategy({ clients: lockClient, signal: notASignal })).toThrow(TypeError)
    expect(() => redisLockStrategy({ clients: lockClient }).withSignal(notASignal)).toThrow(TypeError)
    // A short TTL alone gets a command bound under it by default.
    expect(() => redisLockStrategy({ clients: lockClient, ttlMs: 600 })).not.toThrow()
  })

  it('a caller that joins another call of its process, whose create outlasts acquireTimeoutMs, gives up within its own acquireTimeoutMs in all', async () => {
    const store = items()
    const strategy = redisLockStrategy({ clients: lockClient, acquireTimeoutMs: 400, ttlMs: 5_000 })
    let release!: () => void
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    // The leader holds the lock while its defaults function waits; the follower joins it in this process.
    const leader = getOrCreate(
      store,
      { slug: 'slow' },
      async () => {
        await held
        return { payload: 'p' }
      },
      strategy,
    )
    await delay(50)
    const started = performance.now()
    const follower = await getOrCreate(store, { slug: 'slow' }, {}, strategy).catch((error: unknown) => error)
    const waited = performance.now() - started
    expect(isGetOrCreateError(follower) && follower.code).toBe('LOCK_UNAVAILABLE')
    expect((follower as Error).message).toMatch(/another call in this process held it/)
    expect(waited).toBeGreaterThanOrEqual(350)
    expect(waited).toBeLessThan(400 + 300) // its own budget (plus scheduling), not leader's + its own
    release()
    expect((await leader).created).toBe(true)
    expect(store.rows()).toHaveLength(1)
  })

  it('a caller whose leader fails takes the lock itself with what is left of its acquireTimeoutMs', async () => {
    const store = items()
    const strategy = redisLockStrategy({ clients: lockClient, acquireTimeoutMs: 600, ttlMs: 5_000 })
    // Another owner (another process) holds the lock for the whole test.
    const lockKey = lockKeyFor(store.name, { slug: 'busy' })
    await admin.set(lockKey, 'someone-else', 'PX', 5_000)
    try {
      const started = performance.now()
      const [first, second] = await Promise.all([
        getOrCreate(store, { slug: 'busy' }, {}, strategy).catch((error: unknown) => error),
        delay(10).then(() =>
          getOrCreate(store, { slug: 'busy' }, {}, strategy).catch((error: unknown) => error),
        ),
      ])
      const waited = performance.now() - started
      for (const outcome of [first, second]) {
        expect(isGetOrCreateError(outcome) && outcome.code).toBe('LOCK_UNAVAILABLE')
      }
      // Before, the follower waited ~600 ms for the leader's failure, then 600 ms more on its own.
      expect(waited).toBeLessThan(600 + 400)
      expect(store.rows()).toEqual([])
    } finally {
      await admin.del(lockKey)
    }
  })
})
