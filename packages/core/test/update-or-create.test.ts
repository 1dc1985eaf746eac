/**
 * updateOrCreate's own rules (the conformance suite's `'update'` cases run on every built-in store): argument
 * checks before any I/O, `createDefaults` only for a create, a `values` function called again with the winner's
 * row after a lost race, `ROW_VANISHED` after 3 vanished rows; and, on Postgres under REPEATABLE READ, an update
 * over a row another transaction changed after the snapshot is `SERIALIZATION_CONFLICT`.
 */

import { PGlite } from '@electric-sql/pglite'
import {
  constraintStrategy,
  isGetOrCreateError,
  memoryStore,
  type Store,
  updateOrCreate,
} from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { databaseUrl, scratchName } from '@getorcreate/test-support'
import { integer, pgTable, serial, text } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { expect, test } from 'vitest'

type Item = { id?: number; slug: string; title?: string | null; hits?: number }

const strategy = constraintStrategy({ singleFlight: false })
const items = () => memoryStore<Item>({ uniqueBy: [['slug']], autoIncrement: 'id' })

test('a store without update, a bad options argument, a key field changed: refused before any I/O', async () => {
  const base = items()
  let io = 0
  const counting: Store<Item> = {
    name: base.name,
    find: (key, opts) => {
      io++
      return base.find(key, opts)
    },
    insert: (values, opts) => {
      io++
      return base.insert(values, opts)
    },
  }
  await expect(updateOrCreate(counting, { slug: 'a' }, { title: 't' })).rejects.toThrow(/has no update/)
  await expect(
    updateOrCreate(base, { slug: 'a' }, { title: 't' }, 'fast' as unknown as { strategy?: undefined }),
  ).rejects.toThrow(TypeError)
  const changed = await updateOrCreate(base, { slug: 'a' }, { slug: 'b' }).catch((e: unknown) => e)
  expect(isGetOrCreateError(changed) && changed.code).toBe('CONFLICTING_DEFAULTS')
  const badDefaults = await updateOrCreate(base, { slug: 'a' }, {}, { createDefaults: { slug: 'c' } }).catch(
    (e: unknown) => e,
  )
  expect(isGetOrCreateError(badDefaults) && badDefaults.code).toBe('CONFLICTING_DEFAULTS')
  expect(io).toBe(0)
  expect(base.rows()).toEqual([])
})

test('createDefaults are called and written only for a create; values only for the fields they give', async () => {
  const store = items()
  let made = 0
  const createDefaults = () => {
    made++
    return { hits: 100 }
  }
  const first = await updateOrCreate(store, { slug: 'a' }, { title: 'one' }, { createDefaults, strategy })
  expect([first.created, first.row.title, first.row.hits]).toEqual([true, 'one', 100])
  const second = await updateOrCreate(store, { slug: 'a' }, { title: 'two' }, { createDefaults, strategy })
  expect([second.created, second.row.title, second.row.hits]).toEqual([false, 'two', 100])
  expect(made).toBe(1)
  // No field to write: the row as it is.
  const none = await updateOrCreate(store, { slug: 'a' }, {}, { strategy })
  expect([none.created, none.row.title]).toEqual([false, 'two'])
})

test("a create that lost its race calls values again, with the winner's row, for its update", async () => {
  const store = items()
  await store.insert({ slug: 'a', title: 'winner', hits: 5 })
  // The first read misses (as if it ran before the winner's commit): the strategy then creates, and loses.
  let first = true
  const late: Store<Item> = Object.assign(Object.create(store) as Store<Item>, {
    find(key: Partial<Item>, opts?: { fresh?: boolean }) {
      if (first && !opts?.fresh) {
        first = false
        return Promise.resolve(undefined)
      }
      return store.find(key, opts)
    },
  })
  const seen: (number | undefined)[] = []
  const result = await updateOrCreate(
    late,
    { slug: 'a' },
    (current) => {
      seen.push(current?.hits)
      return { hits: (current?.hits ?? 0) + 1 }
    },
    { strategy },
  )
  expect(seen).toEqual([undefined, 5])
  expect([result.created, result.row.hits, result.row.title]).toEqual([false, 6, 'winner'])
  expect(store.rows()).toHaveLength(1)
})

test('a row deleted between being found and being updated, every time: ROW_VANISHED after 3 attempts', async () => {
  const store = items()
  await store.insert({ slug: 'a' })
  let updates = 0
  const vanishing: Store<Item> = Object.assign(Object.create(store) as Store<Item>, {
    async update() {
      updates++
      return undefined
    },
  })
  const error = await updateOrCreate(vanishing, { slug: 'a' }, { title: 't' }, { strategy }).catch(
    (e: unknown) => e,
  )
  expect(isGetOrCreateError(error) && error.code).toBe('ROW_VANISHED')
  expect(updates).toBe(3)
})

