/**
 * getOrCreateMany on MariaDB (mysql2) with the constraint strategy: one read of every key, one multi-row
 * INSERT of the keys that missed, one read back; keys the server equates but JavaScript does not (a
 * case-insensitive PAD SPACE collation, a rounding decimal column), whose insert the server refuses whole, then
 * settled one at a time; a duplicate from a racer; a transaction's rollback.
 */
import { setTimeout as delay } from 'node:timers/promises'
import { constraintStrategy, getOrCreate, getOrCreateMany, isGetOrCreateError } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { sql } from 'drizzle-orm'
import { decimal, int, mysqlTable, varchar } from 'drizzle-orm/mysql-core'
import { afterEach, beforeEach, expect, test } from 'vitest'
import { type MysqlHarness, openMysql } from './support/mysql.js'

const strategy = constraintStrategy({ singleFlight: false })

let h: MysqlHarness
beforeEach(() => {
  h = openMysql(4)
})
afterEach(async () => {
  await h.close()
})

const tags = (name: string) =>
  mysqlTable(name, {
    id: int('id').primaryKey().autoincrement(),
    slug: varchar('slug', { length: 64 }).notNull(),
    label: varchar('label', { length: 64 }),
  })

/** The statements drizzle sent on table `name` since `from`, by their first word. */
const onTable = (name: string, from: number) =>
  h.queries
    .slice(from)
    .filter((query) => query.includes(`\`${name}\``))
    .map((query) => query.trim().replace(/^\(/, '').split(/\s/)[0]?.toLowerCase())

test('300 keys, half existing: one read, one insert, one read back; defaults only for the 150 created', async () => {
  const name = h.table('batch')
  await h.exec(
    `create table ${name} (id int auto_increment primary key, slug varchar(64) not null unique, label varchar(64))`,
  )
  await h.exec(
    `insert into ${name} (slug, label) values ${Array.from({ length: 150 }, (_, i) => `('k${i * 2}', 'old')`).join(', ')}`,
  )
  const store = drizzleStore(h.db, tags(name))
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
  expect(onTable(name, from)).toEqual(['select', 'insert', 'select'])
  expect(defaultsCalls).toBe(150)
  expect(results.map((r) => r.created)).toEqual(Array.from({ length: 300 }, (_, i) => i % 2 === 1))
  expect(results.every((r, i) => r.row.slug === `k${i}` && r.row.label === (i % 2 ? 'new' : 'old'))).toBe(
    true,
  )
  const again = h.queries.length
  const second = await getOrCreateMany(
    store,
    Array.from({ length: 300 }, (_, i) => ({ key: { slug: `k${i}` } })),
    strategy,
  )
  expect(onTable(name, again)).toEqual(['select'])
  expect(second.map((r) => [r.row.id, r.created])).toEqual(results.map((r) => [r.row.id, false]))
  expect(await h.rows(`select count(*) as n from ${name}`)).toEqual([{ n: 301 }])
})

test('a case-insensitive PAD SPACE collation: spellings of one key are one row, one created, one id', async () => {
  const name = h.table('batch_ci')
  await h.exec(
    `create table ${name} (id int auto_increment primary key, slug varchar(64) collate utf8mb4_general_ci not null unique, label varchar(64))`,
  )
  await h.exec(`insert into ${name} (slug, label) values ('Old', 'old')`)
  const store = drizzleStore(h.db, tags(name))
  const slugs = ['bob', 'BOB', 'Bob ', 'OLD', 'new', 'old  ']
  const results = await getOrCreateMany(
    store,
    slugs.map((slug) => ({ key: { slug }, defaults: { label: `for ${slug}` } })),
    strategy,
  )
  const bobs = results.slice(0, 3)
  expect(new Set(bobs.map((r) => r.row.id)).size).toBe(1)
  // The multi-row insert is refused whole (the spellings collide); one at a time, in key order, the first
  // inserts: the row stored is the creator's.
  expect(bobs.filter((r) => r.created)).toHaveLength(1)
  const creator = slugs[results.findIndex((r) => r.created && r.row.slug.trim().toLowerCase() === 'bob')]
  expect(bobs[0]?.row.slug).toBe(creator)
  expect(bobs[0]?.row.label).toBe(`for ${creator}`)
  expect(results.slice(3).map((r) => [r.row.slug, r.created])).toEqual([
    ['Old', false],
    ['new', true],
    ['Old', false],
  ])
  expect(await h.rows(`select count(*) as n from ${name}`)).toEqual([{ n: 3 }])
})

test('a decimal(10,2) key: values the column rounds to one are one row; a key found as find finds it', async () => {
  const name = h.table('batch_dec')
  await h.exec(
    `create table ${name} (id int auto_increment primary key, amount decimal(10,2) not null unique, label varchar(64))`,
  )
  await h.exec(`insert into ${name} (amount, label) values (1.01, 'old')`)
  const table = mysqlTable(name, {
    id: int('id').primaryKey().autoincrement(),
    amount: decimal('amount', { precision: 10, scale: 2 }).notNull(),
    label: varchar('label', { length: 64 }),
  })
  const store = drizzleStore(h.db, table)
  const amounts = ['1.005', '2.004', '2.001', '3.00']
  const results = await getOrCreateMany(
    store,
    amounts.map((amount) => ({ key: { amount }, defaults: { label: 'new' } })),
    strategy,
  )
  expect(results.map((r) => r.row.amount)).toEqual(['1.01', '2.00', '2.00', '3.00'])
  expect(results[0]?.created).toBe(false)
  expect(results.slice(1, 3).filter((r) => r.created)).toHaveLength(1)
  expect(results[3]?.created).toBe(true)
  expect(await h.rows(`select count(*) as n from ${name}`)).toEqual([{ n: 3 }])
})

test('a key created behind the batch between its read and its insert: the insert is refused whole, then each key settled', async () => {
  const name = h.table('batch_race')
  await h.exec(
    `create table ${name} (id int auto_increment primary key, slug varchar(64) not null unique, label varchar(64))`,
  )
  const store = drizzleStore(h.db, tags(name))
  const findMany = store.findMany?.bind(store)
  if (!findMany) throw new Error('the MySQL store batches')
  // The read misses every key; then another client creates one of them before the insert.
  const racing = Object.assign(Object.create(store) as typeof store, {
    async findMany(keys: readonly { slug?: string }[]) {
      const found = await findMany(keys)
      if (keys.some((key) => key.slug === 'r2')) {
        await h.exec(`insert ignore into ${name} (slug, label) values ('r2', 'theirs')`)
      }
      return found
    },
  })
  const results = await getOrCreateMany(
    racing,
    ['r1', 'r2', 'r3'].map((slug) => ({ key: { slug }, defaults: { label: 'mine' } })),
    strategy,
  )
  expect(results.map((r) => [r.row.slug, r.row.label, r.created])).toEqual([
    ['r1', 'mine', true],
    ['r2', 'theirs', false],
    ['r3', 'mine', true],
  ])
  expect(await h.rows(`select count(*) as n from ${name}`)).toEqual([{ n: 3 }])
})

test('inside a transaction: the batch is part of it, and a rollback takes its rows; a refused insert leaves the transaction going', async () => {
  const name = h.table('batch_tx')
  await h.exec(
    `create table ${name} (id int auto_increment primary key, slug varchar(64) collate utf8mb4_general_ci not null unique, label varchar(64))`,
  )
  const table = tags(name)
  const error = await h.db
    .transaction(async (tx) => {
      const store = drizzleStore(tx, table)
      const results = await getOrCreateMany(
        store,
        ['a', 'A', 'b'].map((slug) => ({ key: { slug } })),
        strategy,
      )
      // 'a' and 'A' are one key here: one row, created by the spelling first in key order ('A').
      expect(results.map((r) => r.created)).toEqual([false, true, true])
      expect(results[0]?.row.id).toBe(results[1]?.row.id)
      const more = await getOrCreateMany(store, [{ key: { slug: 'c' } }, { key: { slug: 'a' } }], strategy)
      expect(more.map((r) => r.created)).toEqual([true, false])
      throw new Error('roll back')
    })
    .catch((e: unknown) => e)
  expect((error as Error).message).toBe('roll back')
  expect(await h.rows(`select count(*) as n from ${name}`)).toEqual([{ n: 0 }])
})

test('rows that leave out different columns: the column default for each one left out, $defaultFn per row, a generated column computed', async () => {
  const name = h.table('batch_defaults')
  await h.exec(
    `create table ${name} (id int auto_increment primary key, slug varchar(64) not null unique, label varchar(64) default 'dflt', made_by varchar(64), upper_slug varchar(64) as (upper(slug)) virtual)`,
  )
  let made = 0
  const table = mysqlTable(name, {
    id: int('id').primaryKey().autoincrement(),
    slug: varchar('slug', { length: 64 }).notNull(),
    label: varchar('label', { length: 64 }).default('dflt'),
    madeBy: varchar('made_by', { length: 64 }).$defaultFn(() => `fn ${++made}`),
    upperSlug: varchar('upper_slug', { length: 64 }).generatedAlwaysAs(sql`upper(slug)`),
  })
  const store = drizzleStore(h.db, table)
  const from = h.queries.length
  const results = await getOrCreateMany(
    store,
    [
      { key: { slug: 'a' }, defaults: { label: 'given' } },
      { key: { slug: 'b' } },
      { key: { slug: 'c' }, defaults: { label: null } },
    ],
    strategy,
  )
  expect(onTable(name, from).filter((verb) => verb === 'insert')).toHaveLength(1)
  expect(results.map((r) => [r.row.slug, r.row.label, r.row.madeBy, r.row.upperSlug, r.created])).toEqual([
    ['a', 'given', 'fn 1', 'A', true],
    ['b', 'dflt', 'fn 2', 'B', true],
    ['c', null, 'fn 3', 'C', true],
  ])
})

test('a table with a BEFORE INSERT trigger that rewrites the key is settled key by key: KEY_REWRITTEN, as for getOrCreate', async () => {
  const name = h.table('batch_trigger')
  await h.exec(
    `create table ${name} (id int auto_increment primary key, slug varchar(64) collate utf8mb4_bin not null unique, label varchar(64))`,
  )
  await h.exec(
    `create trigger ${name}_upper before insert on ${name} for each row set new.slug = upper(new.slug)`,
  )
  const store = drizzleStore(h.db, tags(name))
  const error = await getOrCreateMany(
    store,
    [{ key: { slug: 'x' } }, { key: { slug: 'y' } }],
    strategy,
  ).catch((e: unknown) => e)
  expect(isGetOrCreateError(error) && error.code).toBe('KEY_REWRITTEN')
  // Each insert checked its key in its own statement (MariaDB's RETURNING) and wrote nothing; a multi-row
  // insert would have stored 'X' and 'Y' unchecked.
  expect(await h.rows(`select count(*) as n from ${name}`)).toEqual([{ n: 0 }])
})

test('a batch insert refused while single calls wait on one of its keys: those calls do not fail on the deadlock InnoDB then picks (the statement is run again)', async () => {
  const name = h.table('batch_cascade')
  await h.exec(
    `create table ${name} (id int auto_increment primary key, slug varchar(64) not null unique, label varchar(64))`,
  )
  const store = drizzleStore(h.db, tags(name))
  await getOrCreateMany(store, [{ key: { slug: 'warm-up' } }], strategy)
  // Another transaction holds k2 uncommitted: the batch's insert of [k1, k2] waits on it, holding k1.
  const other = await h.pool.getConnection()
  try {
    await other.query('begin')
    await other.query(`insert into ${name} (slug, label) values ('k2', 'other')`)
    const batch = getOrCreateMany(store, [{ key: { slug: 'k1' } }, { key: { slug: 'k2' } }], strategy)
    await delay(300)
    // Two single calls of k1 wait on the batch's uncommitted k1.
    const singles = [0, 1].map(() => getOrCreate(store, { slug: 'k1' }, { label: 'single' }, strategy))
    await delay(300)
    // k2 commits: the batch's statement fails on it and is rolled back, releasing k1 to both waiters at once.
    await other.query('commit')
    const settled = await Promise.allSettled([batch, ...singles])
    const failures = settled.flatMap((outcome) =>
      outcome.status === 'rejected' ? [String((outcome.reason as Error).message)] : [],
    )
    expect(failures).toEqual([])
    const [batchResults, ...singleResults] = settled.map((outcome) =>
      outcome.status === 'fulfilled' ? outcome.value : undefined,
    ) as [Awaited<typeof batch>, ...Awaited<(typeof singles)[number]>[]]
    const k1 = [batchResults[0], ...singleResults]
    expect(k1.filter((result) => result?.created)).toHaveLength(1)
    expect(new Set(k1.map((result) => result?.row.id)).size).toBe(1)
    expect([batchResults[1]?.row.label, batchResults[1]?.created]).toEqual(['other', false])
    expect(await h.rows(`select slug, count(*) as n from ${name} group by slug order by slug`)).toEqual([
      { slug: 'k1', n: 1 },
      { slug: 'k2', n: 1 },
      { slug: 'warm-up', n: 1 },
    ])
  } finally {
    other.release()
  }
})

test("a latin1 key column: findMany compares as find does; a key latin1 cannot hold is an error for both, never the row '?' stands for", async () => {
  const name = h.table('batch_latin1')
  await h.exec(
    `create table ${name} (id int auto_increment primary key, slug varchar(64) character set latin1 collate latin1_swedish_ci not null unique, label varchar(64))`,
  )
  await h.exec(`insert into ${name} (slug, label) values ('a?', 'question'), ('Café', 'old')`)
  const store = drizzleStore(h.db, tags(name))
  const findMany = store.findMany?.bind(store)
  if (!findMany) throw new Error('the MySQL store batches')
  const keys = [{ slug: 'CAFE' }, { slug: 'café' }, { slug: 'new' }]
  const one = await Promise.all(keys.map((key) => store.find(key)))
  // latin1_swedish_ci folds case and accents: 'CAFE' and 'café' find 'Café'.
  expect(one.map((row) => row?.slug ?? null)).toEqual(['Café', 'Café', null])
  expect(await findMany(keys)).toEqual(one)
  // 'a😀' is not a latin1 string: find fails on it (a mix of collations); converted to latin1 it would be 'a?'.
  const emoji = { slug: 'a\u{1F600}' }
  expect(await store.find(emoji).catch(() => 'failed')).toBe('failed')
  expect(await findMany([emoji, ...keys]).catch(() => 'failed')).toBe('failed')
})

test('a MyISAM table (a failed statement keeps the rows before it): settled key by key, no multi-row insert', async () => {
  const name = h.table('batch_myisam')
  await h.exec(
    `create table ${name} (id int auto_increment primary key, slug varchar(64) not null unique, label varchar(64)) engine=MyISAM`,
  )
  await h.exec(`insert into ${name} (slug, label) values ('b', 'old')`)
  const store = drizzleStore(h.db, tags(name))
  const from = h.queries.length
  const results = await getOrCreateMany(
    store,
    ['a', 'b', 'c'].map((slug) => ({ key: { slug } })),
    strategy,
  )
  expect(results.map((r) => [r.row.slug, r.created])).toEqual([
    ['a', true],
    ['b', false],
    ['c', true],
  ])
  // One read of every key, then an insert per missing key (and no statement inserting two rows).
  const inserts = h.queries
    .slice(from)
    .filter((query) => /^insert/i.test(query.trim()) && query.includes(name))
  expect(inserts).toHaveLength(2)
})
