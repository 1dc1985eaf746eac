/**
 * In-process single flight (`Strategy.singleFlight`, on by default in `constraintStrategy()`): concurrent calls
 * of one process for the same store object and key share one operation. Real Postgres on every driver; the
 * statements counted are the ones drizzle sent.
 */
import { constraintStrategy, getOrCreate, type Store, type Strategy } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { runConcurrently } from '@getorcreate/test-support'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { beginQueueLength, Flight, OpenFlights, slotOf } from '../src/single-flight.js'
import { openPg, PG_DRIVERS, type PgHarness, statementsOn, uniqueItems } from './support/pg.js'
import { CASE_INSENSITIVE_COLLATION, PG_KEY_COLUMNS } from './support/pg-equal-keys.js'
import type { itemsTable } from './support/tables.js'

type Item = ReturnType<typeof itemsTable>['$inferSelect']

/** A promise and the function that resolves it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open: () => void = () => undefined
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return { opened, open }
}

describe.each(PG_DRIVERS)('single flight on Postgres via %s', (driver) => {
  let h: PgHarness
  beforeAll(async () => {
    h = await openPg(driver, 16)
  })
  afterAll(async () => {
    await h.close()
  })

  const makeItems = () => uniqueItems(h)

  test('a burst of 24 callers of one new key in one tick: one read, one insert, one created, one id', async () => {
    const { name, store } = await makeItems()
    await getOrCreate(store, { slug: 'warm-up' }, { title: 'w' }) // the catalog check, before counting
    const from = h.queries.length
    let defaultsCalls = 0
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        getOrCreate(store, { slug: 'burst' }, () => {
          defaultsCalls++
          return { title: `caller ${i}` }
        }),
      ),
    )
    expect(statementsOn(h, name, from)).toEqual({ reads: 1, inserts: 1 })
    expect(results.filter((r) => r.created)).toHaveLength(1)
    expect(results[0]?.created).toBe(true) // the first call leads, and gets the operation's result
    expect(defaultsCalls).toBe(1)
    expect(new Set(results.map((r) => r.row.id)).size).toBe(1)
    expect(results.every((r) => r.row.title === 'caller 0')).toBe(true)
    // Each follower has a row of its own: changing it changes no other caller's.
    expect(new Set(results.map((r) => r.row)).size).toBe(24)
    const rows = await h.rows(`select count(*)::int as n from ${name} where slug = 'burst'`)
    expect(rows[0]?.n).toBe(1)
  })

  /** `n` callers of `slug` in one tick with object defaults, each with its own title. */
  function burst(store: Store<Item, Partial<Item>, Partial<Item>>, slug: string, n = 8) {
    return Promise.all(
      Array.from({ length: n }, (_, i) => getOrCreate(store, { slug }, { title: `${slug} ${i}` })),
    )
  }

  test('after a shared operation that missed, the next reads and inserts in one statement: one round trip per fresh key', async () => {
    const { name, store } = await makeItems()
    await getOrCreate(store, { slug: 'warm-up' }, { title: 'w' })
    let from = h.queries.length
    await burst(store, 'first') // read first: nothing told the store that shared keys are fresh yet
    expect(statementsOn(h, name, from)).toEqual({ reads: 1, inserts: 1 })
    for (const slug of ['second', 'third']) {
      from = h.queries.length
      const results = await burst(store, slug)
      expect(statementsOn(h, name, from)).toEqual({ reads: 0, inserts: 1 })
      expect(h.queries.at(-1)).toMatch(/^with /)
      expect(results.map((r) => r.created)).toEqual([true, false, false, false, false, false, false, false])
      expect(new Set(results.map((r) => r.row.id)).size).toBe(1)
      expect(results.every((r) => r.row.slug === slug && r.row.title === `${slug} 0`)).toBe(true)
      expect(new Set(results.map((r) => r.row)).size).toBe(8)
    }
    const rows = await h.rows(`select slug, count(*)::int as n from ${name} group by slug order by slug`)
    expect(rows).toEqual([
      { slug: 'first', n: 1 },
      { slug: 'second', n: 1 },
      { slug: 'third', n: 1 },
      { slug: 'warm-up', n: 1 },
    ])
  })

  test('the one statement finds an existing row (nothing written, no id drawn); the next shared operation reads first again', async () => {
    const { name, store } = await makeItems()
    await getOrCreate(store, { slug: 'old' }, { title: 'old' })
    await burst(store, 'fresh') // missed: the next shared operation takes the one statement
    const lastId = async () => (await h.rows(`select last_value from ${name}_id_seq`))[0]?.last_value
    const before = await lastId()
    let from = h.queries.length
    const hits = await burst(store, 'old')
    expect(statementsOn(h, name, from)).toEqual({ reads: 0, inserts: 1 })
    expect(hits.every((r) => !r.created && r.row.title === 'old')).toBe(true)
    const after = await lastId()
    expect(after).toBe(before) // the insert had no row to write, so no default was evaluated
    from = h.queries.length
    await burst(store, 'old') // the last one found its row: this one reads first (a hit costs least so)
    expect(statementsOn(h, name, from)).toEqual({ reads: 1, inserts: 0 })
    const rows = await h.rows(`select count(*)::int as n from ${name}`)
    expect(rows[0]?.n).toBe(2)
  })

  // Every key type whose spellings Postgres equates though JavaScript does not (PGlite has no ICU).
  for (const spec of PG_KEY_COLUMNS.filter((column) => driver !== 'pglite' || !column.icu)) {
    test(`the one statement finds the row of a spelling the database equates: ${spec.name}`, async () => {
      const name = h.table()
      if (spec.icu) await h.exec(CASE_INSENSITIVE_COLLATION)
      if (spec.setup) await h.exec(spec.setup)
      await h.exec(`create table ${name} (id serial primary key, k ${spec.sqlType} unique, title text)`)
      const { pgTable, serial, text } = await import('drizzle-orm/pg-core')
      const table = pgTable(name, { id: serial('id').primaryKey(), k: spec.column(), title: text('title') })
      const store = drizzleStore(h.db, table)
      const shared = (k: unknown) =>
        Promise.all([1, 2, 3].map(() => getOrCreate(store, { k } as never, { title: 't' })))
      const [first] = await shared(spec.spellings[0]) // read first, missed: created
      const from = h.queries.length
      const again = await shared(spec.spellings[1])
      expect(statementsOn(h, name, from)).toEqual({ reads: 0, inserts: 1 })
      expect(again.every((r) => !r.created && r.row.id === first?.row.id)).toBe(true)
      expect((await h.rows(`select count(*)::int as n from ${name}`))[0]?.n).toBe(1)
    })
  }

  test('lazy defaults and a store bound to a transaction are read first', async () => {
    const { name, store, table } = await makeItems()
    await burst(store, 'fresh')
    let from = h.queries.length
    const lazy = await Promise.all(
      Array.from({ length: 4 }, () => getOrCreate(store, { slug: 'lazy' }, () => ({ title: 'l' }))),
    )
    // A defaults function must not run for a key that exists: the statement would need its values first.
    expect(statementsOn(h, name, from)).toEqual({ reads: 1, inserts: 1 })
    expect(lazy.filter((r) => r.created)).toHaveLength(1)
    await h.db.transaction(async (tx) => {
      const inTx = drizzleStore(tx, table)
      await burst(inTx, 'tx-1')
      from = h.queries.length
      const results = await burst(inTx, 'tx-2')
      expect(statementsOn(h, name, from)).toEqual({ reads: 1, inserts: 1 })
      expect(results.filter((r) => r.created)).toHaveLength(1)
    })
  })

  test('turned off, each caller sends its own statements (and the index still settles the race)', async () => {
    const { name, store } = await makeItems()
    // Batched reads off too: they would send the callers' reads together (read-batch.test.ts).
    const strategy = constraintStrategy({ singleFlight: false, batchReads: false })
    await getOrCreate(store, { slug: 'warm-up' }, { title: 'w' }, strategy)
    const from = h.queries.length
    const results = await Promise.all(
      Array.from({ length: 8 }, () => getOrCreate(store, { slug: 'off' }, { title: 'x' }, strategy)),
    )
    expect(statementsOn(h, name, from).reads).toBeGreaterThanOrEqual(8)
    expect(results.filter((r) => r.created)).toHaveLength(1)
    expect(new Set(results.map((r) => r.row.id)).size).toBe(1)
  })

  test('hits of a hot key share reads: 16 callers in one tick, one SELECT', async () => {
    const { name, store } = await makeItems()
    await getOrCreate(store, { slug: 'hot' }, { title: 'h' })
    const from = h.queries.length
    const results = await Promise.all(
      Array.from({ length: 16 }, () => getOrCreate(store, { slug: 'hot' }, { title: 'other' })),
    )
    expect(statementsOn(h, name, from)).toEqual({ reads: 1, inserts: 0 })
    expect(results.every((r) => !r.created && r.row.title === 'h')).toBe(true)
  })

  test('keys that encode alike share (field order aside); 1 and "1", and two store objects, do not', async () => {
    const name = h.table()
    await h.exec(
      `create table ${name} (id serial primary key, a text not null, b text not null, title text, unique (a, b))`,
    )
    const { pgTable, serial, text } = await import('drizzle-orm/pg-core')
    const table = pgTable(name, {
      id: serial('id').primaryKey(),
      a: text('a').notNull(),
      b: text('b').notNull(),
      title: text('title'),
    })
    const store = drizzleStore(h.db, table)
    await getOrCreate(store, { a: 'w', b: 'w' })
    let from = h.queries.length
    const pair = await Promise.all([
      getOrCreate(store, { a: 'x', b: 'y' }),
      getOrCreate(store, { b: 'y', a: 'x' }),
    ])
    expect(statementsOn(h, name, from)).toEqual({ reads: 1, inserts: 1 })
    expect(pair[0].row.id).toBe(pair[1].row.id)

    const other = drizzleStore(h.db, table)
    await getOrCreate(other, { a: 'w', b: 'w' })
    from = h.queries.length
    const twoStores = await Promise.all([
      getOrCreate(store, { a: 'p', b: 'q' }),
      getOrCreate(other, { a: 'p', b: 'q' }),
    ])
    // Two store objects never share: each reads, each tries its insert (the index lets one through).
    expect(statementsOn(h, name, from).reads).toBeGreaterThanOrEqual(2)
    expect(twoStores.filter((r) => r.created)).toHaveLength(1)
  })

  test('a call made after an operation began never shares it: a row deleted before the call is not returned', async () => {
    const { name, table } = await makeItems()
    const real = drizzleStore(h.db, table)
    await getOrCreate(real, { slug: 'gone' }, { title: 'old' })
    // The first call's read is held until the test lets it answer: it has begun, with the old row.
    const reading = gate()
    let reads = 0
    const store: Store<Item> = Object.assign(Object.create(real) as Store<Item>, {
      async find(key: Partial<Item>, opts?: { fresh?: boolean }) {
        reads++
        const row = await real.find(key, opts)
        if (reads === 1) await reading.opened
        return row
      },
    })
    const first = getOrCreate(store, { slug: 'gone' }, { title: 'first' })
    await new Promise((resolve) => setTimeout(resolve, 50)) // its read has answered, and waits
    expect(reads).toBe(1)
    await h.exec(`delete from ${name} where slug = 'gone'`)
    const second = getOrCreate(store, { slug: 'gone' }, { title: 'new' })
    reading.open()
    expect((await first).row.title).toBe('old') // read before the delete: a state during its call
    const after = await second
    expect(after.created).toBe(true) // made after the delete: it must see it, not share the first's row
    expect(after.row.title).toBe('new')
    expect(reads).toBe(2)
  })

  test('a failed operation fails every caller that shared it, with the same error', async () => {
    const { table } = await makeItems()
    const real = drizzleStore(h.db, table)
    await getOrCreate(real, { slug: 'warm-up' }, { title: 'w' })
    const failure = new Error('connection reset (injected)')
    let finds = 0
    const store: Store<Item> = Object.assign(Object.create(real) as Store<Item>, {
      async find() {
        finds++
        throw failure
      },
    })
    const settled = await Promise.allSettled(
      Array.from({ length: 6 }, () => getOrCreate(store, { slug: 'fails' }, { title: 'x' })),
    )
    expect(settled.every((s) => s.status === 'rejected' && s.reason === failure)).toBe(true)
    expect(finds).toBe(1) // one operation, failed once: no caller retried on its own
  })

  test("a row the database refuses for the first caller's values (a CHECK) does not fail the others", async () => {
    const { name, store } = await makeItems()
    await h.exec(`alter table ${name} add constraint ${name}_title_ok check (title <> 'bad')`)
    await getOrCreate(store, { slug: 'warm-up' }, { title: 'w' })
    const settled = await Promise.allSettled([
      getOrCreate(store, { slug: 'c' }, { title: 'bad' }),
      ...Array.from({ length: 5 }, (_, i) => getOrCreate(store, { slug: 'c' }, { title: `fine ${i}` })),
    ])
    expect(settled[0]?.status).toBe('rejected') // the database's own error, for the caller whose values it was
    const rest = settled.slice(1).map((s) => (s.status === 'fulfilled' ? s.value : undefined))
    expect(rest.every((r) => r !== undefined)).toBe(true)
    expect(rest.filter((r) => r?.created)).toHaveLength(1)
    expect(new Set(rest.map((r) => r?.row.id)).size).toBe(1)
    const rows = await h.rows(`select count(*)::int as n from ${name} where slug = 'c'`)
    expect(rows[0]?.n).toBe(1)
  })

  test("the first caller's own defaults failing does not fail the others: they run their own operation", async () => {
    const { name, store } = await makeItems()
    await getOrCreate(store, { slug: 'warm-up' }, { title: 'w' })
    const own = new Error('defaults of the first caller failed')
    const settled = await Promise.allSettled([
      getOrCreate(store, { slug: 'd' }, () => {
        throw own
      }),
      ...Array.from({ length: 5 }, (_, i) => getOrCreate(store, { slug: 'd' }, { title: `f${i}` })),
    ])
    expect(settled[0]).toEqual({ status: 'rejected', reason: own })
    const rest = settled.slice(1).map((s) => (s.status === 'fulfilled' ? s.value : undefined))
    expect(rest.every((r) => r !== undefined)).toBe(true)
    expect(rest.filter((r) => r?.created)).toHaveLength(1)
    expect(new Set(rest.map((r) => r?.row.id)).size).toBe(1)
    const rows = await h.rows(`select count(*)::int as n from ${name} where slug = 'd'`)
    expect(rows[0]?.n).toBe(1)
  })
})

