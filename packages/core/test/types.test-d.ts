/** Compile-time contract of the public API: checked by `vitest --typecheck` and `tsc`. */
import {
  type Defaults,
  type DefaultsRequired,
  type ExactKey,
  type GetOrCreateResult,
  getOrCreate,
  memoryStore,
  type NeedsDefaults,
  type Store,
  type Strategy,
  type TableName,
  type UnknownColumn,
  type UnknownField,
} from '@getorcreate/core'
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
type Row = typeof items.$inferSelect
type Insert = typeof items.$inferInsert

/** The table: a composite key, and a NOT NULL `label` that neither the key nor a default gives. */
const ncTags = pgTable('nc_tags', {
  id: serial('id').primaryKey(),
  tenantId: integer('tenant_id').notNull(),
  slug: text('slug').notNull(),
  label: text('label').notNull(),
  note: text('note'),
})
const tags = drizzleStore(db, ncTags)
declare const strategy: Strategy

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

describe('the compiler names the unknown column and its table', () => {
  test('drizzleStore carries the table name for the compiler', () => {
    expectTypeOf(tags).toExtend<TableName<'nc_tags'>>()
  })

  test('a key field the table lacks gets a type that names it and the table', () => {
    // @ts-expect-error: Type 'number' is not assignable to type 'UnknownColumn<"nope", "nc_tags">'
    void getOrCreate(tags, { tenantId: 1, slug: 'a', nope: 1 }, { label: 'A' })
    type Checked = ExactKey<{ slug: string; nope: number }, Partial<typeof ncTags.$inferSelect>, 'nc_tags'>
    expectTypeOf<Checked['nope']>().toEqualTypeOf<UnknownColumn<'nope', 'nc_tags'>>()
    expectTypeOf<Checked['slug']>().toEqualTypeOf<string>()
    // Nothing satisfies the error type: not the value, not a string, not undefined.
    expectTypeOf<number>().not.toExtend<UnknownColumn<'nope', 'nc_tags'>>()
    expectTypeOf<string>().not.toExtend<UnknownColumn<'nope', 'nc_tags'>>()
    expectTypeOf<undefined>().not.toExtend<UnknownColumn<'nope', 'nc_tags'>>()
  })

  test('unknown columns in defaults are named too: objects, and what lazy defaults return', () => {
    // @ts-expect-error: 'UnknownColumn<"nope", "nc_tags">'
    void getOrCreate(tags, { tenantId: 1, slug: 'a' }, { label: 'A', nope: 1 })
    // @ts-expect-error: 'UnknownColumn<"nope", "nc_tags">' in what the function returns
    void getOrCreate(tags, { tenantId: 1, slug: 'a' }, () => ({ label: 'A', nope: 1 }))
    // @ts-expect-error: 'UnknownColumn<"nope", "nc_tags">' in what the async function resolves to
    void getOrCreate(tags, { tenantId: 1, slug: 'a' }, async () => ({ label: 'A', nope: 1 }))
  })

  test('a store without a table name (memoryStore, custom stores) names the field', () => {
    const memory = memoryStore<{ id: number; slug: string }>({ uniqueBy: [['slug']] })
    // @ts-expect-error: Type 'string' is not assignable to type 'UnknownField<"nope">'
    void getOrCreate(memory, { slug: 'a', nope: 'x' })
    type Checked = ExactKey<{ slug: string; nope: string }, Partial<{ id: number; slug: string }>>
    expectTypeOf<Checked['nope']>().toEqualTypeOf<UnknownField<'nope'>>()
  })
})

