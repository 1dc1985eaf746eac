/**
 * The race the strategy exists for, on MariaDB (mysql2): a table with no unique index on its key, 200 keys ×
 * 16 callers, 16 calls in flight on a pool of 16 (no call waits for a connection), one strategy per caller so
 * that every caller contends for the Redis lock itself, as callers in separate processes do. Through the
 * unfenced store as the server is (MariaDB 10.5+, `INSERT … RETURNING`), and as MySQL and MariaDB before 10.5
 * see it (no `RETURNING`: the row read back by the insert's `insertId` and the key), the path checked from the
 * statements the store sent; the latter also through one strategy, as an application uses it. The same race
 * through naive find-then-insert makes duplicates: the race is real.
 */
import { getOrCreate } from '@getorcreate/core'
import { type DrizzleStore, drizzleStore } from '@getorcreate/core/drizzle'
import {
  contendedKeys,
  mysqlUrl,
  raceViolations,
  runConcurrently,
  scratchName,
  shuffledInBlocks,
  type TimedRaceOutcome,
} from '@getorcreate/test-support'
import { RedisNode } from '@getorcreate/test-support/redis-nodes'
import { drizzle } from 'drizzle-orm/mysql2'
import type { Redis } from 'ioredis'
import mysql from 'mysql2/promise'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
// The store's server-version option (its no-RETURNING path on a MariaDB that has RETURNING) is not public:
// core's own tests reach it the same way (conformance-mariadb-no-returning.test.ts).
import { createMySqlStore } from '../../core/src/drizzle/mysql/mysql-store.js'
import { type RedisLockStrategy, redisLockStrategy } from '../src/index.js'
import { mysqlItemsTable } from './support/mysql.js'

const KEYS = 200
const CALLERS = 16
/** Calls in flight, and the size of the store's pool: every call in flight has a connection. */
const POOL = 16
/** Blocks of 2 keys (32 calls) shuffled within themselves: with 16 in flight, about 8 callers per key at once. */
const KEYS_PER_BLOCK = 2
const SEED = 23
/** A server version without `INSERT … RETURNING`, as core's no-RETURNING tests give it. */
const NO_RETURNING = '10.4.32-MariaDB'
const slugs = Array.from({ length: KEYS }, (_, i) => `key-${i}`)

/** The statements a store's drizzle database sent, as text, lower-cased. */
type Log = string[]

/** The no-RETURNING read back of an inserted row: a locking read by the insert's id (and the key). */
const readBack = /`id` = \?/

/** The store's reads of a key under the lock (`find(key, { fresh: true })`: a locking read by the key alone). */
function freshReads(log: Log): string[] {
  return log.filter((query) => query.includes('lock in share mode') && !readBack.test(query))
}

/** What one caller saw: its key, the row's id and payload, whether it created it, and when it ran. */
type Outcome = TimedRaceOutcome & { readonly payload: string | null | undefined }

/**
 * A fresh table with no unique index on `slug` (a plain index only), the store's pool of {@link POOL} (its
 * statements logged) and a pool of 2 to count and drop.
 */
async function raceTable() {
  const name = scratchName('rl_my_race')
  const pool = mysql.createPool({ uri: mysqlUrl(), connectionLimit: POOL, maxIdle: POOL })
  const raw = mysql.createPool({ uri: mysqlUrl(), connectionLimit: 2 })
  await raw.query(
    `create table ${name} (id int auto_increment primary key, slug varchar(100) not null,
      payload varchar(100), key slug_index (slug)) engine = InnoDB`,
  )
  const log: Log = []
  const db = drizzle(pool, {
    logger: { logQuery: (query) => void log.push(query.toLowerCase()) },
    mode: 'default',
  })
  const table = mysqlItemsTable(name)
  const rows = async () => {
    const [found] = (await raw.query(`select id, slug, payload from ${name}`)) as unknown as [
      { id: number; slug: string; payload: string | null }[],
    ]
    return found
  }
  return {
    db,
    table,
    log,
    rows,
    async rowsByKey(): Promise<Map<string, number>> {
      const counts = new Map<string, number>()
      for (const row of await rows()) counts.set(row.slug, (counts.get(row.slug) ?? 0) + 1)
      return counts
    },
    async drop(): Promise<void> {
      try {
        await raw.query(`drop table if exists ${name}`)
      } finally {
        await pool.end()
        await raw.end()
      }
    },
  }
}

/**
 * Every caller of every key, {@link POOL} at once, in blocks of keys; `call(slug, n)` for the `n`-th caller of
 * `slug`. Fails the test on any error, or when fewer than 90 % of the keys had two callers in flight at the
 * same time; returns each call's outcome with when it ran.
 */
async function runRace(
  call: (slug: string, n: number) => Promise<{ id: unknown; created: boolean; payload?: string | null }>,
): Promise<Outcome[]> {
  const calls = shuffledInBlocks(slugs, CALLERS, KEYS_PER_BLOCK, SEED)
  const seen = new Map<string, number>()
  const nth = calls.map((slug) => {
    const n = seen.get(slug) ?? 0
    seen.set(slug, n + 1)
    return n
  })
  const { results, errors } = await runConcurrently(calls, POOL, async (slug, index) => {
    const start = performance.now()
    const { id, created, payload } = await call(slug, nth[index] as number)
    return { key: slug, id, created, payload, start, end: performance.now() }
  })
  expect(errors.map(String)).toEqual([])
  expect(results).toHaveLength(KEYS * CALLERS)
  const outcomes = results as Outcome[]
  expect(contendedKeys(outcomes).size).toBeGreaterThanOrEqual(KEYS * 0.9)
  return outcomes
}