test('a strategy without singleFlight is called once per call; with it, once per shared operation', async () => {
  let calls = 0
  const base: Strategy = {
    name: 'counting',
    async getOrCreate(_store, _key, values) {
      calls++
      await new Promise((resolve) => setTimeout(resolve, 5))
      return { row: (await values()) as never, created: true }
    },
  }
  const { memoryStore } = await import('@getorcreate/core')
  const store = memoryStore<{ slug: string; n?: number }>({ uniqueBy: [['slug']] })
  const run = (strategy: Strategy) =>
    Promise.all(Array.from({ length: 5 }, (_, n) => getOrCreate(store, { slug: 's' }, { n }, strategy)))
  await run(base)
  expect(calls).toBe(5)
  calls = 0
  const shared = await run({ ...base, singleFlight: true })
  expect(calls).toBe(1)
  expect(shared.map((r) => r.created)).toEqual([true, false, false, false, false])
  expect(shared.map((r) => r.row.n)).toEqual([0, 0, 0, 0, 0])
})

test("keys share exactly when their ids match: one field's strings by the string, every other key by its id", async () => {
  const operations: string[] = []
  const strategy: Strategy = {
    name: 'recording',
    singleFlight: true,
    async getOrCreate(_store, key, values) {
      operations.push(JSON.stringify(key))
      await new Promise((resolve) => setTimeout(resolve, 5))
      return { row: { ...(key as object), ...((await values()) as object) } as never, created: true }
    },
  }
  const { memoryStore } = await import('@getorcreate/core')
  const store = memoryStore<Record<string, unknown>>({ uniqueBy: [['slug']] })
  // The first one-field string key names the field whose strings key the open operations themselves.
  const keys: Record<string, unknown>[] = [
    { slug: 's' },
    { other: 's' }, // same string, another field: by its id, never with { slug: 's' }
    { slug: 's' },
    { other: 's' },
    { slug: 1 }, // a number: by its id, never with { slug: '1' }
    { slug: '1' },
    { slug: '1' },
    { slug: 's', other: 's' }, // two fields: by its id
    { other: 's', slug: 's' },
    { slug: 's' },
  ]
  const results = await Promise.all(keys.map((key, n) => getOrCreate(store, key, { n }, strategy)))
  expect(operations).toEqual([
    '{"slug":"s"}',
    '{"other":"s"}',
    '{"slug":1}',
    '{"slug":"1"}',
    '{"slug":"s","other":"s"}',
  ])
  // Each key's first call led (created, its own values); the others got its row.
  expect(results.map((r) => r.created)).toEqual([
    true,
    true,
    false,
    false,
    true,
    true,
    false,
    true,
    false,
    false,
  ])
  expect(results.map((r) => r.row.n)).toEqual([0, 1, 0, 1, 4, 5, 5, 7, 7, 0])
})

