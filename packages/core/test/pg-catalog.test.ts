/** The Postgres catalog read does not depend on the driver's type parsing. */
import { getOrCreate, MissingUniqueConstraintError } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { databaseUrl, scratchName } from '@getorcreate/test-support'
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { afterAll, expect, test } from 'vitest'

// Without its type fetch, postgres.js returns a text[] as the string '{slug}' (as it does on a connection
// whose fetch was cancelled, e.g. by a short statement_timeout).
const client = postgres(databaseUrl(), { max: 2, fetch_types: false, onnotice: () => {} })
const tables: string[] = []
afterAll(async () => {
  if (tables.length > 0) await client.unsafe(`drop table if exists ${tables.join(', ')}`)
  await client.end({ timeout: 5 })
})

test('postgres.js without fetch_types: the unique index is found, and a missing one is described', async () => {
  expect(await client.unsafe(`select array['slug']::text[] as a`)).toEqual([{ a: '{slug}' }])
  const name = scratchName()
  tables.push(name)
  await client.unsafe(
    `create table ${name} (id serial primary key, slug text not null unique, label text, note text)`,
  )
  const table = pgTable(name, {
    id: serial('id').primaryKey(),
    slug: text('slug'),
    label: text('label'),
    note: text('note'),
  })
  const store = drizzleStore(drizzle(client), table)
  expect(await store.uniqueness!(['slug'])).toBe('enforced')
  expect((await getOrCreate(store, { slug: 'a' }, { label: 'A' })).created).toBe(true)
  expect(await getOrCreate(store, { slug: 'a' }, { label: 'B' })).toMatchObject({
    created: false,
    row: { slug: 'a', label: 'A' },
  })
  // The facts behind the fix: `label` is nullable, so Postgres 15+ gets NULLS NOT DISTINCT.
  const error = await getOrCreate(store, { label: 'A' }).catch((e: unknown) => e)
  expect(error).toBeInstanceOf(MissingUniqueConstraintError)
  const [server] = await client.unsafe(`select current_setting('server_version_num')::int as version`)
  const nullsNotDistinct = Number(server?.version) >= 150000 ? ' NULLS NOT DISTINCT' : ''
  expect((error as MissingUniqueConstraintError).sql).toBe(
    `CREATE UNIQUE INDEX ON "public"."${name}" ("label")${nullsNotDistinct}`,
  )
})
