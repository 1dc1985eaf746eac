/**
 * updateOrCreate's own rules (the conformance suite's `'update'` cases run on every built-in store): argument
 * checks before any I/O, `createDefaults` only for a create, a `values` function called again with the winner's
 * row after a lost race, `ROW_VANISHED` after 3 vanished rows; and, on Postgres under REPEATABLE READ, an update
 * over a row another transaction changed after the snapshot is `SERIALIZATION_CONFLICT`.
 */
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