test('a lone call of a single-flight strategy: a synchronous throw rejects its promise, and a thenable that is not a Promise settles it', async () => {
  const { memoryStore } = await import('@getorcreate/core')
  const store = memoryStore<{ slug: string; n?: number }>({ uniqueBy: [['slug']] })
  const broken = new Error('thrown before any promise')
  const throwing: Strategy = {
    name: 'throwing',
    singleFlight: true,
    getOrCreate() {
      throw broken
    },
  }
  await expect(getOrCreate(store, { slug: 't' }, { n: 1 }, throwing)).rejects.toBe(broken)
  const thenable: Strategy = {
    name: 'thenable',
    singleFlight: true,
    getOrCreate(_store, key) {
      // A promise of another library: a thenable, not a native Promise.
      return {
        // biome-ignore lint/suspicious/noThenProperty: the point of the test
        then: (resolve: (value: unknown) => void) => resolve({ row: { ...key, n: 7 }, created: true }),
      } as never
    },
  }
  expect(await getOrCreate(store, { slug: 'u' }, { n: 1 }, thenable)).toEqual({
    row: { slug: 'u', n: 7 },
    created: true,
  })
})

test('singleFlight must be a boolean', () => {
  expect(() => constraintStrategy({ singleFlight: 'yes' as never })).toThrow(TypeError)
})