describe('defaults may be left out only when the key leaves no required column out', () => {
  test('{ tenantId, slug } without defaults does not compile: label is NOT NULL and has no default', () => {
    // @ts-expect-error: Property '"defaults must give label (NOT NULL in nc_tags, no default)"' is missing
    void getOrCreate(tags, { tenantId: 1, slug: 'a' })
    // @ts-expect-error: the same with `undefined` given for defaults, to pass a strategy
    void getOrCreate(tags, { tenantId: 1, slug: 'a' }, undefined, strategy)
    const maybe = undefined as { label: string } | undefined
    // @ts-expect-error: defaults that may be undefined may leave label out
    void getOrCreate(tags, { tenantId: 1, slug: 'a' }, maybe)
  })

  test('the error type names the missing columns and the table', () => {
    type Missing = NeedsDefaults<
      typeof ncTags.$inferInsert,
      { tenantId: number; slug: string },
      [],
      'nc_tags'
    >
    expectTypeOf<Missing>().toEqualTypeOf<DefaultsRequired<'label', 'nc_tags'>>()
    expectTypeOf<
      keyof Missing
    >().toEqualTypeOf<'defaults must give label (NOT NULL in nc_tags, no default)'>()
    // Both missing when the key gives only the id: each is named.
    expectTypeOf<keyof NeedsDefaults<Insert, { id: number }, [], 'items'>>().toEqualTypeOf<
      | 'defaults must give slug (NOT NULL in items, no default)'
      | 'defaults must give title (NOT NULL in items, no default)'
    >()
    // Given defaults, or nothing required: no constraint on the key.
    expectTypeOf<
      NeedsDefaults<Insert, { slug: string }, [{ title: string }], 'items'>
    >().toEqualTypeOf<unknown>()
    expectTypeOf<
      NeedsDefaults<Insert, { slug: string; title: string }, [], 'items'>
    >().toEqualTypeOf<unknown>()
  })

  test('defaults that give the required columns compile: objects, sync and async functions', () => {
    expectTypeOf(getOrCreate(tags, { tenantId: 1, slug: 'a' }, { label: 'A' })).resolves.toEqualTypeOf<
      GetOrCreateResult<typeof ncTags.$inferSelect>
    >()
    void getOrCreate(tags, { tenantId: 1, slug: 'a' }, { label: 'A', note: null }, strategy)
    void getOrCreate(tags, { tenantId: 1, slug: 'a' }, () => ({ label: 'A' }))
    void getOrCreate(tags, { tenantId: 1, slug: 'a' }, async () => ({ label: 'A', note: 'n' }))
    void getOrCreate(tags, { tenantId: 1, slug: 'a', label: 'A' }) // the key gives label
    void getOrCreate(tags, { tenantId: 1, slug: 'a', label: 'A' }, undefined, strategy)
    // Key columns may be repeated in defaults.
    void getOrCreate(tags, { tenantId: 1, slug: 'a' }, { label: 'A', tenantId: 1 })
    // Values of the library's own Defaults type, and unions of an object and a function.
    const declared: Defaults<{ label: string }> = () => Promise.resolve({ label: 'A' })
    void getOrCreate(tags, { tenantId: 1, slug: 'a' }, declared)
    const either = Math.random() > 0.5 ? { label: 'A' } : async () => ({ label: 'A' })
    void getOrCreate(tags, { tenantId: 1, slug: 'a' }, either)
  })

  test('lazy defaults are checked the same way: a function that leaves label out does not compile', () => {
    // @ts-expect-error: Property 'label' is missing in what the function returns
    void getOrCreate(tags, { tenantId: 1, slug: 'a' }, () => ({ note: 'n' }))
    // @ts-expect-error: Property 'label' is missing in what the async function resolves to
    void getOrCreate(tags, { tenantId: 1, slug: 'a' }, async () => ({ note: 'n' }))
    // @ts-expect-error: label must be a string
    void getOrCreate(tags, { tenantId: 1, slug: 'a' }, () => ({ label: 1 }))
  })

  test('stores whose values require nothing (memoryStore, custom stores) take no defaults', () => {
    const memory = memoryStore<{ id: number; slug: string }>({ uniqueBy: [['slug']] })
    void getOrCreate(memory, { slug: 'a' })
    void getOrCreate(memory, { slug: 'a' }, undefined, strategy)
    const custom = {} as Store<Row>
    void getOrCreate(custom, { slug: 'a' })
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
