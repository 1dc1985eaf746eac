/**
 * Key equality on Postgres (postgres.js, the server has ICU): a unique index whose collation differs from
 * its column's, and `Store.lockIdentity` (the table as search_path resolves it, the key as Postgres compares
 * it, refusals). The conformance files race the spellings themselves (support/pg-equal-keys.ts).
 */
import { getOrCreate, InvalidKeyError, MissingUniqueConstraintError } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { databaseUrl, scratchName } from '@getorcreate/test-support'
import {
  char,
  integer,
  numeric,
  pgSchema,
  pgTable,
  serial,
  text,
  timestamp,
  uuid,
  varchar,
} from 'drizzle-orm/pg-core'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { openPg, PG_DRIVERS, type PgHarness } from './support/pg.js'
import { CASE_INSENSITIVE_COLLATION } from './support/pg-equal-keys.js'

let h: PgHarness
beforeAll(async () => {
  h = await openPg('postgres.js', 4)
  await h.exec(CASE_INSENSITIVE_COLLATION)
})
afterAll(() => h.close())

const slugTable = (name: string) => pgTable(name, { id: serial('id').primaryKey(), slug: text('slug') })

describe("a unique index whose collation is not its column's", () => {
  for (const [what, column, index] of [
    ['a case-insensitive index on a default-collation column', 'text', 'collate goc_ci'],
    ['a default-collation index on a case-insensitive column', 'text collate goc_ci', 'collate "default"'],
  ] as const) {
    test(`${what}: refused as MISSING_UNIQUE_CONSTRAINT, with the reason`, async () => {
      const name = h.table()
      await h.exec(`create table ${name} (id serial primary key, slug ${column});
        create unique index ${name}_slug on ${name} (slug ${index})`)
      const store = drizzleStore(h.db, slugTable(name))
      const error = await getOrCreate(store, { slug: 'bob' }).catch((caught: unknown) => caught)
      expect(error).toBeInstanceOf(MissingUniqueConstraintError)
      const missing = error as MissingUniqueConstraintError
      expect(missing.sql).toBe(undefined) // another index would not help while this one arbitrates
      expect(missing.hint).toContain(`${name}_slug`)
      expect(missing.hint).toMatch(/collation "goc_ci"/)
      expect(Number((await h.rows(`select count(*)::int as n from ${name}`))[0]?.n)).toBe(0)
    })
  }

  test('the same collation on both (nondeterministic): one row for every spelling', async () => {
    const name = h.table()
    await h.exec(`create table ${name} (id serial primary key, slug text collate goc_ci unique)`)
    const store = drizzleStore(h.db, slugTable(name))
    const first = await getOrCreate(store, { slug: 'Bob' })
    for (const slug of ['bob', 'BOB', 'Bob']) {
      expect(await getOrCreate(store, { slug })).toEqual({ row: first.row, created: false })
    }
  })
})

test('varchar(n): a key cut only as the insert cuts it, never matching a row it could not be stored as', async () => {
  const name = h.table()
  await h.exec(`create table ${name} (id serial primary key, code varchar(3) unique)`)
  const store = drizzleStore(
    h.db,
    pgTable(name, { id: serial('id').primaryKey(), code: varchar('code', { length: 3 }) }),
  )
  const first = await getOrCreate(store, { code: 'abc' })
  expect(await getOrCreate(store, { code: 'abc   ' })).toEqual({ row: first.row, created: false })
  // An explicit cast would cut 'abcd' to 'abc' and find that row: the insert refuses 'abcd' instead.
  expect(await store.find({ code: 'abcd' })).toBe(undefined)
  const error = await getOrCreate(store, { code: 'abcd' }).catch((caught: unknown) => caught)
  const chain: string[] = []
  for (let cause = error; cause instanceof Error; cause = cause.cause) chain.push(cause.message)
  expect(chain.join(' / ')).toMatch(/value too long for type character varying\(3\)/)
  expect(Number((await h.rows(`select count(*)::int as n from ${name}`))[0]?.n)).toBe(1)
})

