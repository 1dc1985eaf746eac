/** Compile-time contract of the public API: checked by `vitest --typecheck` and `tsc`. */
import {
  type CreateDefaultsRequired,
  constraintStrategy,
  type Defaults,
  type DefaultsFor,
  type DefaultsRequired,
  type ExactKey,
  type ExplicitDefaults,
  type GetOrCreateResult,
  getOrCreate,
  memoryStore,
  type NeedsCreateDefaults,
  type NeedsDefaults,
  type NewRowValues,
  type NoInferFrom,
  type Store,
  type Strategy,
  type TableName,
  type TableOf,
  type UnknownColumn,
  type UnknownField,
  updateOrCreate,
} from '@getorcreate/core'
import { drizzleStore, mysqlFencesTable, pgFencesTable, pruneFences } from '@getorcreate/core/drizzle'
import { sql } from 'drizzle-orm'
import { int, mysqlTable, varchar } from 'drizzle-orm/mysql-core'
import { drizzle as mysqlDrizzle } from 'drizzle-orm/mysql2'
import { integer, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core'
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

describe('explicit type arguments: the four of 0.1 (Row, Key, Values, K), checked as inferred ones are', () => {
  type P = Partial<Row>
  type Slug = { slug: string }
  type Full = { slug: string; title: string }
  type TagRow = typeof ncTags.$inferSelect
  type TagKey = { tenantId: number; slug: string }
  type Memo = { id: number; slug: string }

  test('the 0.1 forms compile: defaults as an object or a function, with or without a strategy', () => {
    expectTypeOf(
      getOrCreate<Row, P, Insert, Slug>(store, { slug: 'a' }, { title: 'A' }),
    ).resolves.toEqualTypeOf<GetOrCreateResult<Row>>()
    void getOrCreate<Row, P, Insert, Slug>(store, { slug: 'a' }, async () => ({ title: 'A' }))
    void getOrCreate<Row, P, Insert, Slug>(store, { slug: 'a' }, { title: 'A' }, strategy)
    const key = { tenantId: 1, slug: 'a' }
    void getOrCreate<TagRow, Partial<TagRow>, typeof ncTags.$inferInsert, TagKey>(tags, key, () => ({
      label: 'A',
    }))
    // The key gives every required column: defaults may be left out, or undefined to pass a strategy.
    void getOrCreate<Row, P, Insert, Full>(store, { slug: 'a', title: 'A' })
    void getOrCreate<Row, P, Insert, Full>(store, { slug: 'a', title: 'A' }, undefined, strategy)
    const memory = memoryStore<Memo>({ uniqueBy: [['slug']] })
    void getOrCreate<Memo, Partial<Memo>, Partial<Memo>, Slug>(memory, { slug: 'a' })
    void getOrCreate<Memo, Partial<Memo>, Partial<Memo>, Slug>(memory, { slug: 'a' }, { id: 1 })
  })

  test('and the checks still apply to them', () => {
    type WithNope = { slug: string; nope: number }
    // @ts-expect-error: 'UnknownField<"nope">': unknown key field (no table named: nothing is inferred)
    void getOrCreate<Row, P, Insert, WithNope>(store, { slug: 'a', nope: 1 }, { title: 'A' })
    // @ts-expect-error: unknown column in the defaults
    void getOrCreate<Row, P, Insert, Slug>(store, { slug: 'a' }, { title: 'A', nope: 1 })
    // @ts-expect-error: '"defaults must give title"': defaults left out, title required
    void getOrCreate<Row, P, Insert, Slug>(store, { slug: 'a' })
    // @ts-expect-error: undefined defaults, title required
    void getOrCreate<Row, P, Insert, Slug>(store, { slug: 'a' }, undefined, strategy)
    // @ts-expect-error: title missing in the defaults
    void getOrCreate<Row, P, Insert, Slug>(store, { slug: 'a' }, { tenant: 1 })
    // @ts-expect-error: title missing in what the function returns
    void getOrCreate<Row, P, Insert, Slug>(store, { slug: 'a' }, () => ({ tenant: 1 }))
    // @ts-expect-error: the key is not a K
    void getOrCreate<Row, P, Insert, Slug>(store, { id: 1 }, { title: 'A' })
    // @ts-expect-error: the store is not a Store<Row, Key, Values>
    void getOrCreate<Row, P, Insert, Slug>(tags, { slug: 'a' }, { title: 'A' })
  })

  test('defaults typed as in 0.1, undefined allowed only when nothing is required', () => {
    expectTypeOf<ExplicitDefaults<Insert, Slug>>().toEqualTypeOf<Defaults<DefaultsFor<Insert, Slug>>>()
    expectTypeOf<ExplicitDefaults<Insert, Full>>().toEqualTypeOf<
      Defaults<DefaultsFor<Insert, Full>> | undefined
    >()
  })
})

describe('a key whose type is a union: every member is checked', () => {
  const uk = { slug: 'a' } as { slug: string } | { id: number }
  const full = { slug: 'a', title: 'A' } as { slug: string; title: string }
  const tagKey = { tenantId: 1, slug: 'a' } as
    | { tenantId: number; slug: string }
    | { id: number; tenantId: number }

  test('a union key compiles, with defaults that every member needs', () => {
    expectTypeOf(getOrCreate(store, uk, full)).resolves.toEqualTypeOf<GetOrCreateResult<Row>>()
    void getOrCreate(store, uk, () => full, strategy)
    void getOrCreate(tags, tagKey, { slug: 'a', label: 'A' })
    // Every member gives every required column: no defaults needed.
    const complete = full as { slug: string; title: string } | { id: number; slug: string; title: string }
    void getOrCreate(store, complete)
    void getOrCreate(store, complete, undefined, strategy)
  })

  test('a member naming an unknown column, or defaults some member needs more of, do not compile', () => {
    const bad = uk as { slug: string } | { id: number; nope: number }
    // @ts-expect-error: 'UnknownColumn<"nope", "items">' in the second member
    void getOrCreate(store, bad, full)
    // @ts-expect-error: a member with no known field at all: no properties in common with the store's key
    void getOrCreate(store, uk as { slug: string } | { nope: number }, full)
    // @ts-expect-error: for the key { id }, a new row needs a slug too
    void getOrCreate(store, uk, { title: 'A' })
    // @ts-expect-error: the same for { id, tenantId }: slug
    void getOrCreate(tags, tagKey, { label: 'A' })
    // @ts-expect-error: no defaults, and neither member gives label
    void getOrCreate(tags, tagKey)
  })

  test('ExactKey distributes over a union', () => {
    expectTypeOf<ExactKey<{ slug: string } | { nope: number }, Partial<Row>, 'items'>>().toEqualTypeOf<
      { slug: string } | { nope: UnknownColumn<'nope', 'items'> }
    >()
    expectTypeOf<ExactKey<{ slug: string } | { id: number }, Partial<Row>>>().toEqualTypeOf<
      { slug: string } | { id: number }
    >()
  })
})

describe('memoryStore and custom stores', () => {
  type Memo = { id: number; slug: string }
  const memory = memoryStore<Memo>({ uniqueBy: [['slug']] })

  test('memoryStore: defaults optional, objects and functions, checked for unknown fields', () => {
    expectTypeOf(getOrCreate(memory, { slug: 'a' }, { id: 1 })).resolves.toEqualTypeOf<
      GetOrCreateResult<Memo>
    >()
    void getOrCreate(memory, { slug: 'a' }, () => ({ id: 1 }), strategy)
    void getOrCreate(memory, { slug: 'a' }, async () => ({}))
    // @ts-expect-error: 'UnknownField<"nope">' in the defaults
    void getOrCreate(memory, { slug: 'a' }, { nope: 1 })
    // @ts-expect-error: 'UnknownField<"nope">' in what the function returns
    void getOrCreate(memory, { slug: 'a' }, () => ({ id: 1, nope: 1 }))
    expectTypeOf<TableOf<typeof memory>>().toEqualTypeOf<never>()
  })

  test('a custom Store: its Values say what defaults must give, and TableName names it in errors', () => {
    type Post = { id: number; slug: string; title: string }
    const posts = {} as Store<Post, Partial<Post>, { slug: string; title: string; id?: number }> &
      TableName<'posts'>
    expectTypeOf(getOrCreate(posts, { slug: 'a' }, { title: 'A' })).resolves.toEqualTypeOf<
      GetOrCreateResult<Post>
    >()
    void getOrCreate(posts, { slug: 'a', title: 'A' })
    void getOrCreate(posts, { slug: 'a', title: 'A' }, undefined, strategy)
    // @ts-expect-error: '"defaults must give title (NOT NULL in posts, no default)"'
    void getOrCreate(posts, { slug: 'a' })
    // @ts-expect-error: 'UnknownColumn<"nope", "posts">'
    void getOrCreate(posts, { slug: 'a', nope: 1 }, { title: 'A' })
    expectTypeOf<TableOf<typeof posts>>().toEqualTypeOf<'posts'>()
    expectTypeOf<TableOf<typeof tags>>().toEqualTypeOf<'nc_tags'>()
    // A name the compiler does not know is no name.
    expectTypeOf<TableOf<Store<Post> & TableName<string>>>().toEqualTypeOf<never>()
    // Without TableName: the field is named.
    const bare = {} as Store<Post>
    void getOrCreate(bare, { slug: 'a' }, { title: 'A' })
    // @ts-expect-error: 'UnknownField<"nope">'
    void getOrCreate(bare, { slug: 'a' }, { nope: 1 })
  })
})

describe('lazy defaults that return partial objects', () => {
  test('compile when the key gives every required column', () => {
    void getOrCreate(tags, { tenantId: 1, slug: 'a', label: 'A' }, () => ({ note: 'n' }))
    void getOrCreate(tags, { tenantId: 1, slug: 'a', label: 'A' }, async () => ({ note: null }))
    void getOrCreate(tags, { tenantId: 1, slug: 'a', label: 'A' }, () => ({}))
    const partial = (): Partial<typeof ncTags.$inferInsert> => ({ note: 'n' })
    void getOrCreate(tags, { tenantId: 1, slug: 'a', label: 'A' }, partial)
    void getOrCreate(store, { slug: 'a', title: 'A' }, async (): Promise<Partial<Insert>> => ({}), strategy)
  })

  test('do not when a required column is left out: a Partial is not enough', () => {
    const partial = (): Partial<typeof ncTags.$inferInsert> => ({ label: 'A' })
    // @ts-expect-error: label may be missing from a Partial
    void getOrCreate(tags, { tenantId: 1, slug: 'a' }, partial)
    // @ts-expect-error: the same, async
    void getOrCreate(store, { slug: 'a' }, async (): Promise<Partial<Insert>> => ({ title: 'A' }))
    // @ts-expect-error: a function that may return undefined
    void getOrCreate(tags, { tenantId: 1, slug: 'a' }, () =>
      Math.random() > 0.5 ? { label: 'A' } : undefined,
    )
  })
})

describe('strategy passed after undefined defaults, and defaults that may be undefined', () => {
  const maybeNote = undefined as { note: string } | undefined
  const maybeLabel = undefined as { label: string } | undefined

  test('compile when nothing is required', () => {
    void getOrCreate(tags, { tenantId: 1, slug: 'a', label: 'A' }, undefined, strategy)
    void getOrCreate(tags, { tenantId: 1, slug: 'a', label: 'A' }, undefined, constraintStrategy())
    void getOrCreate(tags, { tenantId: 1, slug: 'a', label: 'A' }, maybeNote)
    void getOrCreate(tags, { tenantId: 1, slug: 'a', label: 'A' }, maybeNote, strategy)
    void getOrCreate(
      memoryStore<{ id: number; slug: string }>(),
      { slug: 'a' },
      undefined as { id: 1 } | undefined,
    )
  })

  test('do not when something is required', () => {
    // @ts-expect-error: '"defaults must give label (NOT NULL in nc_tags, no default)"'
    void getOrCreate(tags, { tenantId: 1, slug: 'a' }, undefined, constraintStrategy())
    // @ts-expect-error: the same, even though what may be undefined would give label
    void getOrCreate(tags, { tenantId: 1, slug: 'a' }, maybeLabel, strategy)
    // @ts-expect-error: and a strategy alone is not defaults
    void getOrCreate(tags, { tenantId: 1, slug: 'a' }, strategy)
  })
})

describe('nullable, defaulted, serial, identity, $defaultFn and generated columns are not required', () => {
  const things = pgTable('things', {
    id: serial('id').primaryKey(),
    seq: integer('seq').generatedAlwaysAsIdentity(),
    rank: integer('rank').generatedByDefaultAsIdentity(),
    slug: text('slug').notNull(),
    slugLower: text('slug_lower').generatedAlwaysAs(sql`lower(slug)`),
    status: text('status').notNull().default('new'),
    createdAt: timestamp('created_at').notNull().defaultNow(),
    token: text('token')
      .notNull()
      .$defaultFn(() => 't'),
    note: text('note'),
  })
  const thingStore = drizzleStore(db, things)

  test('a key giving the one NOT NULL column without a default needs no defaults', () => {
    expectTypeOf(getOrCreate(thingStore, { slug: 'a' })).resolves.toEqualTypeOf<
      GetOrCreateResult<typeof things.$inferSelect>
    >()
    void getOrCreate(thingStore, { slug: 'a' }, undefined, strategy)
    void getOrCreate(
      thingStore,
      { slug: 'a' },
      { note: null, status: 'old', createdAt: new Date(), token: 'u' },
    )
    void getOrCreate(thingStore, { slug: 'a' }, { id: 1, rank: 2 })
    // Nullable and generated columns may be looked up by.
    void getOrCreate(thingStore, { slug: 'a', note: null })
    void getOrCreate(thingStore, { slugLower: 'a', slug: 'A' })
    expectTypeOf<
      NeedsDefaults<typeof things.$inferInsert, { slug: string }, [], 'things'>
    >().toEqualTypeOf<unknown>()
  })

  test('generated-always columns are not insert values: defaults may not give them', () => {
    // @ts-expect-error: 'UnknownColumn<"slugLower", "things">': generated always
    void getOrCreate(thingStore, { slug: 'a' }, { slugLower: 'a' })
    // @ts-expect-error: 'UnknownColumn<"seq", "things">': identity, generated always
    void getOrCreate(thingStore, { slug: 'a' }, () => ({ seq: 1 }))
    // @ts-expect-error: NOT NULL without a default, and the key is only the id
    void getOrCreate(thingStore, { id: 1 })
  })
})

test('NoInferFrom<T> is T once T is known', () => {
  expectTypeOf<NoInferFrom<{ a: 1 }>>().toEqualTypeOf<{ a: 1 }>()
  expectTypeOf<NoInferFrom<string | undefined>>().toEqualTypeOf<string | undefined>()
})

describe('what a strategy receives', () => {
  test('one shape, NewRowValues: a function that resolves to the values, and whether defaults was a function', () => {
    type Values = { slug: string; label: string }
    expectTypeOf<Parameters<Strategy['getOrCreate']>[2]>().toEqualTypeOf<NewRowValues<unknown>>()
    expectTypeOf<ReturnType<NewRowValues<Values>>>().toEqualTypeOf<Promise<Values>>()
    expectTypeOf<NewRowValues<Values>['lazy']>().toEqualTypeOf<boolean>()
  })

  test('a strategy written for 0.2, whose getOrCreate takes Defaults, is still a Strategy', () => {
    // NewRowValues is a defaults function, so the old parameter type accepts what the facade now passes.
    expectTypeOf<NewRowValues<{ slug: string }>>().toExtend<Defaults<{ slug: string }>>()
    const old = {
      name: 'written-for-0.2',
      getOrCreate: <Row, Key, Values>(
        _store: Store<Row, Key, Values>,
        _key: Key,
        _defaults: Defaults<Values>,
      ): Promise<GetOrCreateResult<Row>> => Promise.reject(new Error('not called')),
    }
    expectTypeOf(old).toExtend<Strategy>()
  })
})

describe('fences: each dialect takes its own fences table', async () => {
  const { pgFencesTable, pruneFences, sqliteFencesTable } = await import('@getorcreate/core/drizzle')
  const { drizzle: sqliteDrizzle } = await import('drizzle-orm/better-sqlite3')
  const { sqliteTable, text: sqliteText } = await import('drizzle-orm/sqlite-core')
  const sqliteDb = sqliteDrizzle.mock()
  const sqliteItems = sqliteTable('items', { slug: sqliteText('slug').notNull() })

  test('drizzleStore: a SQLite table with a SQLite fences table; a Postgres fences table does not compile', () => {
    void drizzleStore(sqliteDb, sqliteItems, { fences: sqliteFencesTable() })
    void drizzleStore(db, items, { fences: pgFencesTable() })
    // @ts-expect-error: a pg-core fences table for a SQLite store
    void drizzleStore(sqliteDb, sqliteItems, { fences: pgFencesTable() })
  })

  test('pruneFences: the fences table of the database it is given', () => {
    expectTypeOf(
      pruneFences(sqliteDb, sqliteFencesTable(), { olderThanMs: 1 }),
    ).resolves.toEqualTypeOf<number>()
    expectTypeOf(pruneFences(db, pgFencesTable(), { olderThanMs: 1 })).resolves.toEqualTypeOf<number>()
    // @ts-expect-error: a SQLite fences table on a Postgres database
    void pruneFences(db, sqliteFencesTable(), { olderThanMs: 1 })
    // @ts-expect-error: a Postgres fences table on a SQLite database
    void pruneFences(sqliteDb, pgFencesTable(), { olderThanMs: 1 })
  })
})

describe("fences: a fences table of the store's dialect", () => {
  const myItems = mysqlTable('my_items', {
    id: int('id').primaryKey(),
    slug: varchar('slug', { length: 64 }),
  })
  const myDb = mysqlDrizzle.mock()
  test('drizzleStore and pruneFences take a MySQL fences table with a MySQL database', () => {
    expectTypeOf(drizzleStore(myDb, myItems, { fences: mysqlFencesTable() }).checksFence).toEqualTypeOf<
      boolean | undefined
    >()
    expectTypeOf(pruneFences(myDb, mysqlFencesTable(), { olderThanMs: 1 })).toEqualTypeOf<Promise<number>>()
    expectTypeOf(pruneFences(db, pgFencesTable(), { olderThanMs: 1 })).toEqualTypeOf<Promise<number>>()
  })
  test('a MySQL database with a pg fences table does not compile', () => {
    // @ts-expect-error: pruneFences on a MySQL database takes a mysql-core table
    void (() => pruneFences(myDb, pgFencesTable(), { olderThanMs: 1 }))
    // @ts-expect-error: a MySQL table's store takes a mysql-core fences table
    void (() => drizzleStore(myDb, myItems, { fences: pgFencesTable() }))
  })
})

describe('updateOrCreate checks its arguments against the table, as getOrCreate does', () => {
  test('the row type is the select model; a function of values gets the row as read', () => {
    expectTypeOf(updateOrCreate(store, { slug: 'a' }, { title: 'A' })).resolves.toEqualTypeOf<
      GetOrCreateResult<Row>
    >()
    void updateOrCreate(store, { slug: 'a' }, (current) => {
      expectTypeOf(current).toEqualTypeOf<Row | undefined>()
      return { title: current?.title ?? 'A' }
    })
  })

  test('a key, values or createDefaults naming a column the table lacks does not compile', () => {
    // @ts-expect-error: "nope" is not a column of items (the key)
    void updateOrCreate(store, { slug: 'a', nope: 1 }, { title: 'A' })
    // @ts-expect-error: "nope" is not a column of items (values)
    void updateOrCreate(store, { slug: 'a' }, { title: 'A', nope: 1 })
    const patch = { title: 'A', nope: 1 }
    // @ts-expect-error: the same through a variable, where no excess-property check would see it
    void updateOrCreate(store, { slug: 'a' }, patch)
    // @ts-expect-error: "nope" in what a values function returns
    void updateOrCreate(store, { slug: 'a' }, () => ({ title: 'A', nope: 1 }))
    // @ts-expect-error: "nope" in what an async values function returns
    void updateOrCreate(store, { slug: 'a' }, async () => ({ title: 'A', nope: 1 }))
    // @ts-expect-error: "nope" in createDefaults
    void updateOrCreate(store, { slug: 'a' }, { title: 'A' }, { createDefaults: { nope: 1 } })
    // @ts-expect-error: "nope" in what a createDefaults function returns
    void updateOrCreate(store, { slug: 'a' }, { title: 'A' }, { createDefaults: () => ({ nope: 1 }) })
    // @ts-expect-error: title must be a string
    void updateOrCreate(store, { slug: 'a' }, { title: 1 })
  })

  test('a create must get every column the insert model requires, from the key, values or createDefaults', () => {
    // @ts-expect-error: title (NOT NULL, no default) is given by neither values nor createDefaults
    void updateOrCreate(store, { slug: 'a' }, { tenant: 1 })
    // @ts-expect-error: a patch that may leave title out does not give it for sure
    void updateOrCreate(store, { slug: 'a' }, {} as Partial<Insert>)
    // @ts-expect-error: nor does a createDefaults that may leave it out
    void updateOrCreate(store, { slug: 'a' }, { tenant: 1 }, { createDefaults: {} as Partial<Insert> })
    void updateOrCreate(store, { slug: 'a' }, { tenant: 1 }, { createDefaults: { title: 'A' } })
    void updateOrCreate(store, { slug: 'a' }, { tenant: 1 }, { createDefaults: async () => ({ title: 'A' }) })
    void updateOrCreate(store, { slug: 'a' }, (current) => ({ title: current ? `${current.title}!` : 'new' }))
    void updateOrCreate(store, { slug: 'a', title: 'A' }, { tenant: 2 })
  })

  test('the message names the missing column and its table', () => {
    expectTypeOf<
      NeedsCreateDefaults<Row, Insert, { slug: string }, { tenant: number }, undefined, 'items'>
    >().toEqualTypeOf<CreateDefaultsRequired<'title', 'items'>>()
    expectTypeOf<
      keyof CreateDefaultsRequired<'title', 'items'>
    >().toEqualTypeOf<'createDefaults must give title (NOT NULL in items, no default)'>()
    expectTypeOf<
      NeedsCreateDefaults<Row, Insert, { slug: string }, { title: string }, undefined, 'items'>
    >().toEqualTypeOf<unknown>()
  })

  test('type arguments given explicitly: checked as before these checks', () => {
    void updateOrCreate<Row, Partial<Row>, Insert>(store, { slug: 'a' }, { tenant: 1 })
    void updateOrCreate<Row, Partial<Row>, Insert>(
      store,
      { slug: 'a' },
      { tenant: 1 },
      { createDefaults: { title: 'A' } },
    )
  })
})
