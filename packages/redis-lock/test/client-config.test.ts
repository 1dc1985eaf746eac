/**
 * Clients and prefixes with which a lock cannot be safe, refused with `LOCK_MISCONFIGURED`: a client with an
 * ioredis `keyPrefix` (it prefixes lock keys a second time, so writers with different prefixes take different
 * locks), one Redis node given twice (by object, by `host:port`, and under two addresses, by `run_id`), a key
 * prefix with an empty `{}` (see also `cluster.test.ts`).
 */
import { randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { getOrCreate, isGetOrCreateError, memoryStore, type Store } from '@getorcreate/core'
import { raceViolations } from '@getorcreate/test-support'
import { RedisNode } from '@getorcreate/test-support/redis-nodes'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { lockKeyFor, redisLockStrategy } from '../src/index.js'

type Item = { id: number; slug: string }

let nodes: RedisNode[]

beforeAll(async () => {
  nodes = await Promise.all([RedisNode.start(), RedisNode.start(), RedisNode.start()])
})
afterAll(async () => {
  await Promise.all(nodes.map((node) => node.stop()))
})

const misconfigured = (pattern: RegExp) =>
  expect.objectContaining({ code: 'LOCK_MISCONFIGURED', message: expect.stringMatching(pattern) })

/** Every `EVALSHA`'s first key on `node` while `run` runs (`MONITOR`). */
async function lockKeysDuring(node: RedisNode, run: () => Promise<unknown>): Promise<string[]> {
  const monitor = await (await node.client({ bounded: false })).monitor()
  const keys: string[] = []
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args[0]?.toLowerCase() === 'evalsha' && args[3] !== undefined) keys.push(args[3])
  })
  await delay(50)
  try {
    await run()
    await delay(50)
  } finally {
    monitor.disconnect()
  }
  return keys
}

/**
 * A store that reads, then inserts after a pause, with no unique index: only the lock keeps its rows one per
 * key. `rowsByKey` counts what it holds.
 */
function findThenInsertStore() {
  const inner = memoryStore<Item>({ name: `items-${randomUUID()}`, autoIncrement: 'id' })
  const rows: Item[] = []
  const store: Store<Item, Partial<Item>, Partial<Item>> = {
    name: inner.name,
    find: (key) => inner.find(key),
    async insert(values) {
      await delay(2)
      const row = await inner.insert(values)
      rows.push(row)
      return row
    },
  }
  const rowsByKey = () => {
    const counts = new Map<string, number>()
    for (const row of rows) counts.set(row.slug, (counts.get(row.slug) ?? 0) + 1)
    return counts
  }
  return { store, rowsByKey }
}

/** Two writers (each its own strategy), 40 keys, 4 callers per key each, all at once: the race's violations. */
async function twoWritersRace(
  writers: readonly [Parameters<typeof getOrCreate>[3], Parameters<typeof getOrCreate>[3]],
) {
  const { store, rowsByKey } = findThenInsertStore()
  const keys = Array.from({ length: 40 }, (_, index) => `k${index}`)
  const calls = keys.flatMap((slug) =>
    writers.flatMap((writer) =>
      Array.from({ length: 4 }, async () => {
        const { row, created } = await getOrCreate(store, { slug }, {}, writer)
        return { key: slug, id: row.id, created }
      }),
    ),
  )
  const outcomes = await Promise.all(calls)
  return raceViolations({ keys, outcomes, rowsByKey: rowsByKey(), callersPerKey: 8 })
}

describe("ioredis's keyPrefix", () => {
  it('a client with one is refused, whatever the prefix', async () => {
    const prefixed = await nodes[0]!.client({ keyPrefix: 'app-a:' })
    expect(() => redisLockStrategy({ clients: prefixed })).toThrow(misconfigured(/keyPrefix 'app-a:'/))
  })

  it("two writers whose clients had different prefixes, given them without (duplicate({ keyPrefix: '' })), exclude each other: one row per key; lock keys are lockKeyFor()'s", async () => {
    const a = await nodes[0]!.client({ keyPrefix: 'app-a:' })
    const b = await nodes[0]!.client({ keyPrefix: 'app-b:' })
    const unprefixed = [a.duplicate({ keyPrefix: '' }), b.duplicate({ keyPrefix: '' })] as const
    try {
      const writers = [
        redisLockStrategy({ clients: unprefixed[0] }),
        redisLockStrategy({ clients: unprefixed[1] }),
      ] as const
      expect(await twoWritersRace(writers)).toEqual([])
      const { store } = findThenInsertStore()
      const sent = await lockKeysDuring(nodes[0]!, () => getOrCreate(store, { slug: 'x' }, {}, writers[0]))
      expect(new Set(sent)).toEqual(new Set([lockKeyFor(store.name, { slug: 'x' })]))
    } finally {
      for (const client of unprefixed) client.disconnect()
    }
  })

  it('is the hazard: writers whose locks are prefixed differently (as ioredis did) make duplicates', async () => {
    const client = await nodes[0]!.client()
    const violations = await twoWritersRace([
      redisLockStrategy({ clients: client, keyPrefix: 'app-a:getorcreate:lock:' }),
      redisLockStrategy({ clients: client, keyPrefix: 'app-b:getorcreate:lock:' }),
    ])
    expect(violations.length).toBeGreaterThan(0)
  })
})