test('a store whose reads run synchronously (memoryStore): a row deleted between two calls of one tick is not returned', async () => {
  const { memoryStore } = await import('@getorcreate/core')
  const store = memoryStore<{ id?: number; slug: string; n?: number }>({
    uniqueBy: [['slug']],
    autoIncrement: 'id',
  })
  await getOrCreate(store, { slug: 'gone' }, { n: 1 })
  const first = getOrCreate(store, { slug: 'gone' }, { n: 2 })
  store.delete({ slug: 'gone' }) // synchronously, after the first call and before the second
  const second = getOrCreate(store, { slug: 'gone' }, { n: 3 })
  const [a, b] = await Promise.all([first, second])
  // They share one operation, which began after the delete: it creates the row (with the first call's values).
  expect(a.created).toBe(true)
  expect(a.row.n).toBe(2)
  expect(b).toEqual({ row: a.row, created: false })
  expect(store.rows()).toHaveLength(1)
})

test('a burst that keeps coming: callers that resume together and call again at once share every operation, not only the first', async () => {
  // 100 fresh keys, each key's 4 callers one after another in the list, taken by 16 workers (the bench's
  // burst; one event fanned out to several handlers, again and again). The callers of an operation resume in
  // one round of microtasks, leader and followers alike, so the next 4 calls are made before the first of
  // them begins its operation, and share it.
  let operations = 0
  const strategy: Strategy = {
    name: 'counting',
    singleFlight: true,
    async getOrCreate(_store, key, values) {
      operations++
      await new Promise((resolve) => setImmediate(resolve)) // a round trip: another macrotask
      return { row: { ...(await values()), ...(key as object) } as never, created: true }
    },
  }
  const { memoryStore } = await import('@getorcreate/core')
  const store = memoryStore<{ slug: string; n?: number }>({ uniqueBy: [['slug']] })
  const keys = Array.from({ length: 100 }, (_, i) => `k${i}`)
  const calls = keys.flatMap((slug) => [slug, slug, slug, slug])
  const { results, errors } = await runConcurrently(calls, 16, (slug, n) =>
    getOrCreate(store, { slug }, { n }, strategy),
  )
  expect(errors).toEqual([])
  expect(operations).toBe(100)
  // Each key's first call led (created) and the next three got its row.
  expect(results.map((r) => r?.created)).toEqual(calls.map((_, i) => i % 4 === 0))
  expect(results.map((r) => r?.row.n)).toEqual(calls.map((_, i) => i - (i % 4)))
})

