/**
 * getOrCreateMany's batch inserts, written as text rather than through drizzle's builder, still tell drizzle's
 * query cache that the table changed (`onMutate`), as drizzle's own insert does: on Postgres (postgres.js) and
 * MariaDB (mysql2), with a cache that counts what it is told.
 */
import { getOrCreateMany, type Store } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { databaseUrl, mysqlUrl, scratchName } from '@getorcreate/test-support'
import { Cache, type MutationOption } from 'drizzle-orm/cache/core'
import { int, mysqlTable, varchar } from 'drizzle-orm/mysql-core'
import { drizzle as drizzleMysql } from 'drizzle-orm/mysql2'
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePg } from 'drizzle-orm/postgres-js'
import mysql from 'mysql2/promise'
import postgres from 'postgres'
import { expect, test } from 'vitest'

/** A cache that holds nothing and records every mutation it is told of. */
class CountingCache extends Cache {
  readonly mutations: MutationOption[] = []
  override strategy(): 'all' {
    return 'all'
  }
  override async get(): Promise<undefined> {
    return undefined
  }
  override async put(): Promise<void> {}
  override async onMutate(params: MutationOption): Promise<void> {
    this.mutations.push(params)
  }
}

/** A batch of three new keys through `store` creates them all, and names table `name` to `cache`. */
async function expectNamed(store: Store<Record<string, unknown>>, cache: CountingCache, name: string) {
  const from = cache.mutations.length
  const results = await getOrCreateMany(
    store,
    ['a', 'b', 'c'].map((slug) => ({ key: { slug } })),
  )
  expect(results.every((result) => result.created)).toBe(true)
  const touched = cache.mutations
    .slice(from)
    .flatMap((mutation) => [mutation.tables ?? []].flat().map(String))
  expect(touched).toContain(name)
}

test('Postgres: a batch insert names its table to the cache', async () => {
  const name = scratchName('batch_cache')
  const sql = postgres(databaseUrl(), { max: 2, onnotice: () => undefined })
  try {
    await sql.unsafe(`create table ${name} (id serial primary key, slug text not null unique, label text)`)
    const cache = new CountingCache()
    const table = pgTable(name, {
      id: serial('id').primaryKey(),
      slug: text('slug').notNull(),
      label: text('label'),
    })
    const store = drizzleStore(drizzlePg(sql, { cache }), table) as unknown as Store<Record<string, unknown>>
    await expectNamed(store, cache, name)
  } finally {
    await sql.unsafe(`drop table if exists ${name}`)
    await sql.end({ timeout: 5 })
  }
})

test('MariaDB: a batch insert names its table to the cache', async () => {
  const name = scratchName('batch_cache')
  const pool = mysql.createPool({ uri: mysqlUrl(), connectionLimit: 2 })
  try {
    await pool.query(
      `create table ${name} (id int auto_increment primary key, slug varchar(64) not null unique, label varchar(64))`,
    )
    const cache = new CountingCache()
    const table = mysqlTable(name, {
      id: int('id').primaryKey().autoincrement(),
      slug: varchar('slug', { length: 64 }).notNull(),
      label: varchar('label', { length: 64 }),
    })
    const store = drizzleStore(drizzleMysql(pool, { cache, mode: 'default' }), table) as unknown as Store<
      Record<string, unknown>
    >
    await expectNamed(store, cache, name)
  } finally {
    await pool.query(`drop table if exists ${name}`)
    await pool.end()
  }
})
