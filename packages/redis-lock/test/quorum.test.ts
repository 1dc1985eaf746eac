/** Several independent Redis nodes (Redlock): quorum, nodes down, nodes hung, nothing reachable. */
import { setTimeout as delay } from 'node:timers/promises'
import { getOrCreate, memoryStore, type Store } from '@getorcreate/core'
import {
  contendedKeys,
  raceViolations,
  runConcurrently,
  shuffledInBlocks,
  type TimedRaceOutcome,
} from '@getorcreate/test-support'
import { freePort, type RedisNode } from '@getorcreate/test-support/redis-nodes'
import { Redis } from 'ioredis'
import { beforeAll, describe, expect, it } from 'vitest'
import { lockKeyFor, redisLockStrategy } from '../src/index.js'
import { ACQUIRE_SCRIPT, EXTEND_SCRIPT, FENCE_SCRIPT, RELEASE_SCRIPT } from '../src/lock/scripts.js'
import { itemsFixture } from './support/postgres.js'
import { nodesForThisFile } from './support/redis.js'
import { failOnUnhandledRejections } from './support/unhandled.js'

const nodes = nodesForThisFile()

failOnUnhandledRejections(200)

/** Calls in flight in a race, and the size of its pool: every call in flight has a connection. */
const POOL = 32

/**
 * `keys` keys × `callers` callers through drizzleStore on a table with no unique index, `POOL` at once, shuffled
 * in blocks of two keys (so a key's callers are in flight together): the violations, the rows, and how many
 * keys had two callers in flight at the same time.
 */
async function race(clients: Redis[], keys: number, callers: number) {
  const fixture = await itemsFixture(POOL)
  try {
    // One strategy per caller: independent lock contenders, as if from separate processes.
    const strategies = Array.from({ length: callers }, () =>
      redisLockStrategy({ clients, acquireTimeoutMs: 30_000 }),
    )
    const slugs = Array.from({ length: keys }, (_, i) => `k${i}`)
    const calls = shuffledInBlocks(slugs, callers, 2, 5)
    const seen = new Map<string, number>()
    const { results, errors } = await runConcurrently(calls, POOL, async (slug) => {
      const n = seen.get(slug) ?? 0
      seen.set(slug, n + 1)
      const start = performance.now()
      const strategy = strategies[n] as (typeof strategies)[number]
      const { row, created } = await getOrCreate(fixture.store, { slug }, { payload: slug }, strategy)
      return { key: slug, id: row.id, created, start, end: performance.now() }
    })
    expect(errors).toEqual([])
    const outcomes = results as TimedRaceOutcome[]
    const rowsByKey = await fixture.countBySlug()
    return {
      violations: raceViolations({ keys: slugs, callersPerKey: callers, outcomes, rowsByKey }),
      total: await fixture.total(),
      contended: contendedKeys(outcomes).size,
    }
  } finally {
    await fixture.drop()
  }
}

