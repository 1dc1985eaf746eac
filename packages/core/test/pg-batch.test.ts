/**
 * getOrCreateMany on Postgres: in one statement where every key's defaults are at hand (findOrInsertManyAtomically),
 * in three where defaults are functions (findMany, one multi-row insert, its read back): on every driver; keys
 * the database equates but JavaScript does not; triggers; transactions; a row committed by another session
 * while the statement runs; and overlapping batches racing single calls across four OS processes.
 */
import {
  constraintStrategy,
  getOrCreate,
  getOrCreateMany,
  isGetOrCreateError,
  type Store,
} from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { databaseUrl, type RaceOutcome, raceViolations, raceWorkers } from '@getorcreate/test-support'
import { sql } from 'drizzle-orm'
import { numeric, pgTable, serial, text } from 'drizzle-orm/pg-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { openPg, PG_DRIVERS, type PgHarness, untilLockWait } from './support/pg.js'
import { itemsDdl, itemsTable } from './support/tables.js'

const strategy = constraintStrategy({ singleFlight: false })

/** A row of `itemsTable` as these tests read it. */
type TitledItem = { id: number; slug: string | null; title: string | null }

describe.each(PG_DRIVERS)('getOrCreateMany on Postgres via %s', (driver) => {
  let h: PgHarness
  beforeAll(async () => {
    h = await openPg(driver, 8)
  })
  afterAll(async () => {
    await h.close()
  })

  async function makeItems() {
    const name = h.table()
    await h.exec(itemsDdl(name, `create unique index on ${name} (slug)`))
    return { name, store: drizzleStore(h.db, itemsTable(name)) }
  }

  test('300 keys, half existing, defaults functions: the read, then the 150 that missed in the one statement; defaults only for them', async () => {
    const { name, store } = await makeItems()
    await h.exec(
      `insert into ${name} (slug, title) select 'k' || (i * 2), 'old' from generate_series(0, 149) i`,
    )
    await getOrCreateMany(store, [{ key: { slug: 'warm-up' } }], strategy) // the catalog checks, once
    const from = h.queries.length
    let defaultsCalls = 0
    const results = await getOrCreateMany(
      store,
      Array.from({ length: 300 }, (_, i) => ({
        key: { slug: `k${i}` },
        defaults: () => {
          defaultsCalls++
          return { title: 'new' }
        },
      })),
      strategy,
    )
    const onTable = h.queries.slice(from).filter((query) => query.includes(`"${name}"`))
    expect(onTable.map((query) => query.slice(0, 6))).toEqual(['select', 'with g'])
    expect(defaultsCalls).toBe(150)
    expect(results.map((r) => r.created)).toEqual(Array.from({ length: 300 }, (_, i) => i % 2 === 1))
    expect(results.every((r, i) => r.row.slug === `k${i}` && r.row.title === (i % 2 ? 'new' : 'old'))).toBe(
      true,
    )
    const [count] = await h.rows(`select count(*)::int as n from ${name}`)
    expect(count?.n).toBe(301)
  })

  test('keys the database equates (numeric(10,2) rounding on write) are one row: one created, one id', async () => {
    const name = h.table()
    await h.exec(
      `create table ${name} (id serial primary key, amount numeric(10,2) not null unique, label text)`,
    )
    const table = pgTable(name, {
      id: serial('id').primaryKey(),
      amount: numeric('amount', { precision: 10, scale: 2 }).notNull(),
      label: text('label'),
    })
    const store = drizzleStore(h.db, table)
    const results = await getOrCreateMany(
      store,
      ['7', '7.001', '6.999', '7.0', '8'].map((amount) => ({ key: { amount } })),
      strategy,
    )
    expect(results.filter((r) => r.created)).toHaveLength(2)
    expect(new Set(results.slice(0, 4).map((r) => r.row.id)).size).toBe(1)
    // The creator is the key whose values were written: the first of the equal keys in key order, '6.999'.
    expect(results.map((r) => r.created)).toEqual([false, false, true, false, true])
    const [count] = await h.rows(`select count(*)::int as n from ${name}`)
    expect(count?.n).toBe(2)
  })

  test('varchar(3): a key past the length never finds the cut row; trailing spaces the write drops do', async () => {
    const name = h.table()
    await h.exec(`create table ${name} (id serial primary key, code varchar(3) not null unique, label text)`)
    await h.exec(`insert into ${name} (code, label) values ('abc', 'old'), ('ab ', 'old')`)
    const { varchar } = await import('drizzle-orm/pg-core')
    const table = pgTable(name, {
      id: serial('id').primaryKey(),
      code: varchar('code', { length: 3 }).notNull(),
      label: text('label'),
    })
    const store = drizzleStore(h.db, table)
    const spaces = await getOrCreateMany(
      store,
      [{ key: { code: 'ab      ' } }, { key: { code: 'abc' } }, { key: { code: 'ab' } }],
      strategy,
    )
    // 'ab      ' is stored as 'ab ' (spaces past the length dropped): the row there; 'ab' is another key.
    expect(spaces.map((r) => [r.row.code, r.created])).toEqual([
      ['ab ', false],
      ['abc', false],
      ['ab', true],
    ])
    // 'abcd' is not 'abc': the insert is refused as the database refuses it (too long), nothing found or written.
    const error = await getOrCreateMany(store, [{ key: { code: 'abcd' } }], strategy).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(Error)
    const [count] = await h.rows(`select count(*)::int as n from ${name}`)
    expect(count?.n).toBe(3)
  })

  test('char(3): a key is never cut to one character (the row for "abc" is not the row for "a")', async () => {
    const name = h.table()
    await h.exec(`create table ${name} (id serial primary key, code char(3) not null unique, label text)`)
    await h.exec(`insert into ${name} (code, label) values ('a', 'old')`)
    const { char } = await import('drizzle-orm/pg-core')
    const table = pgTable(name, {
      id: serial('id').primaryKey(),
      code: char('code', { length: 3 }).notNull(),
      label: text('label'),
    })
    const store = drizzleStore(h.db, table)
    const results = await getOrCreateMany(store, [{ key: { code: 'abc' } }, { key: { code: 'a' } }], strategy)
    expect(results.map((r) => [r.row.code?.trim(), r.created])).toEqual([
      ['abc', true],
      ['a', false],
    ])
  })

  test('1,000 keys, half existing, defaults objects: one statement on the table; no sequence value spent on a found key', async () => {
    const { name, store } = await makeItems()
    await h.exec(
      `insert into ${name} (slug, title) select 'k' || (i * 2), 'old' from generate_series(0, 499) i`,
    )
    await getOrCreateMany(store, [{ key: { slug: 'warm-up' }, defaults: { title: 'w' } }], strategy)
    const [before] = await h.rows(`select max(id)::int as id from ${name}`)
    const from = h.queries.length
    const results = await getOrCreateMany(
      store,
      Array.from({ length: 1000 }, (_, i) => ({ key: { slug: `k${i}` }, defaults: { title: 'new' } })),
      strategy,
    )
    const onTable = h.queries.slice(from).filter((query) => query.includes(`"${name}"`))
    expect(onTable).toHaveLength(1)
    expect(results.map((r) => r.created)).toEqual(Array.from({ length: 1000 }, (_, i) => i % 2 === 1))
    expect(results.every((r, i) => r.row.slug === `k${i}` && r.row.title === (i % 2 ? 'new' : 'old'))).toBe(
      true,
    )
    // The 500 new rows took the next 500 ids: the insert never drew one for a key it found.
    const ids = results.filter((r) => r.created).map((r) => Number(r.row.id))
    expect([Math.min(...ids), Math.max(...ids)]).toEqual([Number(before?.id) + 1, Number(before?.id) + 500])
    const [count] = await h.rows(`select count(*)::int as n from ${name}`)
    expect(count?.n).toBe(1001)
  })

  test('defaults objects and functions in one call: the objects in one statement, the functions read first; each function called only for its missed key', async () => {
    const { name, store } = await makeItems()
    await h.exec(`insert into ${name} (slug, title) values ('hit-object', 'old'), ('hit-function', 'old')`)
    await getOrCreateMany(store, [{ key: { slug: 'warm-up' } }], strategy)
    const called: string[] = []
    const lazy = (slug: string) => () => {
      called.push(slug)
      return { title: `f:${slug}` }
    }
    const from = h.queries.length
    const results = await getOrCreateMany(
      store,
      [
        { key: { slug: 'new-object' }, defaults: { title: 'o' } },
        { key: { slug: 'hit-function' }, defaults: lazy('hit-function') },
        { key: { slug: 'new-function' }, defaults: lazy('new-function') },
        { key: { slug: 'hit-object' }, defaults: { title: 'o' } },
      ],
      strategy,
    )
    expect(results.map((r) => [r.row.slug, r.row.title, r.created])).toEqual([
      ['new-object', 'o', true],
      ['hit-function', 'old', false],
      ['new-function', 'f:new-function', true],
      ['hit-object', 'old', false],
    ])
    expect(called).toEqual(['new-function'])
    // One statement for the objects; a read, then the one statement for the function's key that missed.
    const onTable = h.queries.slice(from).filter((query) => query.includes(`"${name}"`))
    expect(onTable.map((query) => query.slice(0, 6))).toEqual(['with g', 'select', 'with g'])
  })

  test('defaults objects that give different columns: each row written as given (a column left out takes its default), read first then inserted', async () => {
    const { name, store } = await makeItems()
    await h.exec(`alter table ${name} alter column title set default 'untitled'`)
    await h.exec(`insert into ${name} (slug, title) values ('old', 'Old')`)
    await getOrCreateMany(store, [{ key: { slug: 'warm-up' } }], strategy)
    const from = h.queries.length
    const results = await getOrCreateMany(
      store,
      [
        { key: { slug: 'a' }, defaults: { title: 'A' } },
        { key: { slug: 'b' }, defaults: { email: 'b@example.com' } },
        { key: { slug: 'old' }, defaults: { email: 'old@example.com' } },
        { key: { slug: 'c' }, defaults: { title: 'C', email: null } },
      ],
      strategy,
    )
    expect(results.map((r) => [r.row.slug, r.row.title, r.row.email, r.created])).toEqual([
      ['a', 'A', null, true],
      ['b', 'untitled', 'b@example.com', true],
      ['old', 'Old', null, false],
      ['c', 'C', null, true],
    ])
    // The one statement cannot give a column to some rows only: a read, an insert, its read back.
    const onTable = h.queries.slice(from).filter((query) => query.includes(`"${name}"`))
    expect(onTable.map((query) => query.slice(0, 6))).toEqual(['select', 'insert', 'select'])
  })

  test('a table with a statement-level INSERT trigger: a batch of hits fires it never, a batch with misses once', async () => {
    const { name, store } = await makeItems()
    const log = h.table('log')
    await h.exec(`create table ${log} (n int)`)
    await h.exec(
      `create function ${log}_fn() returns trigger language plpgsql as $$ begin insert into ${log} values (1); return null; end $$`,
    )
    await h.exec(
      `create trigger ${log}_t after insert on ${name} for each statement execute function ${log}_fn()`,
    )
    await h.exec(`insert into ${name} (slug, title) values ('a', 'A'), ('b', 'B')`)
    const fired = async () => Number((await h.rows(`select count(*)::int as n from ${log}`))[0]?.n)
    const before = await fired()
    const hits = await getOrCreateMany(
      store,
      ['a', 'b'].map((slug) => ({ key: { slug }, defaults: { title: 'new' } })),
      strategy,
    )
    expect(hits.map((r) => [r.row.title, r.created])).toEqual([
      ['A', false],
      ['B', false],
    ])
    expect(await fired()).toBe(before)
    const mixed = await getOrCreateMany(
      store,
      ['a', 'c'].map((slug) => ({ key: { slug }, defaults: { title: 'new' } })),
      strategy,
    )
    expect(mixed.map((r) => [r.row.title, r.created])).toEqual([
      ['A', false],
      ['new', true],
    ])
    expect(await fired()).toBe(before + 1)
    await h.exec(`drop trigger ${log}_t on ${name}; drop function ${log}_fn()`)
  })

  test('keys with the characters an array literal escapes are read and written as given, in one statement each', async () => {
    const { name, store } = await makeItems()
    const slugs = [
      'a"b',
      'a\\b',
      '\\',
      '"',
      '{x}',
      'a,b',
      'NULL',
      'null',
      '',
      ' padded ',
      "it's",
      'ü€😀',
      '\\"{,}',
    ]
    await h.exec(`insert into ${name} (slug, title) values ('NULL', 'old')`)
    await getOrCreateMany(store, [{ key: { slug: 'warm-up' } }], strategy)
    const from = h.queries.length
    const first = await getOrCreateMany(
      store,
      slugs.map((slug) => ({ key: { slug }, defaults: { title: `t:${slug}` } })),
      strategy,
    )
    const onTable = h.queries.slice(from).filter((query) => query.includes(`"${name}"`))
    expect(onTable).toHaveLength(1)
    // The keys went as arrays: the statement unnests them, never lists them.
    expect(onTable.every((query) => query.includes('unnest(') && !query.includes('(values '))).toBe(true)
    expect(first.map((r) => [r.row.slug, r.created, r.row.title])).toEqual(
      slugs.map((slug) => [slug, slug !== 'NULL', slug === 'NULL' ? 'old' : `t:${slug}`]),
    )
    const again = await getOrCreateMany(
      store,
      slugs.map((slug) => ({ key: { slug } })),
      strategy,
    )
    expect(again.map((r) => [r.row.id, r.created])).toEqual(first.map((r) => [r.row.id, false]))
    const stored = await h.rows(`select slug from ${name} where slug <> 'warm-up' order by id`)
    expect(stored.map((row) => row.slug).sort()).toEqual([...slugs].sort())
  })

  test('timestamp keys (Dates, sent as ISO text) compare as find compares them', async () => {
    const name = h.table()
    await h.exec(`create table ${name} (id serial primary key, at timestamptz not null unique, label text)`)
    const { timestamp } = await import('drizzle-orm/pg-core')
    const table = pgTable(name, {
      id: serial('id').primaryKey(),
      at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull(),
      label: text('label'),
    })
    const store = drizzleStore(h.db, table)
    const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms)
    await h.exec(`insert into ${name} (at, label) values ('${at(1).toISOString()}', 'old')`)
    const results = await getOrCreateMany(
      store,
      [0, 1, 2, 1].map((ms) => ({ key: { at: at(ms) }, defaults: { label: 'new' } })),
      strategy,
    )
    expect(results.map((r) => [r.row.at.toISOString(), r.created, r.row.label])).toEqual([
      [at(0).toISOString(), true, 'new'],
      [at(1).toISOString(), false, 'old'],
      [at(2).toISOString(), true, 'new'],
      [at(1).toISOString(), false, 'old'],
    ])
    const [count] = await h.rows(`select count(*)::int as n from ${name}`)
    expect(count?.n).toBe(3)
  })

  test('byte keys (which each driver writes its own way) go through one parameter per value, and compare as find does', async () => {
    const name = h.table()
    await h.exec(`create table ${name} (id serial primary key, tag bytea not null unique, label text)`)
    await h.exec(`insert into ${name} (tag, label) values ('\\x00ff'::bytea, 'old')`)
    const { customType } = await import('drizzle-orm/pg-core')
    const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({ dataType: () => 'bytea' })
    const table = pgTable(name, {
      id: serial('id').primaryKey(),
      tag: bytea('tag').notNull(),
      label: text('label'),
    })
    const store = drizzleStore(h.db, table)
    await getOrCreateMany(store, [{ key: { tag: Uint8Array.of(9) } }], strategy)
    const from = h.queries.length
    const keys = [Uint8Array.of(0, 255), Uint8Array.of(1), Uint8Array.of(0x22, 0x5c), Uint8Array.of(0, 255)]
    const results = await getOrCreateMany(
      store,
      keys.map((tag) => ({ key: { tag }, defaults: { label: 'new' } })),
      strategy,
    )
    const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')
    expect(results.map((r) => [hex(r.row.tag), r.created, r.row.label])).toEqual([
      ['00ff', false, 'old'],
      ['01', true, 'new'],
      ['225c', true, 'new'],
      ['00ff', false, 'old'],
    ])
    // A parameter per key value: the read's text carries a VALUES list, and no array of them.
    const reads = h.queries
      .slice(from)
      .filter((query) => query.includes(`"${name}"`) && query.startsWith('select'))
    expect(reads.length).toBeGreaterThan(0)
    expect(reads.every((query) => query.includes('(values ') && !query.includes('unnest('))).toBe(true)
    const [count] = await h.rows(`select count(*)::int as n from ${name}`)
    expect(count?.n).toBe(4)
  })

  test("generated columns are left to the database, as in drizzle's own insert", async () => {
    const name = h.table()
    await h.exec(
      `create table ${name} (id serial primary key, slug text not null unique,
        slug_upper text generated always as (upper(slug)) stored)`,
    )
    const { sql } = await import('drizzle-orm')
    const table = pgTable(name, {
      id: serial('id').primaryKey(),
      slug: text('slug').notNull(),
      slugUpper: text('slug_upper').generatedAlwaysAs(sql`upper(slug)`),
    })
    const store = drizzleStore(h.db, table)
    // A value given for the generated column is dropped, as drizzle's insert (and getOrCreate) drop it.
    const results = await getOrCreateMany(
      store,
      [{ key: { slug: 'ab' }, defaults: { slugUpper: 'ignored' } as never }, { key: { slug: 'cd' } }],
      strategy,
    )
    expect(results.map((r) => [r.row.slugUpper, r.created])).toEqual([
      ['AB', true],
      ['CD', true],
    ])
  })

  test('a trigger that rewrites the key: KEY_REWRITTEN as for getOrCreate, and nothing written', async () => {
    const { name, store } = await makeItems()
    const fn = `${name}_lower`
    await h.exec(
      `create function ${fn}() returns trigger language plpgsql as $$ begin new.slug := lower(new.slug); return new; end $$`,
    )
    await h.exec(
      `create trigger ${name}_before before insert on ${name} for each row execute function ${fn}()`,
    )
    const error = await getOrCreateMany(
      store,
      [{ key: { slug: 'Bob' } }, { key: { slug: 'ann' } }],
      strategy,
    ).catch((e: unknown) => e)
    expect(isGetOrCreateError(error) && error.code).toBe('KEY_REWRITTEN')
    const rows = await h.rows(`select slug from ${name} where slug <> 'ann'`)
    expect(rows).toEqual([])
    await h.exec(`drop trigger ${name}_before on ${name}; drop function ${fn}()`)
  })

  test('inside a transaction: every key read first, the keys that missed in the one statement (two statements)', async () => {
    const { name } = await makeItems()
    await h.exec(`insert into ${name} (slug, title) values ('a', 'A')`)
    const table = itemsTable(name)
    const from = h.queries.length
    const results = await h.db.transaction((tx) =>
      getOrCreateMany(
        drizzleStore(tx, table) as unknown as Store<TitledItem>,
        ['a', 'b', 'c'].map((slug) => ({ key: { slug }, defaults: { title: 'new' } })),
        strategy,
      ),
    )
    expect(results.map((r) => [r.row.slug, r.row.title, r.created])).toEqual([
      ['a', 'A', false],
      ['b', 'new', true],
      ['c', 'new', true],
    ])
    const onTable = h.queries.slice(from).filter((query) => query.includes(`"${name}"`))
    expect(onTable.map((query) => query.slice(0, 6))).toEqual(['select', 'with g'])
  })

  test('inside a read-only transaction: a batch of existing keys is one read, as getOrCreate of each is; a missing key fails as the database says', async () => {
    const { name } = await makeItems()
    await h.exec(`insert into ${name} (slug, title) values ('a', 'A'), ('b', 'B')`)
    const table = itemsTable(name)
    const readOnly = <T>(work: (store: Store<TitledItem>) => Promise<T>) =>
      h.db.transaction(async (tx) => {
        await tx.execute(sql`set transaction read only`)
        return work(drizzleStore(tx, table) as unknown as Store<TitledItem>)
      })
    const from = h.queries.length
    const results = await readOnly((store) =>
      getOrCreateMany(
        store,
        ['a', 'b', 'a'].map((slug) => ({ key: { slug }, defaults: { title: 'new' } })),
        strategy,
      ),
    )
    expect(results.map((r) => [r.row.title, r.created])).toEqual([
      ['A', false],
      ['B', false],
      ['A', false],
    ])
    const onTable = h.queries.slice(from).filter((query) => query.includes(`"${name}"`))
    expect(onTable.map((query) => query.slice(0, 6))).toEqual(['select'])
    const missing = readOnly((store) =>
      getOrCreateMany(
        store,
        [{ key: { slug: 'a' } }, { key: { slug: 'c' }, defaults: { title: 'C' } }],
        strategy,
      ),
    )
    await expect(missing).rejects.toMatchObject({ cause: { code: '25006' } }) // the insert's own refusal
    const [count] = await h.rows(`select count(*)::int as n from ${name}`)
    expect(count?.n).toBe(2)
  })

  test('inside a transaction: the batch is part of it, and a rollback leaves nothing', async () => {
    const { name } = await makeItems()
    const table = itemsTable(name)
    await h.db
      .transaction(async (tx) => {
        const results = await getOrCreateMany(
          drizzleStore(tx, table) as unknown as Store<{ id: number; slug: string | null }>,
          [{ key: { slug: 'a' } }, { key: { slug: 'b' } }, { key: { slug: 'a' } }],
          strategy,
        )
        expect(results.map((r) => r.created)).toEqual([true, true, false])
        throw new Error('roll back')
      })
      .catch((error: unknown) => {
        if (!(error instanceof Error) || error.message !== 'roll back') throw error
      })
    const [count] = await h.rows(`select count(*)::int as n from ${name}`)
    expect(count?.n).toBe(0)
  })
})

