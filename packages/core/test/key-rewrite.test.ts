/**
 * A trigger that rewrites the key before each insert (issue 11): no caller gets `created: true` with a row for
 * another key, none gets ROW_VANISHED, and nothing is written for the key that cannot be stored. Postgres on
 * every driver, and MariaDB, under the constraint strategy, alone and with concurrent callers.
 */
import { getOrCreate, isGetOrCreateError, type Store } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { scratchName } from '@getorcreate/test-support'
import { int, mysqlTable, varchar } from 'drizzle-orm/mysql-core'
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createMySqlStore } from '../src/drizzle/mysql/mysql-store.js'
import { type MysqlHarness, openMysql } from './support/mysql.js'
import { openPg, PG_DRIVERS, type PgHarness } from './support/pg.js'

/** Callers in flight together; the pools are larger. */
const CALLERS = 8

type Outcome =
  | { created: boolean; slug: string }
  | { code: string; triggers?: readonly string[]; written?: boolean }

/** `calls` callers at once, each outcome as a row's `created` and key, or an error's code. */
async function race(calls: number, call: () => Promise<{ row: { slug: string | null }; created: boolean }>) {
  const settled = await Promise.allSettled(Array.from({ length: calls }, () => call()))
  return settled.map((result): Outcome => {
    if (result.status === 'fulfilled') {
      return { created: result.value.created, slug: String(result.value.row.slug) }
    }
    const error = result.reason as unknown
    if (!isGetOrCreateError(error)) throw error
    if (!('triggers' in error)) return { code: error.code }
    return {
      code: error.code,
      triggers: error.triggers as string[],
      ...((error as { written?: boolean }).written === true ? { written: true } : {}),
    }
  })
}

type AnyStore = Store<{ slug: string | null }, { slug: string }, { slug: string; title?: string }>

describe.each(PG_DRIVERS)('a trigger that rewrites the key, on Postgres via %s', (driver) => {
  let h: PgHarness
  const functions: string[] = []
  beforeAll(async () => {
    h = await openPg(driver, 16)
  })
  afterAll(async () => {
    try {
      // CASCADE: the triggers go with their functions; close() drops the tables.
      if (functions.length > 0) {
        await h.exec(functions.map((name) => `drop function if exists ${name}() cascade`).join(';\n'))
      }
    } finally {
      await h.close()
    }
  })

  /** A table whose `slug` is unique and a BEFORE INSERT row trigger that runs `body` (plpgsql). */
  async function tableWithTrigger(body: string): Promise<{ name: string; trigger: string; store: AnyStore }> {
    const name = h.table('kr')
    const fn = scratchName('kr_fn')
    functions.push(fn)
    const trigger = `${name}_before`
    await h.exec(
      `create table ${name} (id serial primary key, slug text, title text);
       create unique index on ${name} (slug);
       create function ${fn}() returns trigger language plpgsql as $$ begin ${body}; return new; end $$;
       create trigger ${trigger} before insert on ${name} for each row execute function ${fn}()`,
    )
    const table = pgTable(name, { id: serial('id').primaryKey(), slug: text('slug'), title: text('title') })
    return { name, trigger, store: drizzleStore(h.db, table) as unknown as AnyStore }
  }

  const count = async (name: string) => Number((await h.rows(`select count(*)::int as n from ${name}`))[0]?.n)

  test('the creator gets KEY_REWRITTEN, not created: true with the lower-cased row; nothing is written', async () => {
    const { name, store } = await tableWithTrigger('new.slug := lower(new.slug)')
    expect(await race(1, () => getOrCreate(store, { slug: 'Bob' }))).toEqual([
      { code: 'KEY_REWRITTEN', triggers: [] },
    ])
    expect(await race(CALLERS, () => getOrCreate(store, { slug: 'Bob' }))).toEqual(
      Array(CALLERS).fill({ code: 'KEY_REWRITTEN', triggers: [] }),
    )
    expect(await count(name)).toBe(0)
    // A key the trigger leaves as it is works as before.
    expect(await race(CALLERS, () => getOrCreate(store, { slug: 'bob' }))).toEqual(
      expect.arrayContaining([{ created: true, slug: 'bob' }]),
    )
    expect(await count(name)).toBe(1)
  })

  test('once the rewritten row exists, every caller gets KEY_REWRITTEN naming the trigger, not ROW_VANISHED', async () => {
    const { name, trigger, store } = await tableWithTrigger("new.slug := new.slug || '-x'")
    await h.exec(`insert into ${name} (slug) values ('Bob')`) // stored as Bob-x
    expect(await race(CALLERS, () => getOrCreate(store, { slug: 'Bob' }))).toEqual(
      Array(CALLERS).fill({ code: 'KEY_REWRITTEN', triggers: [trigger] }),
    )
    expect(await count(name)).toBe(1)
  })

  test('inside a transaction: KEY_REWRITTEN, and the transaction must roll back; nothing is written', async () => {
    const { name, store: _ } = await tableWithTrigger('new.slug := lower(new.slug)')
    const table = pgTable(name, { id: serial('id').primaryKey(), slug: text('slug'), title: text('title') })
    const failure = await h.db
      .transaction(async (tx) => {
        await getOrCreate(drizzleStore(tx, table), { slug: 'Bob' })
      })
      .catch((error: unknown) => error)
    expect(isGetOrCreateError(failure) && failure.code).toBe('KEY_REWRITTEN')
    expect(await count(name)).toBe(0)
  })

  test('a trigger that leaves the key alone changes nothing: one row, one created: true', async () => {
    const { name, store } = await tableWithTrigger("new.title := 'set by trigger'")
    const outcomes = await race(CALLERS, () => getOrCreate(store, { slug: 'Bob' }))
    expect(outcomes.filter((outcome) => 'created' in outcome && outcome.created)).toHaveLength(1)
    expect(outcomes.every((outcome) => 'slug' in outcome && outcome.slug === 'Bob')).toBe(true)
    expect(await count(name)).toBe(1)
  })
})