test("after the first caller's values failed, the others try again at once, each on its own: one more round, not one a caller", async () => {
  // A failure after the values were asked (here a lost connection, which is not the values' fault) makes the
  // others try again with their own; shared again, they would fail one after another, each waiting for every
  // attempt before its own.
  const { memoryStore } = await import('@getorcreate/core')
  const base = memoryStore<{ slug: string; n?: number }>({ uniqueBy: [['slug']] })
  const failure = Object.assign(new Error('connection reset (injected)'), { code: 'ECONNRESET' })
  let inserts = 0
  let out = 0
  let mostOut = 0
  const store = Object.assign(Object.create(base) as typeof base, {
    async insertIfAbsentAtomically(): Promise<never> {
      inserts++
      mostOut = Math.max(mostOut, ++out)
      await new Promise((resolve) => setImmediate(resolve))
      await new Promise((resolve) => setImmediate(resolve))
      out--
      throw failure
    },
  })
  const strategy = constraintStrategy()
  const settled = await Promise.allSettled(
    Array.from({ length: 5 }, (_, n) => getOrCreate(store, { slug: 'x' }, { n }, strategy)),
  )
  expect(settled.every((s) => s.status === 'rejected' && s.reason === failure)).toBe(true)
  expect(inserts).toBe(5) // the first caller's, then each other caller's own
  expect(mostOut).toBe(4) // the four retries out together
  expect(base.rows()).toEqual([])
})