describe.each(['postgres.js', 'node-postgres'] as const)(
  'getOrCreateMany on Postgres via %s, beside another session',
  (driver) => {
    let h: PgHarness
    beforeAll(async () => {
      h = await openPg(driver, 4)
    })
    afterAll(async () => {
      await h.close()
    })

    test('a key another session inserts while the statement runs: its row, created: false, after one more read; the others created', async () => {
      const name = h.table()
      await h.exec(itemsDdl(name, `create unique index on ${name} (slug)`))
      const store = drizzleStore(h.db, itemsTable(name))
      await getOrCreateMany(store, [{ key: { slug: 'warm-up' } }], strategy)
      const other = await h.session?.()
      if (!other) throw new Error('no second session')
      try {
        // The other session's insert of 'k1' is not committed: the batch's insert waits for it, then skips it.
        await other.exec(`begin; insert into ${name} (slug, title) values ('k1', 'theirs')`)
        const batch = getOrCreateMany(
          store,
          ['k0', 'k1', 'k2'].map((slug) => ({ key: { slug }, defaults: { title: 'mine' } })),
          strategy,
        )
        await untilWaiting(h, name)
        await other.exec('commit')
        const results = await batch
        expect(results.map((r) => [r.row.slug, r.row.title, r.created])).toEqual([
          ['k0', 'mine', true],
          ['k1', 'theirs', false],
          ['k2', 'mine', true],
        ])
        const [count] = await h.rows(`select count(*)::int as n from ${name} where slug like 'k%'`)
        expect(count?.n).toBe(3)
      } finally {
        await other.release()
      }
    })

    test("single flight's one statement for a fresh key, when another session inserts it meanwhile: a fresh read gives every caller that row", async () => {
      const name = h.table()
      await h.exec(itemsDdl(name, `create unique index on ${name} (slug)`))
      const store = drizzleStore(h.db, itemsTable(name))
      const shared = (slug: string) =>
        Promise.all([1, 2, 3].map(() => getOrCreate(store, { slug }, { title: 'mine' })))
      await shared('warm-up') // a shared operation that missed: the next one sends the one statement
      const other = await h.session?.()
      if (!other) throw new Error('no second session')
      try {
        await other.exec(`begin; insert into ${name} (slug, title) values ('k', 'theirs')`)
        const from = h.queries.length
        const burst = shared('k')
        await untilWaiting(h, name)
        await other.exec('commit')
        const results = await burst
        expect(results.map((r) => [r.row.title, r.created])).toEqual([
          ['theirs', false],
          ['theirs', false],
          ['theirs', false],
        ])
        // The statement (its snapshot had no row, its insert met theirs), then one read.
        const sent = h.queries.slice(from).filter((query) => query.includes(`"${name}"`))
        expect(sent.map((query) => query.slice(0, 6))).toEqual(['with g', 'select'])
        const [count] = await h.rows(`select count(*)::int as n from ${name} where slug = 'k'`)
        expect(count?.n).toBe(1)
      } finally {
        await other.release()
      }
    })

    test('a read-only connection: getOrCreateMany of existing keys reads them (the statement that also inserts is refused, then not sent for a while); a missing key fails as the database says', async () => {
      const name = h.table()
      await h.exec(itemsDdl(name, `create unique index on ${name} (slug)`))
      await h.exec(`insert into ${name} (slug, title) values ('a', 'A'), ('b', 'B')`)
      const readOnly = await openReadOnly(driver)
      try {
        const store = drizzleStore(readOnly.db, itemsTable(name))
        const items = ['a', 'b'].map((slug) => ({ key: { slug }, defaults: { title: 'new' } }))
        for (let round = 0; round < 2; round++) {
          const from = readOnly.queries.length
          const results = await getOrCreateMany(store, items, strategy)
          expect(results.map((r) => [r.row.title, r.created])).toEqual([
            ['A', false],
            ['B', false],
          ])
          const sent = readOnly.queries.slice(from).filter((query) => query.includes(`"${name}"`))
          // The first round tries the one statement (refused: 25006), then reads; the second reads at once.
          expect(sent.filter((query) => query.startsWith('with')).length).toBe(round === 0 ? 1 : 0)
        }
        const missing = getOrCreateMany(store, [{ key: { slug: 'c' }, defaults: { title: 'C' } }], strategy)
        await expect(missing).rejects.toMatchObject({ cause: { code: '25006' } }) // the insert's own refusal
      } finally {
        await readOnly.close()
      }
    })
  },
)

