/**
 * Fencing tokens drawn by the acquire itself (`acquire(key, { fence: true })`, then `holdFence`), on real
 * `redis-server` processes: every token is larger than every earlier owner's, whichever way each owner drew
 * it, after a release or an expiry, also after every node restarted empty; and a fenced create on Postgres
 * sends no Redis round beyond the acquire and the release.
 */
import { once } from 'node:events'
import { setTimeout as delay } from 'node:timers/promises'
import { getOrCreate } from '@getorcreate/core'
import { drizzleStore, pgFencesSql, pgFencesTable } from '@getorcreate/core/drizzle'
import { scratchName } from '@getorcreate/test-support'
import type { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { redisLockStrategy } from '../src/index.js'
import { RedlockClient } from '../src/lock/redlock-client.js'
import { lockKeyFor } from '../src/lock-key.js'
import { expectIncreasing, owner, subset, TTL_MS, unreachable } from './support/fence-owners.js'
import { itemsFixture } from './support/postgres.js'
import { nodesForThisFile } from './support/redis.js'
import { failOnUnhandledRejections } from './support/unhandled.js'

const nodes = nodesForThisFile()

failOnUnhandledRejections(100)

/** Script calls (EVAL and EVALSHA that ran) on `clients`' nodes since their last `CONFIG RESETSTAT`. */
async function scriptCalls(clients: readonly Redis[]): Promise<number[]> {
  return Promise.all(
    clients.map(async (client) => {
      const stats = await client.info('commandstats')
      const calls = [...stats.matchAll(/^cmdstat_(?:eval|evalsha):calls=(\d+)/gm)]
      return calls.reduce((sum, match) => sum + Number(match[1]), 0)
    }),
  )
}

describe('fencing tokens drawn by the acquire', () => {
  it.each([3, 5])(
    '%i nodes: 96 owners, drawing at the acquire or fencing after it, each quorum a different subset, node 0 counting ahead: each token larger than all before it',
    async (count) => {
      const group = await nodes(count)
      const live = await Promise.all(group.map((node) => node.client()))
      const off = await Promise.all(group.map((node) => unreachable(node)))
      const key = `fence:{drawn-${count}}`
      // Node 0's counter is an hour ahead: an owner whose granting quorum includes it draws from it, and a
      // later owner whose quorum leaves it out must still draw more (the release raises the counters to it).
      await live[0]!.set(`${key}:fence`, String((Date.now() + 3_600_000) * 1_000))
      const tokens: number[] = []
      for (let index = 0; index < 96; index++) {
        tokens.push(await owner(subset(live, off, index), key, index % 3 !== 2))
      }
      expectIncreasing(tokens)
    },
  )

  it.each([1, 3])(
    '%i node(s), every node restarted empty (SIGKILL, started again on its port): tokens drawn at the acquire still exceed every earlier one',
    async (count) => {
      const group = await nodes(count)
      const live = await Promise.all(group.map((node) => node.client()))
      const off = await Promise.all(group.map((node) => unreachable(node)))
      const key = 'fence:{drawn-restart}'
      const tokens: number[] = []
      const owners = async () => {
        for (let index = 0; index < 12; index++) {
          tokens.push(await owner(subset(live, off, index), key, index % 3 !== 2))
        }
      }
      await owners()
      await Promise.all(group.map((node) => node.restart()))
      await Promise.all(live.map((client) => (client.status === 'ready' ? undefined : once(client, 'ready'))))
      expect(await live[0]!.exists(`${key}:fence`)).toBe(0) // the counter is gone with the node's memory
      await owners()
      expect(tokens).toHaveLength(24)
      expectIncreasing(tokens)
      for (const token of tokens) expect(Number.isSafeInteger(token)).toBe(true)
    },
  )

  it('3 nodes: the draw sits on one granting node only, holdFence sends nothing, the release raises the counters where the lock is ours; a later owner without that node draws more', async () => {
    const [a, b, c] = await nodes(3)
    const [ca, cb, cc] = await Promise.all([a!.client(), b!.client(), c!.client()])
    const key = 'fence:{raise}'
    const counter = `${key}:fence`
    const ahead = (Date.now() + 3_600_000) * 1_000
    await ca!.set(counter, String(ahead)) // A is ahead: A's draw is the token
    const lock = new RedlockClient({ clients: [ca!, cb!, cc!], retryIntervalMs: 5, commandTimeoutMs: 1_000 })
    const held = await lock.acquire(key, { ttlMs: TTL_MS, acquireTimeoutMs: 5_000, signals: [], fence: true })
    expect(held.fence).toBe(ahead + 1)
    expect(await lock.holdFence(held, TTL_MS)).toBe(ahead + 1)
    expect(Number(await cb!.get(counter))).toBeLessThan(ahead) // B drew from its clock, and nothing raised it
    await lock.release(held)
    expect(await cb!.exists(key)).toBe(0)
    expect([await ca!.get(counter), await cb!.get(counter), await cc!.get(counter)]).toEqual(
      Array(3).fill(String(ahead + 1)),
    )
    // A later owner without A draws a larger token.
    expect(await owner([(await unreachable(a!))!, cb!, cc!], key, true)).toBe(ahead + 2)
  })

  it('3 nodes: a lock that expires instead of being released leaves the token on one node; the next owner, a TTL later, draws more from the clocks', async () => {
    const [a, b, c] = await nodes(3)
    const [ca, cb, cc] = await Promise.all([a!.client(), b!.client(), c!.client()])
    const key = 'fence:{expired}'
    const counter = `${key}:fence`
    const ttlMs = 300
    // A's counter is ahead of the clocks, by less than the TTL: A's draw is the token, on A alone.
    const ahead = (Date.now() + 200) * 1_000
    await ca!.set(counter, String(ahead))
    const first = new RedlockClient({ clients: [ca!, cb!, cc!], retryIntervalMs: 5, commandTimeoutMs: 100 })
    const held = await first.acquire(key, { ttlMs, acquireTimeoutMs: 5_000, signals: [], fence: true })
    expect(await first.holdFence(held, ttlMs)).toBe(ahead + 1)
    expect(Number(await cb!.get(counter))).toBeLessThan(ahead)
    // Never released: the holder stalls; its lock expires on every node.
    await delay(ttlMs + 50)
    expect(await cb!.exists(key)).toBe(0)
    const later = await owner([(await unreachable(a!))!, cb!, cc!], key, true)
    expect(later).toBeGreaterThan(ahead + 1)
  })

  it.each([1, 3])(
    '%i node(s): a fenced create on Postgres runs two lock scripts per node, as an unfenced one (acquire with the token, release); a lazy defaults function still takes a fence of its own',
    async (count) => {
      const group = await nodes(count)
      const clients = await Promise.all(group.map((node) => node.client()))
      const admins = await Promise.all(group.map((node) => node.client()))
      const fixture = await itemsFixture(4)
      const fencesName = scratchName('rl_fences')
      await fixture.sql.unsafe(pgFencesSql(fencesName))
      try {
        const store = drizzleStore(fixture.db, fixture.table, { fences: pgFencesTable(fencesName) })
        const strategy = redisLockStrategy({ clients: count === 1 ? clients[0]! : clients })
        // Warm up: every node loads the scripts (a NOSCRIPT reply is resent as EVAL), the store its statements.
        await getOrCreate(store, { slug: 'warm' }, () => ({ payload: 'w' }), strategy)
        const calls = async (body: () => Promise<unknown>) => {
          await delay(100) // the last release (not awaited on success) has run
          await Promise.all(admins.map((admin) => admin.config('RESETSTAT')))
          await body()
          await delay(100) // the release is not awaited on success
          return scriptCalls(admins)
        }
        const eager = await calls(async () => {
          for (let index = 0; index < 5; index++)
            await getOrCreate(store, { slug: `e${index}` }, { payload: 'p' }, strategy)
        })
        // acquire (drawing the token) and release (on 3 nodes raising the counters to it): as unfenced.
        expect(eager).toEqual(Array(count).fill(5 * 2))
        const lazy = await calls(async () => {
          for (let index = 0; index < 5; index++)
            await getOrCreate(store, { slug: `l${index}` }, () => ({ payload: 'p' }), strategy)
        })
        // User code ran after the acquire: a token of its own (fence: 1 round, 2 on 3 nodes).
        expect(lazy).toEqual(Array(count).fill(5 * (count === 1 ? 3 : 4)))
        const rows = await fixture.sql.unsafe<{ slug: string; n: number }[]>(
          `select slug, count(*)::int as n from ${fixture.name} group by slug order by slug`,
        )
        expect(rows.map((row) => row.n)).toEqual(Array(11).fill(1))
        // The fence row of each key holds the token its create used: the Redis counter, left unchanged since.
        const lockKey = lockKeyFor(store.name, { slug: 'e4' })
        const [fence] = await fixture.sql.unsafe<{ token: string }[]>(
          `select token::text from ${fencesName} where lock_key = $1`,
          [lockKey],
        )
        expect(await admins[0]!.get(`${lockKey}:fence`)).toBe(fence!.token)
      } finally {
        await fixture.sql.unsafe(`drop table if exists ${fencesName}`)
        await fixture.drop()
      }
    },
  )
})