test("a call that tries again after the first caller's values failed runs in its own async context", async () => {
  const { AsyncLocalStorage } = await import('node:async_hooks')
  const { memoryStore } = await import('@getorcreate/core')
  const context = new AsyncLocalStorage<string>()
  const base = memoryStore<{ slug: string; by?: string }>({ uniqueBy: [['slug']] })
  const seen: string[] = []
  const store = Object.assign(Object.create(base) as typeof base, {
    find(key: { slug: string }) {
      seen.push(`find in ${context.getStore()}`)
      return base.find(key)
    },
  })
  const strategy = constraintStrategy()
  const first = context.run('A', () =>
    getOrCreate(
      store,
      { slug: 'x' },
      () => {
        throw new Error('defaults of A failed')
      },
      strategy,
    ),
  )
  const second = context.run('B', () =>
    getOrCreate(
      store,
      { slug: 'x' },
      () => {
        seen.push(`defaults of B in ${context.getStore()}`)
        return { by: context.getStore() }
      },
      strategy,
    ),
  )
  await expect(first).rejects.toThrow('defaults of A failed')
  const { row, created } = await second
  expect({ row, created }).toEqual({ row: { slug: 'x', by: 'B' }, created: true })
  expect(seen).toEqual(['find in A', 'find in B', 'defaults of B in B'])
})

test('the queue of operations to begin stays bounded when callers never let it empty', async () => {
  // A store that answers within microtasks, and workers out of step: some operation is always waiting to
  // begin, so the queue never empties; the begun entries at its front are dropped all the same.
  const { memoryStore } = await import('@getorcreate/core')
  const store = memoryStore<{ slug: string }>({ uniqueBy: [['slug']] })
  const strategy = constraintStrategy({ batchReads: false })
  for (let k = 0; k < 16; k++) await getOrCreate(store, { slug: `k${k}` }, {}, strategy)
  let most = 0
  const worker = async (k: number) => {
    for (let i = 0; i < k; i++) await null // out of step with the others
    for (let i = 0; i < 5_000; i++) {
      await getOrCreate(store, { slug: `k${k}` }, {}, strategy)
      most = Math.max(most, beginQueueLength())
    }
  }
  await Promise.all(Array.from({ length: 16 }, (_, k) => worker(k)))
  expect(most).toBeGreaterThan(16) // it never emptied: the case this is about
  expect(most).toBeLessThanOrEqual(2 * 1024 + 16)
})

