/**
 * A trigger that rewrites the key before each insert (issue 11), under the lock strategy, on tables without a
 * unique index (its case): no caller gets `created: true` with a row for another key, and no call leaves a
 * row behind: without the check every call would add one more row for the rewritten key.
 */
import { getOrCreate, isGetOrCreateError, type Store } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { databaseUrl, mysqlUrl, scratchName } from '@getorcreate/test-support'
import { RedisNode } from '@getorcreate/test-support/redis-nodes'
import { int, mysqlTable, varchar } from 'drizzle-orm/mysql-core'
import { drizzle as drizzleMysql } from 'drizzle-orm/mysql2'
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePg } from 'drizzle-orm/postgres-js'
import mysql from 'mysql2/promise'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { redisLockStrategy } from '../src/index.js'

/** Callers in flight together; each pool is larger. */
const CALLERS = 8
const POOL = 10

type AnyStore = Store<{ slug: string }, { slug: string }, { slug: string }>

let node: RedisNode
beforeAll(async () => {
  node = await RedisNode.start()
})
afterAll(() => node.stop())

/** `CALLERS` callers at once; each outcome as `created` and the row's key, or the error's code. */
async function race(store: AnyStore, slug: string): Promise<unknown[]> {
  const strategy = redisLockStrategy({ clients: await node.client(), ttlMs: 5_000 })
  const settled = await Promise.allSettled(
    Array.from({ length: CALLERS }, () => getOrCreate(store, { slug }, {}, strategy)),
  )
  return settled.map((result) => {
    if (result.status === 'fulfilled') return { created: result.value.created, slug: result.value.row.slug }
    if (!isGetOrCreateError(result.reason)) throw result.reason
    return result.reason.code
  })
}

describe('a BEFORE INSERT trigger that rewrites the key, on Postgres (postgres.js)', () => {
  const client = postgres(databaseUrl(), { max: POOL, onnotice: () => undefined })
  const names: string[] = []
  afterAll(async () => {
    try {
      for (const name of names) {
        await client.unsafe(`drop table if exists ${name}; drop function if exists ${name}_fn()`)
      }
    } finally {
      await client.end({ timeout: 5 })
    }
  })

  async function table(
    body: string,
  ): Promise<{ store: AnyStore; rows: () => Promise<string[]>; name: string }> {
    const name = scratchName('rl_kr')
    names.push(name)
    await client.unsafe(`create table ${name} (id serial primary key, slug text not null);
      create function ${name}_fn() returns trigger language plpgsql as $$ begin ${body}; return new; end $$;
      create trigger ${name}_before before insert on ${name} for each row execute function ${name}_fn()`)
    const store = drizzleStore(
      drizzlePg(client),
      pgTable(name, { id: serial('id').primaryKey(), slug: text('slug').notNull() }),
    ) as unknown as AnyStore
    const rows = async () =>
      (await client.unsafe(`select slug from ${name} order by id`)).map((row) => row.slug)
    return { store, rows, name }
  }

  test('every caller gets KEY_REWRITTEN and nothing is written, alone and concurrently', async () => {
    const { store, rows } = await table('new.slug := lower(new.slug)')
    expect(await race(store, 'Bob')).toEqual(Array(CALLERS).fill('KEY_REWRITTEN'))
    expect(await race(store, 'Bob')).toEqual(Array(CALLERS).fill('KEY_REWRITTEN'))
    expect(await rows()).toEqual([])
  })

  test('with the rewritten row already there: KEY_REWRITTEN, never a second row', async () => {
    const { store, rows, name } = await table("new.slug := new.slug || '-x'")
    await client.unsafe(`insert into ${name} (slug) values ('Bob')`)
    expect(await race(store, 'Bob')).toEqual(Array(CALLERS).fill('KEY_REWRITTEN'))
    expect(await rows()).toEqual(['Bob-x'])
  })
})

describe('a BEFORE INSERT trigger that rewrites the key, on MariaDB', () => {
  const pool = mysql.createPool({ uri: mysqlUrl(), connectionLimit: POOL, maxIdle: POOL })
  const names: string[] = []
  afterAll(async () => {
    try {
      if (names.length > 0) await pool.query(`drop table if exists ${names.join(', ')}`)
    } finally {
      await pool.end()
    }
  })

  async function table(): Promise<{ store: AnyStore; rows: () => Promise<string[]>; name: string }> {
    const name = scratchName('rl_kr')
    names.push(name)
    await pool.query(
      `create table ${name} (id int auto_increment primary key, slug varchar(64) not null, key (slug))`,
    )
    await pool.query(
      `create trigger ${name}_before before insert on ${name} for each row set new.slug = concat(new.slug, '-x')`,
    )
    const store = drizzleStore(
      drizzleMysql(pool, { mode: 'default' }),
      mysqlTable(name, {
        id: int('id').autoincrement().primaryKey(),
        slug: varchar('slug', { length: 64 }).notNull(),
      }),
    ) as unknown as AnyStore
    const rows = async () =>
      ((await pool.query(`select slug from ${name} order by id`))[0] as { slug: string }[]).map(
        (row) => row.slug,
      )
    return { store, rows, name }
  }

  test('every caller gets KEY_REWRITTEN and nothing is written, alone and concurrently', async () => {
    const { store, rows } = await table()
    expect(await race(store, 'Bob')).toEqual(Array(CALLERS).fill('KEY_REWRITTEN'))
    expect(await rows()).toEqual([])
  })

  test('with the rewritten row already there: KEY_REWRITTEN, never a second row', async () => {
    const { store, rows, name } = await table()
    await pool.query(`insert into ${name} (slug) values ('Bob')`)
    expect(await race(store, 'Bob')).toEqual(Array(CALLERS).fill('KEY_REWRITTEN'))
    expect(await rows()).toEqual(['Bob-x'])
  })
})
