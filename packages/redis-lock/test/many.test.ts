/**
 * `getOrCreateMany` under the Redis lock, on Postgres (a table with no unique index) and a real `redis-server`:
 * hits read in one statement and send no Redis command; the missing keys' locks are all taken before any
 * write, and given back; a lock another owner keeps for the whole budget fails the batch having written
 * nothing; a lock held for a while is waited for, and its holder's row read; a fenced store fences every
 * create; a store bound to a transaction is refused before any I/O.
 */
import { setTimeout as delay } from 'node:timers/promises'
import { getOrCreateMany, isGetOrCreateError, LockInTransactionError, type Store } from '@getorcreate/core'
import { drizzleStore, pgFencesSql, pgFencesTable } from '@getorcreate/core/drizzle'
import { scratchName } from '@getorcreate/test-support'
import type { Redis } from 'ioredis'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { redisLockStrategy } from '../src/index.js'
import { lockKeyFor } from '../src/lock-key.js'
import { itemsFixture } from './support/postgres.js'
import { lockKeysOf, nodeForThisFile } from './support/redis.js'

const node = nodeForThisFile()

type Fixture = Awaited<ReturnType<typeof itemsFixture>>
type Item = Awaited<ReturnType<Fixture['store']['find']>> & object

let fixture: Fixture
let client: Redis
beforeEach(async () => {
  fixture = await itemsFixture(8)
  client = await node().client()
  await client.flushall()
})
afterEach(async () => {
  await fixture.drop()
})

/** The store, with a count of its calls by member. */
function counted(store: Fixture['store']) {
  const calls: Record<string, number> = {}
  const counting = new Proxy(store, {
    get(target, name, receiver) {
      const member = Reflect.get(target, name, receiver)
      if (typeof member !== 'function') return member
      return (...args: unknown[]) => {
        calls[String(name)] = (calls[String(name)] ?? 0) + 1
        return member.apply(target, args)
      }
    },
  })
  return { store: counting as Fixture['store'], calls }
}

/** Commands the node ran since the last `CONFIG RESETSTAT`, by name, leaving out the test's own INFO. */
async function commandsRun(): Promise<Record<string, number>> {
  const stats = await client.info('commandstats')
  const calls: Record<string, number> = {}
  for (const match of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (!/^(info|config)/.test(match[1] as string)) calls[match[1] as string] = Number(match[2])
  }
  return calls
}

/** The lock key the strategy takes for `slug` of the fixture's table (no key prefix). */
async function lockKeyOf(slug: string): Promise<string> {
  const identity = await (fixture.store as Store<Item, Partial<Item>, Partial<Item>>).lockIdentity?.({ slug })
  if (!identity) throw new Error('the Postgres store answers lockIdentity')
  return lockKeyFor(identity.table, identity.key as Record<string, unknown>, 'getorcreate:lock:')
}

