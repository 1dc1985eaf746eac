/** Table naming on Postgres: schemas, drizzle's casing option, and the store's name. */
import { PGlite } from '@electric-sql/pglite'
import { getOrCreate } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { scratchName } from '@getorcreate/test-support'
import { pgSchema, pgTable, serial, text } from 'drizzle-orm/pg-core'
import { drizzle } from 'drizzle-orm/pglite'
import { afterAll, expect, test } from 'vitest'

const client = new PGlite()
afterAll(() => client.close())

test("columns named by drizzle's casing option are found in the catalog under their real names", async () => {
  const name = scratchName()
  await client.exec(
    `create table ${name} (id serial primary key, tag_slug text not null unique, display_name text)`,
  )
  const table = pgTable(name, { id: serial().primaryKey(), tagSlug: text().notNull(), displayName: text() })
  const db = drizzle(client, { casing: 'snake_case' })
  const first = await getOrCreate(drizzleStore(db, table), { tagSlug: 'a' }, { displayName: 'A' })
  expect(first).toMatchObject({ created: true, row: { tagSlug: 'a', displayName: 'A' } })
  expect((await getOrCreate(drizzleStore(db, table), { tagSlug: 'a' })).row).toEqual(first.row)
  // The lock strategies' one-statement insert names the same columns.
  const store = drizzleStore(db, table)
  expect(await store.insertIfAbsentUnderLock!({ tagSlug: 'a' }, { tagSlug: 'a' })).toBe(undefined)
  const b = await store.insertIfAbsentUnderLock!({ tagSlug: 'b' }, { tagSlug: 'b', displayName: 'B' })
  expect(b).toMatchObject({ tagSlug: 'b', displayName: 'B' })
})

test('a table in another schema: found there, and named after it', async () => {
  const schemaName = scratchName('s')
  const name = scratchName()
  await client.exec(
    `create schema ${schemaName}; create table ${schemaName}.${name} (id serial primary key, slug text unique)`,
  )
  // The same table name in public, without the unique index: the check must not look there.
  await client.exec(`create table ${name} (id serial primary key, slug text)`)
  const table = pgSchema(schemaName).table(name, { id: serial('id').primaryKey(), slug: text('slug') })
  const store = drizzleStore(drizzle(client), table)
  expect(store.name).toBe(`pg:${schemaName}.${name}`)
  expect((await getOrCreate(store, { slug: 'x' })).created).toBe(true)
  // insertIfAbsentUnderLock reads and writes the schema's table, not public's.
  expect(await store.insertIfAbsentUnderLock!({ slug: 'x' }, { slug: 'x' })).toBe(undefined)
  expect(await store.insertIfAbsentUnderLock!({ slug: 'y' }, { slug: 'y' })).toMatchObject({ slug: 'y' })
  expect((await client.query(`select count(*)::int as n from ${name}`)).rows).toEqual([{ n: 0 }])
  expect(drizzleStore(drizzle(client), pgTable(name, { id: serial('id'), slug: text('slug') })).name).toBe(
    `pg:public.${name}`,
  )
})