describe('open operations (OpenFlights)', () => {
  const strategy = constraintStrategy()
  const store = {} as Store<unknown, unknown, unknown>
  const flight = (byKey: OpenFlights, id: string) =>
    new Flight(byKey, id, slotOf(id), strategy, store, {}, (() => ({})) as never, undefined)
  /** `n` ids that share one slot. */
  function sameSlot(n: number): string[] {
    const bySlot = new Map<number, string[]>()
    for (let i = 0; ; i++) {
      const id = `key-${i}`
      const ids = bySlot.get(slotOf(id)) ?? []
      ids.push(id)
      bySlot.set(slotOf(id), ids)
      if (ids.length === n) return ids
    }
  }

  test('an operation is found by its id until it begins; a later one for the key opens again', () => {
    const open = new OpenFlights()
    const first = flight(open, 'a')
    expect(open.get('a', slotOf('a'))).toBeUndefined()
    open.open(first)
    expect(open.get('a', slotOf('a'))).toBe(first)
    expect(open.size).toBe(1)
    open.begin(first)
    expect(open.get('a', slotOf('a'))).toBeUndefined()
    expect(open.size).toBe(0)
    const second = flight(open, 'a')
    open.open(second)
    expect(open.get('a', slotOf('a'))).toBe(second)
    // The first beginning again (it cannot) neither closes the second nor counts as a second operation begun.
    open.begin(first)
    expect(open.get('a', slotOf('a'))).toBe(second)
    expect(open.size).toBe(1)
    open.begin(second)
    expect(open.size).toBe(0)
  })

  test('two stores open the same id: each finds its own', () => {
    const one = new OpenFlights()
    const other = new OpenFlights()
    const a = flight(one, 'same')
    const b = flight(other, 'same')
    one.open(a)
    other.open(b)
    expect(one.get('same', slotOf('same'))).toBe(a)
    expect(other.get('same', slotOf('same'))).toBe(b)
    one.begin(a)
    expect(one.get('same', slotOf('same'))).toBeUndefined()
    expect(other.get('same', slotOf('same'))).toBe(b)
    other.begin(b)
  })

  test('ids of one slot past a full chain: each is found until it begins, in whatever order they begin', () => {
    const ids = sameSlot(OpenFlights.CHAIN * 3)
    const open = new OpenFlights()
    const flights = ids.map((id) => flight(open, id))
    for (const f of flights) open.open(f)
    expect(flights.filter((f) => f.crowded)).toHaveLength(OpenFlights.CHAIN * 2)
    for (const f of flights) expect(open.get(f.id, f.slot)).toBe(f)
    // Begin the chain's middle first, then every third, then the rest: the others stay found, the begun go.
    const order = [
      ...flights.slice(3, 5),
      ...flights.filter((_, i) => i % 3 === 0 && (i < 3 || i >= 5)),
      ...flights.filter((_, i) => i % 3 !== 0 && (i < 3 || i >= 5)),
    ]
    expect(new Set(order).size).toBe(flights.length)
    const begun = new Set<Flight>()
    for (const f of order) {
      open.begin(f)
      begun.add(f)
      // A crowded one stays found once the chain is short again.
      for (const g of flights) expect(open.get(g.id, g.slot)).toBe(begun.has(g) ? undefined : g)
    }
    expect(open.size).toBe(0)
    // Nothing holds a begun operation: none is chained to another.
    expect(flights.every((f) => f.chain === undefined)).toBe(true)
  })

  test('slotOf: equal ids, equal slots; every slot within the table; long ids cost no more than 48 characters', () => {
    const long = 'x'.repeat(10_000)
    for (const id of ['', 'a', 'key-1', '\u{1F600}', long, `${long}y`]) {
      const slot = slotOf(id)
      expect(slot).toBe(slotOf(id.slice()))
      expect(Number.isInteger(slot) && slot >= 0 && slot < 4096).toBe(true)
    }
    // Keys that differ anywhere in 48 characters land in different slots, mostly: a spread, not a pile.
    const slots = new Set(Array.from({ length: 1000 }, (_, i) => slotOf(`hot-${i}`)))
    expect(slots.size).toBeGreaterThan(800)
    const ends = new Set(Array.from({ length: 1000 }, (_, i) => slotOf(`${long}-${i}`)))
    expect(ends.size).toBeGreaterThan(800)
  })
})