describe('a trigger that rewrites the key, on MariaDB', () => {
  let h: MysqlHarness
  beforeAll(() => {
    h = openMysql(16)
  })
  afterAll(() => h.close())

  async function tableWithTrigger(
    body: string,
    version?: string,
  ): Promise<{ name: string; trigger: string; store: AnyStore }> {
    const name = h.table('kr')
    const trigger = `${name}_before`
    await h.exec(
      `create table ${name} (id int auto_increment primary key, slug varchar(64), title varchar(64), unique key (slug))`,
    )
    await h.exec(`create trigger ${trigger} before insert on ${name} for each row ${body}`)
    const table = mysqlTable(name, {
      id: int('id').primaryKey().autoincrement(),
      slug: varchar('slug', { length: 64 }),
      title: varchar('title', { length: 64 }),
    })
    const store =
      version === undefined ? drizzleStore(h.db, table) : createMySqlStore(h.db, table, { version })
    return { name, trigger, store: store as unknown as AnyStore }
  }

  const count = async (name: string) => Number((await h.rows(`select count(*) as n from ${name}`))[0]?.n)

  test('without RETURNING (MySQL), the read back misses: KEY_REWRITTEN for all, the creator told its row exists', async () => {
    const { name, trigger, store } = await tableWithTrigger(
      "set new.slug = concat(new.slug, '-x')",
      '10.4.32-MariaDB',
    )
    const outcomes = await race(CALLERS, () => getOrCreate(store, { slug: 'Bob' }))
    expect(outcomes.filter((outcome) => 'written' in outcome)).toEqual([
      { code: 'KEY_REWRITTEN', triggers: [trigger], written: true },
    ])
    expect(outcomes.filter((outcome) => !('written' in outcome))).toEqual(
      Array(CALLERS - 1).fill({ code: 'KEY_REWRITTEN', triggers: [trigger] }),
    )
    expect(await count(name)).toBe(1)
  })

  test('the creator gets KEY_REWRITTEN, not created: true with a suffixed row; nothing is written', async () => {
    const { name, store } = await tableWithTrigger("set new.slug = concat(new.slug, '-x')")
    expect(await race(1, () => getOrCreate(store, { slug: 'Bob' }))).toEqual([
      { code: 'KEY_REWRITTEN', triggers: [] },
    ])
    expect(await race(CALLERS, () => getOrCreate(store, { slug: 'Bob' }))).toEqual(
      Array(CALLERS).fill({ code: 'KEY_REWRITTEN', triggers: [] }),
    )
    expect(await count(name)).toBe(0)
  })

  test('once the rewritten row exists, every caller gets KEY_REWRITTEN naming the trigger, not ROW_VANISHED', async () => {
    const { name, trigger, store } = await tableWithTrigger("set new.slug = concat(new.slug, '-x')")
    await h.exec(`insert into ${name} (slug) values ('Bob')`)
    expect(await race(CALLERS, () => getOrCreate(store, { slug: 'Bob' }))).toEqual(
      Array(CALLERS).fill({ code: 'KEY_REWRITTEN', triggers: [trigger] }),
    )
    expect(await count(name)).toBe(1)
  })

  test('a case-only rewrite under a case-insensitive collation is the same key: one row, one created: true', async () => {
    const { name, store } = await tableWithTrigger('set new.slug = lower(new.slug)')
    const outcomes = await race(CALLERS, () => getOrCreate(store, { slug: 'Bob' }))
    expect(outcomes.filter((outcome) => 'created' in outcome && outcome.created)).toHaveLength(1)
    expect(outcomes.every((outcome) => 'slug' in outcome && outcome.slug === 'bob')).toBe(true)
    expect(await count(name)).toBe(1)
  })
})