/**
 * The race through `redisLockStrategy`, one strategy per caller, over `store`: one row, one `created: true`
 * and one id per key, that id the one row's, and the row holding its creator's `defaults`.
 */
async function lockedRace(
  fixture: Awaited<ReturnType<typeof raceTable>>,
  store: DrizzleStore<ReturnType<typeof mysqlItemsTable>>,
  strategies: readonly RedisLockStrategy[],
): Promise<void> {
  const outcomes = await runRace(async (slug, n) => {
    const strategy = strategies[n % strategies.length] as RedisLockStrategy
    const { row, created } = await getOrCreate(store, { slug }, { payload: `caller ${n}` }, strategy)
    expect(row.slug).toBe(slug)
    return { id: row.id, created, payload: row.payload }
  })
  const rowsByKey = await fixture.rowsByKey()
  expect(raceViolations({ keys: slugs, callersPerKey: CALLERS, outcomes, rowsByKey })).toEqual([])
  // Every caller was given the row the table holds (its id), the one its creator wrote.
  const stored = new Map((await fixture.rows()).map((row) => [row.slug, row]))
  for (const outcome of outcomes) expect(outcome.id).toBe(stored.get(outcome.key)?.id)
  for (const outcome of outcomes) {
    if (outcome.created) expect(outcome.payload).toBe(stored.get(outcome.key)?.payload)
  }
}

describe(`race on MariaDB: ${KEYS} keys × ${CALLERS} callers, ${POOL} in flight on a pool of ${POOL}, no unique index`, () => {
  let node: RedisNode
  let client: Redis
  beforeAll(async () => {
    node = await RedisNode.start()
    client = await node.client()
  })
  afterAll(async () => {
    await node.stop()
  })

  /** One strategy per caller of a key: {@link CALLERS} independent lock contenders. */
  const contenders = () =>
    Array.from({ length: CALLERS }, () => redisLockStrategy({ clients: client, acquireTimeoutMs: 60_000 }))

  it('naive find-then-insert creates duplicates (the race is real, the test can fail)', async () => {
    const fixture = await raceTable()
    try {
      const store = drizzleStore(fixture.db, fixture.table)
      const outcomes = await runRace(async (slug) => {
        const found = await store.find({ slug })
        if (found) return { id: found.id, created: false }
        const row = await store.insert({ slug, payload: 'naive' })
        return { id: row.id, created: true }
      })
      const rowsByKey = await fixture.rowsByKey()
      expect(
        raceViolations({ keys: slugs, callersPerKey: CALLERS, outcomes, rowsByKey }).length,
      ).toBeGreaterThan(0)
      expect((await fixture.rows()).length).toBeGreaterThan(KEYS)
    } finally {
      await fixture.drop()
    }
  })

  it('redisLockStrategy over drizzleStore, INSERT … RETURNING: one row, one created:true, one id per key', async () => {
    const fixture = await raceTable()
    try {
      await lockedRace(fixture, drizzleStore(fixture.db, fixture.table), contenders())
      // The path taken: every row came back from its INSERT … RETURNING, none was read back.
      const inserts = fixture.log.filter((query) => query.startsWith('insert'))
      expect(inserts).toHaveLength(KEYS)
      for (const insert of inserts) expect(insert).toContain(' returning ')
      expect(fixture.log.filter((query) => readBack.test(query))).toEqual([])
      // Callers queued on the lock in Redis: besides each key's creator, callers that waited read under it.
      expect(freshReads(fixture.log).length).toBeGreaterThan(KEYS)
    } finally {
      await fixture.drop()
    }
  })

  it(`redisLockStrategy over the store as MariaDB ${NO_RETURNING} sees it, no RETURNING (read back by insertId): one row, one created:true, one id per key`, async () => {
    const fixture = await raceTable()
    try {
      const store = createMySqlStore(fixture.db, fixture.table, { version: NO_RETURNING })
      await lockedRace(fixture, store, contenders())
      // The path taken: plain INSERTs, each row read back with a locking read by the id the INSERT gave and the key.
      expect(fixture.log.filter((query) => query.includes('returning'))).toEqual([])
      expect(fixture.log.filter((query) => query.startsWith('insert'))).toHaveLength(KEYS)
      const readBacks = fixture.log.filter(
        (query) => readBack.test(query) && query.includes('lock in share mode'),
      )
      expect(readBacks).toHaveLength(KEYS)
      expect(freshReads(fixture.log).length).toBeGreaterThan(KEYS)
    } finally {
      await fixture.drop()
    }
  })

  it(`the same, no RETURNING, through one strategy (callers of a key in this process share its lock): one row, one created:true, one id per key`, async () => {
    const fixture = await raceTable()
    try {
      const store = createMySqlStore(fixture.db, fixture.table, { version: NO_RETURNING })
      await lockedRace(fixture, store, [redisLockStrategy({ clients: client, acquireTimeoutMs: 60_000 })])
      expect(fixture.log.filter((query) => query.includes('returning'))).toEqual([])
      expect(fixture.log.filter((query) => query.startsWith('insert'))).toHaveLength(KEYS)
      expect(fixture.log.filter((query) => readBack.test(query))).toHaveLength(KEYS)
      // Every key's creator read it under the lock first.
      expect(freshReads(fixture.log).length).toBeGreaterThanOrEqual(KEYS)
    } finally {
      await fixture.drop()
    }
  })
})
