/**
 * The constraint strategy on Postgres, end to end, on every driver drizzle users run: postgres.js,
 * node-postgres and PGlite (embedded). Real databases, no mocks.
 */
import {
  ConflictingDefaultsError,
  constraintStrategy,
  getOrCreate,
  InvalidKeyError,
  isGetOrCreateError,
  MissingUniqueConstraintError,
  RowVanishedError,
  SerializationConflictError,
  type Store,
} from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import {
  contendedKeys,
  type RaceOutcome,
  raceViolations,
  runConcurrently,
  shuffle,
  shuffledInBlocks,
  type TimedRaceOutcome,
} from '@getorcreate/test-support'
import { sql } from 'drizzle-orm'
import {
  bigint,
  boolean,
  customType,
  date,
  jsonb,
  numeric,
  pgTable,
  serial,
  text,
  timestamp,
} from 'drizzle-orm/pg-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { sqlState } from '../src/drizzle/pg/pg-errors.js'
import { openPg, PG_DRIVERS, type PgHarness } from './support/pg.js'
import { itemsDdl, itemsTable } from './support/tables.js'

type Item = ReturnType<typeof itemsTable>['$inferSelect']

// The most calls in flight at once, and the pool that gives each one a connection. 32 rather than 64: the race
// needs callers of one key in flight together, not many connections (the 2,000-key race below orders its calls
// so that every key is contended).
const POOL = 32

// The races below are the database's to settle: no single flight, so every caller sends its own statements.
const raceStrategy = constraintStrategy({ singleFlight: false })

async function countRows(h: PgHarness, table: string, column = 'slug'): Promise<Map<string, number>> {
  const rows = await h.rows(
    `select ${column}::text as k, count(*)::int as n from ${table} group by ${column}`,
  )
  return new Map(rows.map((row) => [String(row.k), Number(row.n)]))
}