/** Resolves once a statement that reads and inserts in `table` (`goc_ins`) waits for a lock another session holds. */
function untilWaiting(h: PgHarness, table: string): Promise<void> {
  return untilLockWait(h, `%goc_ins%${table}%`, 500, 'the statement never waited for the other session')
}

/** A drizzle database on `driver` whose sessions are read-only (`default_transaction_read_only`), with its statements. */
async function openReadOnly(driver: 'postgres.js' | 'node-postgres') {
  const queries: string[] = []
  const logger = { logQuery: (query: string) => void queries.push(query) }
  if (driver === 'postgres.js') {
    const { default: postgres } = await import('postgres')
    const { drizzle } = await import('drizzle-orm/postgres-js')
    const client = postgres(databaseUrl(), {
      max: 2,
      onnotice: () => {},
      connection: { default_transaction_read_only: true },
    })
    return { db: drizzle(client, { logger }), queries, close: () => client.end({ timeout: 5 }) }
  }
  const { default: pg } = await import('pg')
  const { drizzle } = await import('drizzle-orm/node-postgres')
  const pool = new pg.Pool({
    connectionString: databaseUrl(),
    max: 2,
    options: '-c default_transaction_read_only=on',
  })
  return { db: drizzle(pool, { logger }), queries, close: () => pool.end() }
}

