/**
 * getOrCreateMany on SQLite in three statements (findMany, one multi-row insert, its read back): statement
 * counts, keys SQLite equates but JavaScript does not (a NOCASE column, a REAL one), a table without a
 * declared primary key (key by key), and a transaction's rollback. The multi-process race is in
 * sqlite-processes.test.ts.
 */
import { join } from 'node:path'
import { constraintStrategy, getOrCreateMany } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { integer, real, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import { afterEach, beforeEach, expect, test } from 'vitest'
import { openSqlite, type SqliteHarness, tempDir } from './support/sqlite.js'

const strategy = constraintStrategy({ singleFlight: false })

let temp: ReturnType<typeof tempDir>
let h: SqliteHarness
beforeEach(() => {
  temp = tempDir()
  h = openSqlite(join(temp.dir, 'batch.db'))
})
afterEach(() => {
  h.close()
  temp.remove()
})

const tags = (name: string) =>
  sqliteTable(name, { id: integer('id').primaryKey(), slug: text('slug').notNull(), label: text('label') })

/** The statements drizzle sent on table `name` since `from`. */
const onTable = (name: string, from: number) =>
  h.queries.slice(from).filter((query) => query.includes(`"${name}"`))

test('300 keys, half existing: three statements on the table, defaults only for the 150 created', async () => {
  h.client.exec('create table t (id integer primary key, slug text not null unique, label text)')
  h.client.exec(`with recursive n(i) as (select 0 union all select i + 1 from n where i < 149)
    insert into t (slug, label) select 'k' || (i * 2), 'old' from n`)
  const store = drizzleStore(h.db, tags('t'))
  await getOrCreateMany(store, [{ key: { slug: 'warm-up' } }], strategy)
  const from = h.queries.length
  let defaultsCalls = 0
  const results = await getOrCreateMany(
    store,
    Array.from({ length: 300 }, (_, i) => ({
      key: { slug: `k${i}` },
      defaults: () => {
        defaultsCalls++
        return { label: 'new' }
      },
    })),
    strategy,
  )
  expect(onTable('t', from)).toHaveLength(3)
  expect(defaultsCalls).toBe(150)
  expect(results.map((r) => r.created)).toEqual(Array.from({ length: 300 }, (_, i) => i % 2 === 1))
  expect(results.every((r, i) => r.row.slug === `k${i}` && r.row.label === (i % 2 ? 'new' : 'old'))).toBe(
    true,
  )
  // Again: every key found, in one statement.
  const again = h.queries.length
  const second = await getOrCreateMany(
    store,
    Array.from({ length: 300 }, (_, i) => ({ key: { slug: `k${i}` } })),
    strategy,
  )
  expect(onTable('t', again)).toHaveLength(1)
  expect(second.map((r) => [r.row.id, r.created])).toEqual(results.map((r) => [r.row.id, false]))
  expect(h.other.prepare('select count(*) as n from t').get()).toEqual({ n: 301 })
})

test('a NOCASE column: keys that differ only in case are one row, created by the key whose values were written', async () => {
  h.client.exec(
    'create table t (id integer primary key, slug text collate nocase not null unique, label text)',
  )
  h.client.exec(`insert into t (slug, label) values ('Old', 'old')`)
  const store = drizzleStore(h.db, tags('t'))
  const slugs = ['bob', 'BOB', 'Bob', 'OLD', 'new']
  await getOrCreateMany(store, [{ key: { slug: 'warm-up' } }], strategy)
  const from = h.queries.length
  const results = await getOrCreateMany(
    store,
    slugs.map((slug) => ({ key: { slug }, defaults: { label: `for ${slug}` } })),
    strategy,
  )
  // One row for the three spellings of bob, one id among them, one created:true: the key stored.
  const bobs = results.slice(0, 3)
  expect(new Set(bobs.map((r) => r.row.id)).size).toBe(1)
  expect(bobs.filter((r) => r.created)).toHaveLength(1)
  const creator = slugs[results.findIndex((r) => r.created && r.row.slug.toLowerCase() === 'bob')]
  expect(bobs[0]?.row.slug).toBe(creator)
  expect(bobs[0]?.row.label).toBe(`for ${creator}`)
  expect(results.slice(3).map((r) => [r.row.slug, r.created])).toEqual([
    ['Old', false],
    ['new', true],
  ])
  // Settled in the batch's three statements: the read met 'OLD' and the read back met every bob, with the
  // column's collation (a binary comparison would leave them to key-by-key statements after).
  expect(onTable('t', from)).toHaveLength(3)
  expect(h.other.prepare('select count(*) as n from t').get()).toEqual({ n: 4 })
})

test('a REAL column: a key is compared with the column affinity applied, as find compares it', async () => {
  h.client.exec('create table t (id integer primary key, amount real not null unique, label text)')
  h.client.exec(`insert into t (amount, label) values (1.5, 'old')`)
  const table = sqliteTable('t', {
    id: integer('id').primaryKey(),
    amount: real('amount').notNull(),
    label: text('label'),
  })
  const store = drizzleStore(h.db, table)
  const results = await getOrCreateMany(
    store,
    [1.5, 2, 2.25].map((amount) => ({ key: { amount }, defaults: { label: 'new' } })),
    strategy,
  )
  expect(results.map((r) => [r.row.amount, r.created, r.row.label])).toEqual([
    [1.5, false, 'old'],
    [2, true, 'new'],
    [2.25, true, 'new'],
  ])
})

test('a table without a declared primary key is settled key by key (no batch members)', async () => {
  h.client.exec('create table t (slug text not null unique, label text)')
  const table = sqliteTable('t', { slug: text('slug').notNull(), label: text('label') })
  const store = drizzleStore(h.db, table)
  expect(store.findMany).toBeUndefined()
  expect(store.insertManyIfAbsentAtomically).toBeUndefined()
  const results = await getOrCreateMany(
    store,
    ['a', 'b', 'a'].map((slug) => ({ key: { slug } })),
    strategy,
  )
  expect(results.map((r) => [r.row.slug, r.created])).toEqual([
    ['a', true],
    ['b', true],
    ['a', false],
  ])
})

test('inside a transaction: the batch is part of it, and a rollback leaves nothing', async () => {
  h.client.exec('create table t (id integer primary key, slug text not null unique, label text)')
  const store = drizzleStore(h.db, tags('t'))
  await getOrCreateMany(store, [{ key: { slug: 'before' } }], strategy)
  h.client.exec('begin')
  try {
    const results = await getOrCreateMany(
      store,
      ['x', 'y', 'before'].map((slug) => ({ key: { slug } })),
      strategy,
    )
    expect(results.map((r) => [r.row.slug, r.created])).toEqual([
      ['x', true],
      ['y', true],
      ['before', false],
    ])
    // Not committed: another connection does not see them yet.
    expect(h.other.prepare('select count(*) as n from t').get()).toEqual({ n: 1 })
  } finally {
    h.client.exec('rollback')
  }
  expect(h.other.prepare('select slug from t').all()).toEqual([{ slug: 'before' }])
})