describe.each(PG_DRIVERS)('constraint strategy on Postgres via %s', (driver) => {
  let h: PgHarness
  beforeAll(async () => {
    h = await openPg(driver, POOL)
  })
  afterAll(async () => {
    await h.close()
  })

  async function makeItems(...extra: string[]) {
    const name = h.table()
    await h.exec(itemsDdl(name, ...extra.map((statement) => statement.replaceAll('$T', name))))
    const table = itemsTable(name)
    return { name, table, store: drizzleStore(h.db, table) }
  }

  // PGlite is one engine on this process's thread, which the 32 callers share: a quarter of the keys keeps its
  // run near the servers' on a loaded machine, and races its one session as hard.
  const raceKeys = driver === 'pglite' ? 500 : 2000
  test(`race: ${raceKeys.toLocaleString('en')} keys × 8 callers, 32 at once, most keys contended: one row, one created, one id per key`, async () => {
    const { name, store } = await makeItems('create unique index on $T (slug)')
    const keys = Array.from({ length: raceKeys }, (_, i) => `k${i}`)
    // Shuffled within blocks of 16 keys (128 calls): with 32 in flight, a key's 8 callers overlap in time (a
    // whole-list shuffle at 64 at once contended about a fifth of the keys), and later ones find the row.
    const calls = shuffledInBlocks(keys, 8, 16, 42)
    const { results, errors } = await runConcurrently(calls, POOL, async (slug) => {
      const start = performance.now()
      const { row, created } = await getOrCreate(store, { slug }, { title: `t-${slug}` }, raceStrategy)
      return { key: slug, id: row.id, created, start, end: performance.now() }
    })
    expect(errors).toEqual([])
    expect(results).toHaveLength(calls.length)
    const outcomes = results as RaceOutcome[]
    expect(raceViolations({ keys, outcomes, rowsByKey: await countRows(h, name) })).toEqual([])
    // The race really happened: for almost every key, two of its callers were in flight at the same time.
    expect(contendedKeys(results as TimedRaceOutcome[]).size).toBeGreaterThanOrEqual(keys.length * 0.9)
  })

  test('composite key: a unique constraint on (tenant, slug)', async () => {
    const { name, store } = await makeItems(
      'alter table $T add constraint $T_tenant_slug unique (tenant, slug)',
    )
    const calls = shuffle(
      [1, 2, 3].flatMap((tenant) =>
        ['a', 'b'].flatMap((slug) => Array.from({ length: 10 }, () => ({ tenant, slug }))),
      ),
      42,
    )
    const { results, errors } = await runConcurrently(calls, POOL, async (key) => {
      const { row, created } = await getOrCreate(store, key, undefined, raceStrategy)
      expect([row.tenant, row.slug]).toEqual([key.tenant, key.slug])
      return { key: `${key.tenant}/${key.slug}`, id: row.id, created }
    })
    expect(errors).toEqual([])
    const counts = await countRows(h, name, `tenant || '/' || slug`)
    const outcomes = results as RaceOutcome[]
    expect(raceViolations({ keys: [...counts.keys()], outcomes, rowsByKey: counts })).toEqual([])
    expect(counts.size).toBe(6)
    // Field order in the key does not matter.
    expect((await getOrCreate(store, { slug: 'a', tenant: 2 })).row.id).toBe(
      (await getOrCreate(store, { tenant: 2, slug: 'a' })).row.id,
    )
  })

  describe('refuses a key no unique index covers exactly, and writes nothing', () => {
    const cases = {
      'no index at all': [],
      'a partial unique index': ['create unique index on $T (slug) where tenant is not null'],
      'an index on a superset (slug, tenant)': ['create unique index on $T (slug, tenant)'],
      'an expression index lower(slug)': ['create unique index on $T (lower(slug))'],
      'a deferrable constraint': [
        'alter table $T add constraint $T_d unique (slug) deferrable initially deferred',
      ],
    } satisfies Record<string, string[]>
    for (const [label, ddl] of Object.entries(cases)) {
      test(label, async () => {
        const { name, store } = await makeItems(...ddl)
        const error = await getOrCreate(store, { slug: 'x' }, { title: 'X' }).catch((e: unknown) => e)
        expect(error).toBeInstanceOf(MissingUniqueConstraintError)
        expect(isGetOrCreateError(error) && error.code).toBe('MISSING_UNIQUE_CONSTRAINT')
        const message = (error as Error).message
        expect(message).toContain(name)
        expect(message).toContain('(slug)')
        expect(message).toContain('CREATE UNIQUE INDEX')
        expect(message).toContain('redisLockStrategy')
        expect((await h.rows(`select count(*)::int as n from ${name}`))[0]?.n).toBe(0)
      })
    }

    test('a subset: unique (slug) does not cover the key (tenant, slug)', async () => {
      const { name, store } = await makeItems('create unique index on $T (slug)')
      await expect(getOrCreate(store, { tenant: 1, slug: 'x' })).rejects.toBeInstanceOf(
        MissingUniqueConstraintError,
      )
      expect((await h.rows(`select count(*)::int as n from ${name}`))[0]?.n).toBe(0)
    })

    test('a unique constraint added by a migration, absent from the drizzle schema, counts', async () => {
      const { name, store } = await makeItems()
      await h.exec(`alter table ${name} add constraint ${name}_slug unique (slug)`)
      await expect(getOrCreate(store, { slug: 'x' })).resolves.toMatchObject({ created: true })
    })
  })

  test('inside a READ COMMITTED transaction a key conflict does not abort it; rollback leaves nothing', async () => {
    const { name, table } = await makeItems('create unique index on $T (slug)')
    await getOrCreate(drizzleStore(h.db, table), { slug: 'existing' })
    // Where a second session exists, it holds an uncommitted insert of 'contested': our read misses it, our
    // insert waits for it and then conflicts, the real race. (PGlite has one session.)
    const other = h.session ? await h.session() : undefined
    await other?.exec(`begin; insert into ${name} (slug, title) values ('contested', 'theirs')`)
    const rollback = new Error('rollback')
    const error = await h.db
      .transaction(async (tx) => {
        const store = drizzleStore(tx, table)
        expect((await getOrCreate(store, { slug: 'existing' })).created).toBe(false)
        if (other) {
          const contested = getOrCreate(store, { slug: 'contested' }, { title: 'ours' })
          await new Promise((resolve) => setTimeout(resolve, 300))
          await other.exec('commit')
          expect(await contested).toMatchObject({ created: false, row: { title: 'theirs' } })
        }
        expect((await getOrCreate(store, { slug: 'fresh' }, { title: 'F' })).created).toBe(true)
        // The next statement still runs: the transaction is not aborted.
        const count = await tx.select({ n: sql<number>`count(*)::int` }).from(table)
        expect(count[0]?.n).toBe(other ? 3 : 2)
        throw rollback
      })
      .catch((e: unknown) => e)
    await other?.release()
    expect(error).toBe(rollback)
    const left = (await h.rows(`select slug from ${name} order by slug`)).map((r) => r.slug)
    expect(left).toEqual(other ? ['contested', 'existing'] : ['existing'])
  })

  test('defaults that hit another unique constraint: the database error reaches the caller', async () => {
    const { name, store } = await makeItems('create unique index on $T (slug)')
    await getOrCreate(store, { slug: 'first' }, { email: 'taken@example.com' })
    const error = await getOrCreate(store, { slug: 'second' }, { email: 'taken@example.com' }).catch(
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(Error)
    expect(isGetOrCreateError(error)).toBe(false)
    expect(sqlState(error)).toBe('23505')
    expect((await h.rows(`select slug from ${name} order by slug`)).map((r) => r.slug)).toEqual(['first'])
  })

  describe('NULL in a key column', () => {
    test('refused where the unique index treats NULLs as distinct, before any write', async () => {
      const { name, store } = await makeItems('create unique index on $T (tenant, slug)')
      const error = await getOrCreate(store, { tenant: null, slug: 'a' }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(InvalidKeyError)
      expect((error as Error).message).toMatch(/NULLS as distinct|NULLs as distinct/i)
      expect((error as Error).message).toContain('NULLS NOT DISTINCT')
      expect((await h.rows(`select count(*)::int as n from ${name}`))[0]?.n).toBe(0)
    })

    test('works with a NULLS NOT DISTINCT index, and the race holds for the null key', async () => {
      const { name, store } = await makeItems('create unique index on $T (tenant, slug) nulls not distinct')
      const keys = ['a', 'b', 'c', 'd']
      const calls = shuffle(
        keys.flatMap((slug) => Array.from({ length: 16 }, () => ({ tenant: null, slug }))),
        42,
      )
      const { results, errors } = await runConcurrently(calls, POOL, async (key) => {
        const { row, created } = await getOrCreate(store, key)
        expect(row.tenant).toBeNull()
        return { key: key.slug, id: row.id, created }
      })
      expect(errors).toEqual([])
      const outcomes = results as RaceOutcome[]
      expect(raceViolations({ keys, outcomes, rowsByKey: await countRows(h, name) })).toEqual([])
    })
  })

  test('bad input fails before any query', async () => {
    const { store } = await makeItems('create unique index on $T (slug)')
    const loose = store as unknown as Store<Item, Record<string, unknown>, Record<string, unknown>>
    const before = h.queries.length
    const cases: [unknown, unknown, string][] = [
      [{}, undefined, 'INVALID_KEY'],
      [{ slug: undefined }, undefined, 'INVALID_KEY'],
      [{ nope: 'x' }, undefined, 'INVALID_KEY'],
      [new Map([['slug', 'x']]), undefined, 'INVALID_KEY'],
      [['x'], undefined, 'INVALID_KEY'],
      ['x', undefined, 'INVALID_KEY'],
      [{ slug: { nested: true } }, undefined, 'INVALID_KEY'],
      [{ slug: 'x' }, { slug: 'y' }, 'CONFLICTING_DEFAULTS'],
      [{ slug: 'x' }, { titel: 'typo' }, 'CONFLICTING_DEFAULTS'],
      [{ slug: 'x' }, new Date(), 'CONFLICTING_DEFAULTS'],
    ]
    for (const [key, defaults, code] of cases) {
      const error = await getOrCreate(
        loose,
        key as Record<string, unknown>,
        defaults as Record<string, unknown>,
      ).catch((e: unknown) => e)
      expect(isGetOrCreateError(error) && error.code, `key ${String(key)}`).toBe(code)
    }
    expect(h.queries.length - before).toBe(0)
    expect(
      await getOrCreate(store, { slug: 'x' }, { slug: 'x', title: 'same key value is fine' }),
    ).toMatchObject({
      created: true,
    })
  })

  test('a key value of the wrong type for its column is refused before any query', async () => {
    const { store } = await makeItems('create unique index on $T (slug)')
    const loose = store as unknown as Store<Item, Record<string, unknown>, Record<string, unknown>>
    await getOrCreate(store, { slug: 'warm' }) // the catalog check is cached now
    const before = h.queries.length
    await expect(getOrCreate(loose, { slug: 1 })).rejects.toBeInstanceOf(InvalidKeyError)
    expect(h.queries.length - before).toBe(0)
  })

  test('a lazy defaults function runs only on the create path, at most once per call', async () => {
    const { store } = await makeItems('create unique index on $T (slug)')
    let calls = 0
    const defaults = async () => {
      calls++
      return { title: 'lazy' }
    }
    expect((await getOrCreate(store, { slug: 'lazy' }, defaults)).row.title).toBe('lazy')
    expect(calls).toBe(1)
    await getOrCreate(store, { slug: 'lazy' }, defaults)
    expect(calls).toBe(1) // a hit never calls it
    // A lazy function returning a conflicting key value is refused before the insert.
    await expect(getOrCreate(store, { slug: 'other' }, () => ({ slug: 'nope' }))).rejects.toBeInstanceOf(
      ConflictingDefaultsError,
    )
    // Under a race, each caller calls it at most once, and the losers' results are discarded.
    const perCall: number[] = []
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        let mine = 0
        await getOrCreate(store, { slug: 'raced' }, () => {
          mine++
          return { title: 'raced' }
        })
        perCall.push(mine)
      }),
    )
    expect(Math.max(...perCall)).toBe(1)
  })

  test('a concurrent delete between the insert and the re-read ends in the right row or ROW_VANISHED', async () => {
    const { name, table } = await makeItems('create unique index on $T (slug)')
    const real = drizzleStore(h.db, table)
    // Once: another caller creates 'v' just before our insert, and deletes it right after our insert was
    // refused, before our re-read.
    let interfere = 1
    const deleting: typeof real = {
      ...real,
      insertIfAbsentAtomically: async (key, values) => {
        const once = interfere-- > 0
        if (once) await h.exec(`insert into ${name} (slug, title) values ('v', 'old')`)
        const row = await real.insertIfAbsentAtomically!(key, values)
        if (once) await h.exec(`delete from ${name} where slug = 'v'`)
        return row
      },
    }
    const recreated = await getOrCreate(deleting, { slug: 'v' }, { title: 'new' })
    expect(recreated).toMatchObject({ created: true, row: { slug: 'v', title: 'new' } })
    expect((await h.rows(`select title from ${name} where slug = 'v'`)).map((r) => r.title)).toEqual(['new'])

    // Deleted every time: a typed, retryable error after the bounded attempts, never undefined.
    const alwaysDeleting: typeof real = {
      ...real,
      insertIfAbsentAtomically: async (key, values) => {
        await h.exec(`insert into ${name} (slug, title) values ('w', 'blocker') on conflict do nothing`)
        const row = await real.insertIfAbsentAtomically!(key, values)
        await h.exec(`delete from ${name} where slug = 'w'`)
        return row
      },
    }
    const error = await getOrCreate(alwaysDeleting, { slug: 'w' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RowVanishedError)
    expect(isGetOrCreateError(error) && error.retryable).toBe(true)
  })

  test('prepared inserts (all three kinds) run $defaultFn on every insert, not once', async () => {
    const name = h.table()
    await h.exec(
      `create table ${name} (id serial primary key, slug text not null unique, token text not null)`,
    )
    let made = 0
    const table = pgTable(name, {
      id: serial('id').primaryKey(),
      slug: text('slug').notNull(),
      token: text('token')
        .notNull()
        .$defaultFn(() => `token-${++made}`),
    })
    const store = drizzleStore(h.db, table)
    const a = await getOrCreate(store, { slug: 'a' })
    const b = await getOrCreate(store, { slug: 'b' })
    const c = await store.insert({ slug: 'c' })
    const d = await store.insert({ slug: 'd' })
    const e = await store.insertIfAbsentUnderLock!({ slug: 'e' }, { slug: 'e' })
    const f = await store.insertIfAbsentUnderLock!({ slug: 'f' }, { slug: 'f' })
    expect([a.row.token, b.row.token, c.token, d.token, e?.token, f?.token]).toEqual([
      'token-1',
      'token-2',
      'token-3',
      'token-4',
      'token-5',
      'token-6',
    ])
    // insertIfAbsentUnderLock makes its values before it knows: a row found costs a $defaultFn call too.
    expect(await store.insertIfAbsentUnderLock!({ slug: 'e' }, { slug: 'e' })).toBe(undefined)
    expect(made).toBe(7)
  })

  test('insertIfAbsentUnderLock: one prepared statement per call; its rows read as find reads them', async () => {
    const { store } = await makeItems() // no unique index: lock strategies use it on such tables
    expect(typeof store.insertIfAbsentUnderLock).toBe('function')
    let before = h.queries.length
    const row = await store.insertIfAbsentUnderLock!(
      { slug: 'u', tenant: 7 },
      { slug: 'u', tenant: 7, title: 'T' },
    )
    expect(h.queries.length - before).toBe(1)
    expect(h.queries.at(-1)).toMatch(/^insert into .* select .* where not exists \(select 1 from /)
    expect(row?.createdAt).toBeInstanceOf(Date) // the column's mapping, as a select applies it
    expect(await store.find({ slug: 'u', tenant: 7 })).toEqual(row)
    before = h.queries.length
    expect(await store.insertIfAbsentUnderLock!({ tenant: 7, slug: 'u' }, { slug: 'u', tenant: 7 })).toBe(
      undefined,
    )
    expect(
      await store.insertIfAbsentUnderLock!({ slug: 'u', tenant: null }, { slug: 'u', tenant: null }),
    ).toMatchObject({
      slug: 'u',
      tenant: null,
    })
    expect(await store.insertIfAbsentUnderLock!({ slug: 'u', tenant: null }, { slug: 'u' })).toBe(undefined)
    expect(h.queries.length - before).toBe(3)
  })

  test("rows read as drizzle's own select reads them, whatever the column types", async () => {
    const name = h.table()
    await h.exec(
      `create table ${name} (id serial primary key, slug text not null unique, doc jsonb, amount numeric(12, 2),
        big bigint, at timestamptz, at_text timestamp, day date, flag boolean, tags text[], cents integer)`,
    )
    const money = customType<{ data: number; driverData: number }>({
      dataType: () => 'integer',
      fromDriver: (value) => value / 100,
      toDriver: (value) => Math.round(value * 100),
    })
    const table = pgTable(name, {
      id: serial('id').primaryKey(),
      slug: text('slug').notNull(),
      doc: jsonb('doc').$type<{ a: number[] }>(),
      amount: numeric('amount'),
      big: bigint('big', { mode: 'bigint' }),
      at: timestamp('at', { withTimezone: true }),
      atText: timestamp('at_text', { mode: 'string' }),
      day: date('day', { mode: 'date' }),
      flag: boolean('flag'),
      tags: text('tags').array(),
      cents: money('cents'),
    })
    const store = drizzleStore(h.db, table)
    const values = {
      slug: 'typed',
      doc: { a: [1, 2] },
      amount: '12.50',
      big: 9007199254740993n,
      at: new Date('2026-01-02T03:04:05.678Z'),
      atText: '2026-01-02 03:04:05.678',
      day: new Date('2026-01-02T00:00:00.000Z'),
      flag: true,
      tags: ['x', 'y'],
      cents: 12.34,
    }
    const created = await getOrCreate(store, { slug: 'typed' }, values)
    const [drizzles] = await h.db.select().from(table).where(sql`${table.slug} = 'typed'`)
    expect(created.row).toEqual(drizzles)
    expect((await getOrCreate(store, { slug: 'typed' })).row).toEqual(drizzles)
    expect(drizzles).toMatchObject({ ...values, id: created.row.id })
    const nulls = (await getOrCreate(store, { slug: 'nulls' })).row
    const [drizzleNulls] = await h.db.select().from(table).where(sql`${table.slug} = 'nulls'`)
    expect(await store.find({ slug: 'nulls' })).toEqual(drizzleNulls)
    expect(nulls).toEqual(drizzleNulls)

    // The lock strategies' statement: the same values in, the same row out.
    const viaLockPath = await store.insertIfAbsentUnderLock!(
      { slug: 'typed-u' },
      { ...values, slug: 'typed-u' },
    )
    const [drizzlesU] = await h.db.select().from(table).where(sql`${table.slug} = 'typed-u'`)
    expect(viaLockPath).toEqual(drizzlesU)
    expect(drizzlesU).toMatchObject({ ...values, slug: 'typed-u' })

    // An explicit null is SQL NULL, as drizzle's values() writes it: not JSON 'null', not toDriver(null).
    const explicit = { doc: null, amount: null, big: null, at: null, flag: null, tags: null, cents: null }
    await getOrCreate(store, { slug: 'explicit-a' }, explicit)
    await store.insertIfAbsentUnderLock!({ slug: 'explicit-b' }, { slug: 'explicit-b', ...explicit })
    await store.insert({ slug: 'explicit-c', ...explicit })
    expect(
      await h.rows(
        `select slug, doc is null and amount is null and big is null and at is null and flag is null
           and tags is null and cents is null as all_null from ${name} where slug like 'explicit-%' order by slug`,
      ),
    ).toEqual([
      { slug: 'explicit-a', all_null: true },
      { slug: 'explicit-b', all_null: true },
      { slug: 'explicit-c', all_null: true },
    ])
  })

  test('insertIfAbsentUnderLock leaves generated columns to the database, as drizzle does', async () => {
    const name = h.table()
    await h.exec(
      `create table ${name} (id serial primary key, slug text not null,
        slug_upper text generated always as (upper(slug)) stored)`,
    )
    const table = pgTable(name, {
      id: serial('id').primaryKey(),
      slug: text('slug').notNull(),
      slugUpper: text('slug_upper').generatedAlwaysAs(sql`upper(slug)`),
    })
    const store = drizzleStore(h.db, table)
    const values = { slug: 'g', slugUpper: 'ignored' } as { slug: string }
    expect(await store.insertIfAbsentUnderLock!({ slug: 'g' }, values)).toMatchObject({
      slug: 'g',
      slugUpper: 'G',
    })
    expect(await store.insertIfAbsentUnderLock!({ slug: 'g' }, values)).toBe(undefined)
    expect((await store.insert({ slug: 'h' })).slugUpper).toBe('H')
  })

  test('a hit is one round trip; a miss two (read, insert)', async () => {
    const { store } = await makeItems('create unique index on $T (slug)')
    await getOrCreate(store, { slug: 'warm' }) // first use: one catalog look-up, cached afterwards
    let before = h.queries.length
    await getOrCreate(store, { slug: 'warm' })
    expect(h.queries.length - before).toBe(1)
    before = h.queries.length
    await getOrCreate(store, { slug: 'cold' })
    expect(h.queries.length - before).toBe(2)
  })

  // PGlite is one session: no second transaction can commit while the first one runs.
  if (driver !== 'pglite')
    test('REPEATABLE READ and SERIALIZABLE: the winner committing after the snapshot gives SERIALIZATION_CONFLICT', async () => {
      for (const isolationLevel of ['repeatable read', 'serializable'] as const) {
        const { name, table } = await makeItems('create unique index on $T (slug)')
        const outside = drizzleStore(h.db, table)
        const error = await h.db
          .transaction(
            async (tx) => {
              // Take the snapshot: the key is missing in it.
              await tx.execute(sql.raw(`select count(*) from ${name}`))
              // Another session creates the key and commits.
              expect((await getOrCreate(outside, { slug: 'k' })).created).toBe(true)
              return getOrCreate(drizzleStore(tx, table), { slug: 'k' })
            },
            { isolationLevel },
          )
          .catch((e: unknown) => e)
        expect(error, isolationLevel).toBeInstanceOf(SerializationConflictError)
        expect(isGetOrCreateError(error) && error.retryable).toBe(true)
        expect(sqlState(error)).toBe('40001')
        expect((await h.rows(`select count(*)::int as n from ${name}`))[0]?.n).toBe(1)
      }
    })
})