const slugs = (count: number, prefix = 'k') =>
  Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(2, '0')}`)

/** Waits until `check` holds (a release after a success is not awaited by the call). */
async function eventually(check: () => Promise<boolean>): Promise<void> {
  for (let tries = 0; tries < 100 && !(await check()); tries++) await delay(20)
  expect(await check()).toBe(true)
}

describe('getOrCreateMany under redisLockStrategy', () => {
  it('all hits: one findMany for the batch, no find, and no Redis command at all', async () => {
    const keys = slugs(30)
    await fixture.sql.unsafe(`insert into ${fixture.name} (slug, payload) select unnest($1::text[]), 'old'`, [
      keys,
    ] as never)
    const strategy = redisLockStrategy({ clients: client })
    const { store, calls } = counted(fixture.store)
    await client.config('RESETSTAT')
    const results = await getOrCreateMany(
      store,
      keys.map((slug) => ({ key: { slug }, defaults: () => ({ payload: 'never' }) })),
      strategy,
    )
    expect(results.map((result) => [result.row.slug, result.row.payload, result.created])).toEqual(
      keys.map((slug) => [slug, 'old', false]),
    )
    expect(calls).toMatchObject({ findMany: 1 })
    expect(calls.find).toBeUndefined()
    expect(await commandsRun()).toEqual({})
  })

  it('misses: every lock taken, one row and one created per key, defaults only for creates, every lock given back', async () => {
    const keys = slugs(40)
    await fixture.sql.unsafe(
      `insert into ${fixture.name} (slug, payload) values ('k03', 'old'), ('k17', 'old')`,
    )
    const strategy = redisLockStrategy({ clients: client })
    const called: string[] = []
    const results = await getOrCreateMany(
      fixture.store,
      [...keys, 'k05'].map((slug) => ({
        key: { slug },
        defaults: () => {
          called.push(slug)
          return { payload: `new ${slug}` }
        },
      })),
      strategy,
    )
    expect(results.map((result) => [result.row.slug, result.created])).toEqual([
      ...keys.map((slug) => [slug, slug !== 'k03' && slug !== 'k17']),
      ['k05', false],
    ])
    expect(String(results[40]?.row.id)).toBe(String(results[5]?.row.id))
    expect(called.sort()).toEqual(keys.filter((slug) => slug !== 'k03' && slug !== 'k17').sort())
    const rows = await fixture.countBySlug()
    expect(keys.map((slug) => rows.get(slug))).toEqual(keys.map(() => 1))
    await eventually(async () => (await lockKeysOf(client)).length === 0)
  })

  it('a lock another owner keeps for the whole budget: LOCK_UNAVAILABLE, nothing written, every lock of the batch given back', async () => {
    const keys = slugs(20)
    const held = await lockKeyOf('k07')
    await client.set(held, 'another-owner', 'PX', 30_000)
    const strategy = redisLockStrategy({ clients: client, acquireTimeoutMs: 300 })
    const called: string[] = []
    const error = await getOrCreateMany(
      fixture.store,
      keys.map((slug) => ({ key: { slug }, defaults: () => called.push(slug) && {} })),
      strategy,
    ).catch((e: unknown) => e)
    expect(isGetOrCreateError(error) && error.code).toBe('LOCK_UNAVAILABLE')
    expect((error as Error).message).toContain('getOrCreateMany could not take all 20 locks')
    expect(await fixture.total()).toBe(0)
    expect(called).toEqual([])
    // Given back before the error reached us: only the other owner's lock is left.
    expect(await lockKeysOf(client)).toEqual([held])
  })

  it('a lock held for a while: the batch waits for it and reads the row its holder made (its defaults not called)', async () => {
    const keys = slugs(12)
    const held = await lockKeyOf('k05')
    await client.set(held, 'another-owner', 'PX', 30_000)
    const holder = (async () => {
      await delay(250)
      await fixture.sql.unsafe(`insert into ${fixture.name} (slug, payload) values ('k05', 'holder')`)
      await client.del(held)
    })()
    const strategy = redisLockStrategy({ clients: client, acquireTimeoutMs: 10_000 })
    const called: string[] = []
    const started = performance.now()
    const results = await getOrCreateMany(
      fixture.store,
      keys.map((slug) => ({
        key: { slug },
        defaults: () => {
          called.push(slug)
          return { payload: 'batch' }
        },
      })),
      strategy,
    )
    await holder
    expect(performance.now() - started).toBeGreaterThanOrEqual(200)
    expect(results.map((result) => [result.row.slug, result.row.payload, result.created])).toEqual(
      keys.map((slug) => (slug === 'k05' ? [slug, 'holder', false] : [slug, 'batch', true])),
    )
    expect(called).not.toContain('k05')
    expect(await fixture.total()).toBe(keys.length)
  })

  it('a fenced store: every create fenced (one fence row per key), one row per key', async () => {
    const fencesName = scratchName('rl_many_fences')
    await fixture.sql.unsafe(pgFencesSql(fencesName))
    try {
      const store = drizzleStore(fixture.db, fixture.table, { fences: pgFencesTable(fencesName) })
      const strategy = redisLockStrategy({ clients: client })
      const keys = slugs(25)
      const results = await getOrCreateMany(
        store,
        keys.map((slug) => ({ key: { slug } })),
        strategy,
      )
      expect(results.filter((result) => result.created)).toHaveLength(25)
      expect(await fixture.total()).toBe(25)
      const [fences] = await fixture.sql.unsafe<{ n: number }[]>(
        `select count(*)::int as n from ${fencesName}`,
      )
      expect(fences?.n).toBe(25)
      const again = await getOrCreateMany(
        store,
        keys.map((slug) => ({ key: { slug } })),
        strategy,
      )
      expect(again.map((result) => result.created)).toEqual(keys.map(() => false))
    } finally {
      await fixture.sql.unsafe(`drop table if exists ${fencesName}`)
    }
  })

  it('a store bound to an open transaction: LOCK_IN_TRANSACTION before any I/O', async () => {
    const strategy = redisLockStrategy({ clients: client })
    await client.config('RESETSTAT')
    const error = await fixture.db
      .transaction(async (tx) =>
        getOrCreateMany(drizzleStore(tx, fixture.table), [{ key: { slug: 'a' } }], strategy),
      )
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(LockInTransactionError)
    expect(await fixture.total()).toBe(0)
    expect(await commandsRun()).toEqual({})
  })
})