describe('quorum', () => {
  let five: RedisNode[]
  beforeAll(async () => {
    five = await nodes(5)
  })

  it.each([1, 3, 5])(
    `%i node(s): 50 keys × 20 callers, ${POOL} in flight on a pool of ${POOL}, make exactly one row per key`,
    async (count) => {
      const clients = await Promise.all(five.slice(0, count).map((node) => node.client()))
      const { violations, total, contended } = await race(clients, 50, 20)
      expect(violations).toEqual([])
      expect(total).toBe(50)
      expect(contended).toBeGreaterThanOrEqual(45)
    },
  )

  it('3 nodes: a miss is one round of acquire and release (plus confirm after a defaults function; two fence rounds when the store checks fences); a node that lost its scripts gets EVAL', async () => {
    const three = await nodes(3)
    const clients = await Promise.all(three.map((node) => node.client()))
    const watchers = await Promise.all(three.map((node) => node.client({ bounded: false })))
    const names = new Map(
      [ACQUIRE_SCRIPT, EXTEND_SCRIPT, FENCE_SCRIPT, RELEASE_SCRIPT].map((script) => [
        script.sha1,
        script.name,
      ]),
    )
    const strategy = redisLockStrategy({ clients })
    const inner = memoryStore<{ id: number; slug: string }>({ name: 'trio', autoIncrement: 'id' })
    const fences: unknown[][] = []
    const fencing: Store<{ id: number; slug: string }> = {
      name: inner.name,
      checksFence: true,
      find: (key, opts) => inner.find(key, opts),
      insert: (...args) => {
        fences.push(args.slice(1))
        return inner.insert(...args)
      },
    }
    /** Per node, the scripts clients sent while `body` ran: 'acquire' (EVALSHA), 'eval acquire' (EVAL), …. */
    const perNode = async (body: () => Promise<unknown>): Promise<string[][]> => {
      const seen: string[][] = three.map(() => [])
      const monitors = await Promise.all(watchers.map((watcher) => watcher.monitor()))
      monitors.forEach((monitor, index) => {
        monitor.on('monitor', (_time: string, args: string[], source: string) => {
          const [name, script = ''] = args
          if (source === 'lua') return
          if (name === 'evalsha') seen[index]!.push(names.get(script) ?? 'unknown')
          if (name === 'eval') seen[index]!.push(`eval ${/-- (\w+):/.exec(script)?.[1] ?? 'unknown'}`)
        })
      })
      await delay(50)
      try {
        await body()
        await delay(100)
      } finally {
        for (const monitor of monitors) monitor.disconnect()
      }
      return seen
    }
    for (const client of clients) await client.script('LOAD', FENCE_SCRIPT.source)
    await getOrCreate(inner, { slug: 'warm' }, () => ({}), strategy) // every node loads acquire, extend, release
    await delay(50)
    // Object defaults: the write follows the acquire at once, which is all the confirmation it needs.
    expect(await perNode(() => getOrCreate(inner, { slug: 'a' }, {}, strategy))).toEqual([
      ['acquire', 'release'],
      ['acquire', 'release'],
      ['acquire', 'release'],
    ])
    // A defaults function ran under the lock: the write is confirmed on the quorum first.
    expect(await perNode(() => getOrCreate(inner, { slug: 'a2' }, () => ({}), strategy))).toEqual([
      ['acquire', 'extend', 'release'],
      ['acquire', 'extend', 'release'],
      ['acquire', 'extend', 'release'],
    ])
    const before = Date.now()
    expect(await perNode(() => getOrCreate(fencing, { slug: 'b' }, {}, strategy))).toEqual([
      ['acquire', 'fence', 'fence', 'release'],
      ['acquire', 'fence', 'fence', 'release'],
      ['acquire', 'fence', 'fence', 'release'],
    ])
    // One token, at least the nodes' clock in microseconds (they run on this machine), held by every node.
    expect(fences).toEqual([
      [{ fence: expect.any(Number), lockKey: lockKeyFor(fencing.name, { slug: 'b' }), key: { slug: 'b' } }],
    ])
    const [[{ fence }]] = fences as [[{ fence: number }]]
    expect(fence).toBeGreaterThanOrEqual(before * 1_000)
    const counter = `${lockKeyFor(fencing.name, { slug: 'b' })}:fence`
    expect(await Promise.all(clients.map((client) => client.get(counter)))).toEqual(
      Array(3).fill(String(fence)),
    )
    await delay(50)
    await clients[1]!.script('FLUSH')
    expect(await perNode(() => getOrCreate(inner, { slug: 'c' }, () => ({}), strategy))).toEqual([
      ['acquire', 'extend', 'release'],
      ['acquire', 'eval acquire', 'extend', 'eval extend', 'release', 'eval release'], // EVALSHA: NOSCRIPT
      ['acquire', 'extend', 'release'],
    ])
    expect(inner.rows().map((row) => row.slug)).toEqual(['warm', 'a', 'a2', 'b', 'c'])
    await delay(50)
    const lockKeys = ['a', 'a2', 'b', 'c'].map((slug) => lockKeyFor(inner.name, { slug }))
    for (const client of clients) expect(await client.exists(...lockKeys)).toBe(0)
  })

  it('1 of 3 nodes down: still one row per key, and no slower than the dead node allows', async () => {
    const three = await nodes(3)
    // The dead node's client keeps ioredis's offline queue and retries: the worst case the strategy accepts
    // (it refuses a client that would resend a cut-off command).
    const clients = [
      await three[0]!.client(),
      await three[1]!.client(),
      await three[2]!.client({ bounded: false, autoResendUnfulfilledCommands: false }),
    ]
    await three[2]!.kill()
    await delay(100)
    const began = Date.now()
    const { violations, total } = await race(clients, 20, 10)
    expect(violations).toEqual([])
    expect(total).toBe(20)
    expect(Date.now() - began).toBeLessThan(10_000)
  })

  it('1 of 3 nodes hung (DEBUG SLEEP): still works, each command bounded by commandTimeoutMs', async () => {
    const three = await nodes(3)
    const clients = await Promise.all(three.map((node) => node.client()))
    const sleeper = await three[0]!.client({ bounded: false })
    const fixture = await itemsFixture(8)
    try {
      void sleeper.call('DEBUG', 'SLEEP', '3').catch(() => undefined)
      await delay(50)
      const strategy = redisLockStrategy({ clients, commandTimeoutMs: 200 })
      const began = Date.now()
      const { created } = await getOrCreate(fixture.store, { slug: 'h' }, {}, strategy)
      expect(created).toBe(true)
      // acquire and release each wait at most 200 ms for the hung node
      expect(Date.now() - began).toBeLessThan(1_500)
      expect(await fixture.total()).toBe(1)
    } finally {
      await fixture.drop()
    }
  })

  it('2 of 3 nodes down: LockUnavailableError (no quorum) within acquireTimeoutMs + 1 s, nothing written', async () => {
    const three = await nodes(3)
    const clients = [
      await three[0]!.client(),
      await three[1]!.client({ bounded: false, autoResendUnfulfilledCommands: false }),
      await three[2]!.client({ bounded: false, autoResendUnfulfilledCommands: false }),
    ]
    await Promise.all([three[1]!.kill(), three[2]!.kill()])
    await delay(100)
    const fixture = await itemsFixture(4)
    try {
      const strategy = redisLockStrategy({ clients, acquireTimeoutMs: 1_000 })
      const began = Date.now()
      const error = await getOrCreate(fixture.store, { slug: 'q' }, {}, strategy).catch(
        (caught: unknown) => caught,
      )
      const elapsed = Date.now() - began
      expect(error).toMatchObject({ code: 'LOCK_UNAVAILABLE', name: 'LockUnavailableError' })
      expect((error as Error).message).toMatch(/no quorum: the last attempt got 1 of 3 nodes \(needs 2\)/)
      expect((error as Error).cause).toBeInstanceOf(AggregateError)
      expect(elapsed).toBeGreaterThanOrEqual(950)
      expect(elapsed).toBeLessThan(2_000)
      expect(await fixture.total()).toBe(0)
      // The partial acquisition on the live node was given back.
      await delay(100)
      expect(await clients[0]!.dbsize()).toBe(0)
    } finally {
      await fixture.drop()
    }
  })

  it('no Redis reachable (ports closed, clients with an offline queue and 20 retries): LockUnavailableError within the bound', async () => {
    const ports = await Promise.all([freePort(), freePort(), freePort()])
    const clients = ports.map((port) => {
      const client = new Redis({ port, host: '127.0.0.1', autoResendUnfulfilledCommands: false }) // offline queue, 20 retries
      client.on('error', () => undefined)
      return client
    })
    const fixture = await itemsFixture(4)
    try {
      for (const set of [clients, [clients[0]!]]) {
        const strategy = redisLockStrategy({ clients: set, acquireTimeoutMs: 1_000 })
        const began = Date.now()
        const error = await getOrCreate(fixture.store, { slug: 'down' }, {}, strategy).catch(
          (caught: unknown) => caught,
        )
        expect(error).toMatchObject({ code: 'LOCK_UNAVAILABLE' })
        expect((error as Error).message).toContain('Redis is down or unreachable')
        expect(Date.now() - began).toBeLessThan(2_000)
      }
      expect(await fixture.total()).toBe(0)
    } finally {
      for (const client of clients) client.disconnect()
      await fixture.drop()
    }
  })

  it('every node hung (connections open, no answers): LockUnavailableError within the bound', async () => {
    const three = await nodes(3)
    const clients = await Promise.all(
      three.map((node) => node.client({ bounded: false, autoResendUnfulfilledCommands: false })),
    )
    const sleepers = await Promise.all(three.map((node) => node.client({ bounded: false })))
    const fixture = await itemsFixture(4)
    try {
      for (const sleeper of sleepers) void sleeper.call('DEBUG', 'SLEEP', '3').catch(() => undefined)
      await delay(50)
      const strategy = redisLockStrategy({ clients, acquireTimeoutMs: 800, commandTimeoutMs: 300 })
      const began = Date.now()
      const error = await getOrCreate(fixture.store, { slug: 'hung' }, {}, strategy).catch(
        (caught: unknown) => caught,
      )
      expect(error).toMatchObject({ code: 'LOCK_UNAVAILABLE' })
      expect((error as Error).message).toMatch(/did not answer within/)
      expect(Date.now() - began).toBeLessThan(1_800)
      expect(await fixture.total()).toBe(0)
      // When the nodes wake up, the late SETs run, then our releases: no lock is left behind.
      await delay(3_200)
      expect(await Promise.all(clients.map((client) => client.dbsize()))).toEqual([0, 0, 0])
    } finally {
      await fixture.drop()
    }
  })
})
