/** Compile-time contract of the public API: checked by `vitest --typecheck` and `tsc`. */
import { type GetOrCreateResult, getOrCreate, memoryStore } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { integer, pgTable, serial, text } from 'drizzle-orm/pg-core'
import { drizzle } from 'drizzle-orm/pglite'
import { describe, expectTypeOf, test } from 'vitest'

const items = pgTable('items', {
  id: serial('id').primaryKey(),
  slug: text('slug').notNull(),
  tenant: integer('tenant'),
  title: text('title').notNull(),
})
const db = drizzle.mock()
const store = drizzleStore(db, items)

describe('drizzleStore infers rows, keys and defaults from the table', () => {
  test('the row type is the select model', () => {
    expectTypeOf(getOrCreate(store, { slug: 'a' }, { title: 'A' })).resolves.toEqualTypeOf<
      GetOrCreateResult<typeof items.$inferSelect>
    >()
  })

  test('a key naming a column the table lacks does not compile', () => {
    // @ts-expect-error: "nope" is not a column of items
    void getOrCreate(store, { slug: 'a', nope: 1 }, { title: 'A' })
    // @ts-expect-error: wrong value type for slug
    void getOrCreate(store, { slug: 1 }, { title: 'A' })
  })

  test('defaults must supply the required columns the key does not, with the right types', () => {
    // @ts-expect-error: title (NOT NULL, no default) is missing
    void getOrCreate(store, { slug: 'a' }, { tenant: 1 })
    // @ts-expect-error: title must be a string
    void getOrCreate(store, { slug: 'a' }, { title: 1 })
    // @ts-expect-error: unknown column in defaults
    void getOrCreate(store, { slug: 'a' }, { title: 'A', nope: 1 })
    void getOrCreate(store, { slug: 'a' }, async () => ({ title: 'A' }))
    void getOrCreate(store, { slug: 'a', title: 'A' })
  })
})

test('memoryStore keys are checked against its row type', () => {
  const memory = memoryStore<{ id: number; slug: string }>({ uniqueBy: [['slug']] })
  expectTypeOf(getOrCreate(memory, { slug: 'a' })).resolves.toEqualTypeOf<
    GetOrCreateResult<{ id: number; slug: string }>
  >()
  // @ts-expect-error: "nope" is not a field
  void getOrCreate(memory, { nope: 'a' })
})
