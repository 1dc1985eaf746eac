/**
 * Two declarations of one table are one table to the lock: `pgTable(t)` on a connection whose `search_path`
 * resolves it to schema `s`, and `pgSchema(s).table(t)`; `mysqlTable(t)` and `mysqlSchema(database).table(t)`.
 * Their stores' `name`s differ (each as declared, for messages), but the lock keys come from
 * `Store.lockIdentity`'s `table`, the table the database resolves: writers through either declaration exclude
 * each other. Tables without a unique index (only the lock keeps one row per key), real concurrency (pools as
 * large as the callers in flight), one strategy per caller (independent lock contenders, as from separate
 * processes), and the control run without `lockIdentity` that shows the race is real.
 */
import { setTimeout as delay } from 'node:timers/promises'
import { getOrCreate, type Store } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import {
  databaseUrl,
  mysqlUrl,
  type RaceOutcome,
  raceViolations,
  redisUrl,
  scratchName,
} from '@getorcreate/test-support'
import { int as myInt, mysqlSchema, mysqlTable, varchar as myVarchar } from 'drizzle-orm/mysql-core'
import { drizzle as drizzleMysql } from 'drizzle-orm/mysql2'
import { pgSchema, pgTable, serial, text } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePg } from 'drizzle-orm/postgres-js'
import { Redis } from 'ioredis'
import mysql from 'mysql2/promise'
import postgres from 'postgres'
import { afterAll, describe, expect, it } from 'vitest'
import { redisLockStrategy } from '../src/index.js'

const KEYS = 8
const CALLERS = 4 // per key, half through each declaration
const slugs = Array.from({ length: KEYS }, (_, i) => `key-${i}`)
/** The largest number of calls in flight at once: every caller of every key. */
const IN_FLIGHT = KEYS * CALLERS

type Row = { id: number; slug: string }
type AnyStore = Store<Row, { slug: string }, { slug: string }>

const redis = new Redis(redisUrl(), { enableOfflineQueue: false, maxRetriesPerRequest: 0 })
redis.on('error', () => undefined)
afterAll(() => redis.disconnect())

/**
 * The same store without `lockIdentity`: its lock keys then come from its declared `name`. Its insert waits
 * 200 ms first, so that the two lock groups' holders both read before either writes even on a loaded machine
 * (the control run must show the race it is there to show, not depend on luck).
 */
function withoutIdentity(store: AnyStore): AnyStore {
  return {
    name: store.name,
    find: store.find.bind(store),
    insert: async (values, opts) => {
      await delay(200)
      return store.insert(values, opts)
    },
  }
}

/**
 * Every caller of every key at once, alternating between the two stores, each with its own strategy; the
 * race's violations (rows per key, created flags, ids).
 */
async function race(
  stores: readonly [AnyStore, AnyStore],
  countBySlug: () => Promise<Map<string, number>>,
): Promise<string[]> {
  const keyPrefix = `getorcreate:lock:${scratchName('rl_decl')}:`
  const outcomes: RaceOutcome[] = await Promise.all(
    slugs.flatMap((slug) =>
      Array.from({ length: CALLERS }, async (_, i) => {
        const strategy = redisLockStrategy({ clients: redis, keyPrefix, acquireTimeoutMs: 30_000 })
        const { row, created } = await getOrCreate(stores[i % 2]!, { slug }, {}, strategy)
        return { key: slug, id: row.id, created }
      }),
    ),
  )
  return raceViolations({ keys: slugs, callersPerKey: CALLERS, outcomes, rowsByKey: await countBySlug() })
}

describe('two declarations of one table take the same locks', () => {
  it('Postgres: pgTable(t) under search_path = s, and pgSchema(s).table(t)', async () => {
    const schema = scratchName('rl_s')
    const admin = postgres(databaseUrl(), { max: 2, onnotice: () => undefined })
    // Each store's pool holds every call in flight through it (half of them).
    const viaPath = postgres(databaseUrl(), {
      max: IN_FLIGHT / 2,
      onnotice: () => undefined,
      connection: { search_path: schema },
    })
    const qualified = postgres(databaseUrl(), { max: IN_FLIGHT / 2, onnotice: () => undefined })
    await admin.unsafe(`create schema ${schema}`)
    try {
      const columns = () => ({ id: serial('id').primaryKey(), slug: text('slug').notNull() })
      const run = async (table: string, identity: boolean) => {
        await admin.unsafe(`create table ${schema}.${table} (id serial primary key, slug text not null)`)
        const a = drizzleStore(drizzlePg(viaPath), pgTable(table, columns())) as unknown as AnyStore
        const b = drizzleStore(
          drizzlePg(qualified),
          pgSchema(schema).table(table, columns()),
        ) as unknown as AnyStore
        expect(a.name).not.toBe(b.name) // as declared: `pg:public.t` and `pg:s.t`
        const stores = identity ? ([a, b] as const) : ([withoutIdentity(a), withoutIdentity(b)] as const)
        return race(stores, async () => {
          const rows = await admin.unsafe<{ slug: string; n: number }[]>(
            `select slug, count(*)::int as n from ${schema}.${table} group by slug`,
          )
          return new Map(rows.map((row) => [row.slug, row.n]))
        })
      }
      expect(await run('items', true)).toEqual([])
      expect((await run('control', false)).length).toBeGreaterThan(0) // the two names lock apart
    } finally {
      await admin.unsafe(`drop schema ${schema} cascade`)
      await Promise.all([admin, viaPath, qualified].map((sql) => sql.end({ timeout: 5 })))
    }
  })

  it('MariaDB: mysqlTable(t) and mysqlSchema(database).table(t)', async () => {
    const admin = mysql.createPool({ uri: mysqlUrl(), connectionLimit: 2 })
    const pool = mysql.createPool({ uri: mysqlUrl(), connectionLimit: IN_FLIGHT, maxIdle: IN_FLIGHT })
    const tables: string[] = []
    try {
      const [[current]] = (await admin.query('select database() as db')) as unknown as [{ db: string }[]]
      const database = current!.db
      const db = drizzleMysql(pool, { mode: 'default' })
      const columns = () => ({
        id: myInt('id').autoincrement().primaryKey(),
        slug: myVarchar('slug', { length: 100 }).notNull(),
      })
      const run = async (identity: boolean) => {
        const table = scratchName('rl_decl')
        tables.push(table)
        // utf8mb4_bin: the key compares as JavaScript does, so only the table's name is in question here.
        await admin.query(
          `create table ${table} (id int auto_increment primary key, slug varchar(100) character set utf8mb4 collate utf8mb4_bin not null)`,
        )
        const a = drizzleStore(db, mysqlTable(table, columns())) as unknown as AnyStore
        const b = drizzleStore(db, mysqlSchema(database).table(table, columns())) as unknown as AnyStore
        expect(a.name).not.toBe(b.name) // as declared: `mysql:t` and `mysql:db.t`
        const stores = identity ? ([a, b] as const) : ([withoutIdentity(a), withoutIdentity(b)] as const)
        return race(stores, async () => {
          const [rows] = (await admin.query(
            `select slug, count(*) as n from ${table} group by slug`,
          )) as unknown as [{ slug: string; n: number }[]]
          return new Map(rows.map((row) => [row.slug, Number(row.n)]))
        })
      }
      expect(await run(true)).toEqual([])
      expect((await run(false)).length).toBeGreaterThan(0) // the two names lock apart
    } finally {
      for (const table of tables) await admin.query(`drop table if exists ${table}`)
      await Promise.all([admin.end(), pool.end()])
    }
  })
})