describe('one node given twice', () => {
  it('the same client object twice: refused when the strategy is made', async () => {
    const [a, b] = await Promise.all([nodes[0]!.client(), nodes[1]!.client()])
    expect(() => redisLockStrategy({ clients: [a, a, b] })).toThrow(misconfigured(/more than once/))
  })

  it('two clients of one host:port: refused when the strategy is made', async () => {
    const [a, a2, b] = await Promise.all([nodes[0]!.client(), nodes[0]!.client(), nodes[1]!.client()])
    expect(() => redisLockStrategy({ clients: [a, b, a2] })).toThrow(
      misconfigured(new RegExp(`clients 1 and 3 both connect to 127\\.0\\.0\\.1:${nodes[0]!.port}`)),
    )
  })

  it('one node under two addresses (localhost, 127.0.0.1): refused at the first lock by its run_id, nothing written; INFO once per client, never on a hit', async () => {
    const [a, b] = await Promise.all([nodes[0]!.client(), nodes[1]!.client()])
    const alias = await nodes[0]!.client({ host: 'localhost', family: 4 })
    const strategy = redisLockStrategy({ clients: [a, b, alias] })
    const store = memoryStore<Item>({ name: `items-${randomUUID()}`, autoIncrement: 'id' })
    await store.insert({ slug: 'hit' })
    const infos = await infoCommandsDuring(async () => {
      await expect(getOrCreate(store, { slug: 'hit' }, {}, strategy)).resolves.toMatchObject({
        created: false,
      })
      for (let call = 0; call < 3; call++) {
        const error = await getOrCreate(store, { slug: 'miss' }, {}, strategy).catch(
          (caught: unknown) => caught,
        )
        expect(isGetOrCreateError(error) && error.code).toBe('LOCK_MISCONFIGURED')
        expect((error as Error).message).toMatch(/clients 1 and 3 reach the same Redis node \(run_id \w+\)/)
      }
    })
    // Node 0 asked by its two clients, node 1 by one, node 2 not given; nothing after the first miss.
    expect(infos).toEqual([2, 1, 0])
    expect(await store.find({ slug: 'miss' })).toBeUndefined()
    expect(await a.keys('getorcreate:lock:*')).toEqual([])
  })

  it('three distinct nodes: each asked its run_id once, at the first miss, then never again', async () => {
    const clients = await Promise.all(nodes.map((node) => node.client()))
    const strategy = redisLockStrategy({ clients })
    const store = memoryStore<Item>({ name: `items-${randomUUID()}`, autoIncrement: 'id' })
    const infos = await infoCommandsDuring(async () => {
      for (const slug of ['a', 'b', 'c']) {
        await expect(getOrCreate(store, { slug }, {}, strategy)).resolves.toMatchObject({ created: true })
      }
    })
    expect(infos).toEqual([1, 1, 1])
  })
})

/** How many `INFO` commands each of `nodes` received while `run` ran (`MONITOR` on each). */
async function infoCommandsDuring(run: () => Promise<void>): Promise<number[]> {
  const monitors = await Promise.all(
    nodes.map(async (node) => (await node.client({ bounded: false })).monitor()),
  )
  const counts = nodes.map(() => 0)
  monitors.forEach((monitor, index) => {
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args[0]?.toLowerCase() === 'info') counts[index] = (counts[index] ?? 0) + 1
    })
  })
  await delay(50)
  try {
    await run()
    await delay(50)
  } finally {
    for (const monitor of monitors) monitor.disconnect()
  }
  return counts
}

describe('keyPrefix', () => {
  const client = new Redis({ lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 })
  afterAll(() => client.disconnect())

  it.each(['x{}:', '{}', 'a{}b{c}:'])(
    "with an empty '{}' (%s) is refused: a lock and its counter would split across Cluster slots",
    (keyPrefix) => {
      expect(() => redisLockStrategy({ clients: client, keyPrefix })).toThrow(misconfigured(/CROSSSLOT/))
    },
  )

  it.each(['', 'app:', '{app}:', 'a{', '}{', 'a}b:'])(
    '%j keeps a hash tag in every lock key: accepted',
    (keyPrefix) => {
      expect(() => redisLockStrategy({ clients: client, keyPrefix })).not.toThrow()
    },
  )

  it('that is not a string is refused', () => {
    expect(() => redisLockStrategy({ clients: client, keyPrefix: 7 as unknown as string })).toThrow(
      misconfigured(/keyPrefix must be a string/),
    )
  })
})