describe('lockIdentity', () => {
  for (const driver of PG_DRIVERS)
    test(`${driver}: spellings Postgres equates give one identity; other keys another; exact types take no round trip`, async () => {
      const h = await openPg(driver, 2)
      try {
        const name = h.table()
        await h.exec(`create table ${name} (id serial primary key, at timestamptz(0), amount numeric(10,2),
      code char(4), ref uuid, n integer, slug text)`)
        const table = pgTable(name, {
          id: serial('id').primaryKey(),
          at: timestamp('at', { precision: 0, withTimezone: true, mode: 'string' }),
          amount: numeric('amount', { precision: 10, scale: 2 }),
          code: char('code', { length: 4 }),
          ref: uuid('ref'),
          n: integer('n'),
          slug: text('slug'),
        })
        const store = drizzleStore(h.db, table)
        const identity = (key: Record<string, unknown>) => Promise.resolve(store.lockIdentity!(key as never))
        const same = async (keys: Record<string, unknown>[]) => {
          const all = await Promise.all(keys.map(identity))
          for (const other of all) expect(other).toEqual(all[0])
          return all[0]
        }
        const at = await same([
          { at: '2024-05-01T12:00:00+02:00' },
          { at: '2024-05-01T10:00:00.4Z' },
          { at: '2024-05-01 05:00:00-05' },
        ])
        expect(at).not.toEqual(await identity({ at: '2024-05-01T10:00:01Z' }))
        await same([{ amount: '7' }, { amount: '7.001' }, { amount: '07.00' }])
        expect(await identity({ amount: '7.01' })).not.toEqual(await identity({ amount: '7' }))
        await same([{ code: 'ab' }, { code: 'ab  ' }])
        const ref = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'
        await same([{ ref }, { ref: ref.toUpperCase() }, { ref: `{${ref}}` }])
        expect(await identity({ slug: 'Bob' })).not.toEqual(await identity({ slug: 'bob' }))
        expect(await identity({ n: 1, slug: null })).toEqual({
          table: `pg:public.${name}`,
          key: { n: '1', slug: null },
        })

        // Another session's TimeZone changes nothing (checked on postgres.js, which sets it per connection).
        if (driver === 'postgres.js') {
          const tokyo = postgres(databaseUrl(), {
            max: 1,
            onnotice: () => undefined,
            connection: { TimeZone: 'Asia/Tokyo' },
          })
          try {
            const there = drizzleStore(drizzle(tokyo), table)
            expect(await there.lockIdentity!({ at: '2024-05-01T19:00:00+09:00' })).toEqual(at)
          } finally {
            await tokyo.end({ timeout: 5 })
          }
        }

        const before = h.queries.length
        await identity({ n: 2, slug: 'x', code: 'zz ', ref })
        expect(h.queries.length - before).toBe(0) // exact types: no round trip once the facts are cached
        await identity({ at: '2024-05-01T10:00:00Z' })
        expect(h.queries.length - before).toBe(1) // a timestamp: one statement
      } finally {
        await h.close()
      }
    })

  test('pgTable(t) under a search_path naming another schema is the same table as pgSchema(s).table(t)', async () => {
    const schema = scratchName('s')
    const name = scratchName()
    const sql = postgres(databaseUrl(), {
      max: 1,
      onnotice: () => undefined,
      connection: { search_path: schema },
    })
    try {
      await h.exec(
        `create schema ${schema}; create table ${schema}.${name} (id serial primary key, slug text)`,
      )
      const unqualified = drizzleStore(drizzle(sql), slugTable(name))
      const qualified = drizzleStore(
        h.db,
        pgSchema(schema).table(name, { id: serial('id').primaryKey(), slug: text('slug') }),
      )
      expect(unqualified.name).toBe(`pg:public.${name}`) // the declaration's, for messages
      const [a, b] = await Promise.all([
        unqualified.lockIdentity!({ slug: 'x' }),
        qualified.lockIdentity!({ slug: 'x' }),
      ])
      expect(a).toEqual(b)
      expect(a.table).toBe(`pg:${schema}.${name}`)
    } finally {
      await h.exec(`drop schema ${schema} cascade`)
      await sql.end({ timeout: 5 })
    }
  })

  test('a nondeterministic collation is refused, naming the column, the collation and the fix', async () => {
    const name = h.table()
    await h.exec(`create table ${name} (id serial primary key, slug text collate goc_ci)`)
    const store = drizzleStore(h.db, slugTable(name))
    const error = await Promise.resolve()
      .then(() => store.lockIdentity!({ slug: 'Bob' }))
      .catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(InvalidKeyError)
    expect((error as Error).message).toMatch(
      /"slug".*nondeterministic collation "goc_ci".*deterministic collation.*unique index/s,
    )
  })
})