test('Postgres, REPEATABLE READ: updating a row another transaction changed after the snapshot is SERIALIZATION_CONFLICT', async () => {
  const name = scratchName('uoc_rr')
  const sql = postgres(databaseUrl(), { max: 3, onnotice: () => undefined })
  try {
    await sql.unsafe(
      `create table ${name} (id serial primary key, slug text not null unique, title text, hits integer)`,
    )
    await sql.unsafe(`insert into ${name} (slug, title, hits) values ('a', 'old', 0)`)
    const table = pgTable(name, {
      id: serial('id').primaryKey(),
      slug: text('slug').notNull(),
      title: text('title'),
      hits: integer('hits'),
    })
    const db = drizzle(sql)
    const error = await db
      .transaction(
        async (tx) => {
          await tx.execute(`select 1`) // the snapshot
          await sql.unsafe(`update ${name} set title = 'other' where slug = 'a'`)
          return updateOrCreate(drizzleStore(tx, table), { slug: 'a' }, { title: 'mine' }, { strategy })
        },
        { isolationLevel: 'repeatable read' },
      )
      .catch((e: unknown) => e)
    expect(isGetOrCreateError(error) && error.code).toBe('SERIALIZATION_CONFLICT')
    const [row] = await sql.unsafe<{ title: string }[]>(`select title from ${name} where slug = 'a'`)
    expect(row?.title).toBe('other')
  } finally {
    await sql.unsafe(`drop table if exists ${name}`)
    await sql.end({ timeout: 5 })
  }
})

test('values: a field set to undefined is left alone (on a create too); null, a non-object or a function returning nothing is refused; a getter cannot change a key field', async () => {
  const store = items()
  const created = await updateOrCreate(
    store,
    { slug: 'a' },
    { title: undefined, hits: 1 },
    { createDefaults: { title: 'from defaults' }, strategy },
  )
  expect([created.row.title, created.row.hits]).toEqual(['from defaults', 1])
  const updated = await updateOrCreate(store, { slug: 'a' }, { title: undefined, hits: 2 }, { strategy })
  expect([updated.row.title, updated.row.hits]).toEqual(['from defaults', 2])
  for (const values of [null, 'title', () => undefined, async () => 7]) {
    const error = await updateOrCreate(store, { slug: 'a' }, values as never, { strategy }).catch(
      (e: unknown) => e,
    )
    expect(isGetOrCreateError(error) && error.code).toBe('CONFLICTING_DEFAULTS')
  }
  // A getter that answers the key's value once, then another: the copy is what is checked and written.
  let reads = 0
  const sly = {
    get slug() {
      reads++
      return reads === 1 ? 'a' : 'moved'
    },
    title: 'sly',
  }
  const result = await updateOrCreate(store, { slug: 'a' }, sly as never, { strategy })
  expect([result.row.slug, result.row.title, reads]).toEqual(['a', 'sly', 1])
  expect(store.rows().map((row) => row.slug)).toEqual(['a'])
})

test('memoryStore.update keeps its uniqueBy sets, as a unique index would, and leaves undefined fields alone', async () => {
  const store = memoryStore<Item & { email?: string }>({
    uniqueBy: [['slug'], ['email']],
    autoIncrement: 'id',
  })
  await store.insert({ slug: 'a', email: 'a@example.com', title: 'A' })
  await store.insert({ slug: 'b', email: 'b@example.com' })
  const clash = await store.update({ slug: 'b' }, { email: 'a@example.com' }).catch((e: unknown) => e)
  expect((clash as { code?: string }).code).toBe('UNIQUE_VIOLATION')
  expect((await store.find({ slug: 'b' }))?.email).toBe('b@example.com')
  expect((await store.update({ slug: 'a' }, { title: undefined, email: 'new@example.com' }))?.title).toBe('A')
  expect(await store.update({ slug: 'none' }, { title: 'x' })).toBe(undefined)
})

test('a column named like an Object.prototype member (toString) that values leave out keeps its value on update (PGlite)', async () => {
  const client = new PGlite()
  try {
    await client.exec(
      'create table named (id serial primary key, slug text not null unique, to_string text, title text)',
    )
    const table = pgTable('named', {
      id: serial('id').primaryKey(),
      slug: text('slug').notNull(),
      toString: text('to_string'),
      title: text('title'),
    })
    // Typed loosely: a key object literal has Object.prototype's toString, which the column's type is not.
    const store = drizzleStore(drizzlePglite(client), table) as unknown as Store<Record<string, unknown>>
    await updateOrCreate(store, { slug: 'a' }, { title: 'one', toString: 'kept' }, { strategy })
    const updated = await updateOrCreate(store, { slug: 'a' }, { title: 'two' }, { strategy })
    expect([updated.created, updated.row.title, updated.row.toString]).toEqual([false, 'two', 'kept'])
  } finally {
    await client.close()
  }
})