describe('overlapping batches in opposite orders and single calls, 4 OS processes', () => {
  let h: PgHarness
  beforeAll(async () => {
    h = await openPg('postgres.js', 2)
  })
  afterAll(async () => {
    await h.close()
  })

  for (const driver of ['postgres.js', 'node-postgres'] as const) {
    test(`via ${driver}: one row, one created:true and one id per key; no error`, async () => {
      const name = h.table()
      await h.exec(itemsDdl(name, `create unique index on ${name} (slug)`))
      const KEYS = 400
      const reports = await raceWorkers<{ results: [string, number, boolean][]; errors: string[] }>(
        new URL('./workers/pg-batch-worker.ts', import.meta.url),
        Array.from({ length: 4 }, (_, i) => ({
          driver,
          table: name,
          keys: KEYS,
          batches: 24,
          window: 60,
          concurrency: 6,
          seed: i + 1,
        })),
      )
      const outcomes: RaceOutcome[] = []
      for (const { results, errors } of reports) {
        expect(errors).toEqual([])
        for (const [key, id, created] of results) outcomes.push({ key, id, created })
      }
      const counts = await h.rows(`select slug, count(*)::int as n from ${name} group by slug`)
      const touched = [...new Set(outcomes.map((outcome) => outcome.key))]
      const rowsByKey = new Map(counts.map((row) => [String(row.slug), Number(row.n)]))
      expect(raceViolations({ keys: touched, outcomes, rowsByKey })).toEqual([])
      expect(counts.length).toBe(touched.length)
    })
  }
})
