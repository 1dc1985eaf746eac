/**
 * The constraint strategy's single calls for fresh keys (README, "constraintStrategy"): where the keys a store's
 * calls meet for the first time mostly had no row (a miss storm), a key met for the first time is read and
 * inserted in one statement; a key met lately is read with one plain read; lazy defaults and transactions read
 * first. Real Postgres on every driver, the statements counted as drizzle sent them; and how many keys are
 * remembered, on a memory store that plays the statement (the traces: diagnostics.test.ts).
 */
import { constraintStrategy, FreshKeyGuess, getOrCreate, type Store } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { runConcurrently, shuffledCalls } from '@getorcreate/test-support'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { oneStatementStore } from './support/one-statement-store.js'
import {
  oneStatementsSince,
  openPg,
  PG_DRIVERS,
  type PgHarness,
  statementsOn,
  uniqueItems,
} from './support/pg.js'
import type { itemsTable } from './support/tables.js'

type Item = ReturnType<typeof itemsTable>['$inferSelect']
type ItemStore = Store<Item, Partial<Item>, Partial<Item>>

/** Fresh keys `prefix0`… one call after another (no call shares another's operation), each created. */
async function freshOneByOne(store: ItemStore, prefix: string, n: number) {
  for (let i = 0; i < n; i++) {
    const { created, row } = await getOrCreate(store, { slug: `${prefix}${i}` }, { title: `${prefix} ${i}` })
    expect(created).toBe(true)
    expect(row.title).toBe(`${prefix} ${i}`)
  }
}

describe.each(PG_DRIVERS)('fresh keys on Postgres via %s', (driver) => {
  let h: PgHarness
  beforeAll(async () => {
    h = await openPg(driver, 16)
  })
  afterAll(async () => {
    await h.close()
  })

  const makeItems = () => uniqueItems(h)

  test('once the keys met for the first time mostly had no row, each fresh key is one statement; a key met lately one plain read', async () => {
    const { name, store } = await makeItems()
    let from = h.queries.length
    await freshOneByOne(store, 'warm', 1)
    // Nothing told the store that its keys are fresh yet: read first.
    expect(statementsOn(h, name, from)).toEqual({ reads: 1, inserts: 1 })
    await freshOneByOne(store, 'early', 15)
    from = h.queries.length
    await freshOneByOne(store, 'late', 10)
    expect(statementsOn(h, name, from)).toEqual({ reads: 0, inserts: 10 })
    expect(oneStatementsSince(h, from)).toBe(10)
    // A key this process met lately most likely has its row: one plain read, whatever the fresh keys do.
    from = h.queries.length
    const again = await getOrCreate(store, { slug: 'late3' }, { title: 'other' })
    expect(statementsOn(h, name, from)).toEqual({ reads: 1, inserts: 0 })
    expect(again).toMatchObject({ created: false, row: { slug: 'late3', title: 'late 3' } })
    const rows = await h.rows(`select count(*)::int as n, count(distinct slug)::int as keys from ${name}`)
    expect(rows[0]).toEqual({ n: 26, keys: 26 })
  })

  test('existing keys met for the first time: the statement finds them, writing nothing and drawing no id, until calls read first again', async () => {
    const { name, store } = await makeItems()
    await freshOneByOne(store, 'fresh', 20)
    await h.exec(`insert into ${name} (slug, title) select 'old' || g, 'old' from generate_series(0, 29) g`)
    const lastId = async () => (await h.rows(`select last_value from ${name}_id_seq`))[0]?.last_value
    const before = await lastId()
    const ids = new Map(
      (await h.rows(`select slug, id from ${name} where title = 'old'`)).map((r) => [r.slug, r.id]),
    )
    const from = h.queries.length
    const starts: number[] = []
    for (let i = 0; i < 30; i++) {
      starts.push(h.queries.length)
      const { row, created } = await getOrCreate(store, { slug: `old${i}` }, { title: 'new' })
      expect(created).toBe(false)
      expect(row.id).toBe(ids.get(`old${i}`))
      expect(row.title).toBe('old')
    }
    expect(await lastId()).toBe(before) // no insert ran, no default was evaluated
    // The first ones go in the one statement (the store's keys were fresh until now), and find their rows;
    // with each, fewer of the keys met for the first time had no row, and calls go back to reading first.
    expect(oneStatementsSince(h, from)).toBeGreaterThan(0)
    expect(oneStatementsSince(h, starts[20] as number)).toBe(0)
    expect(statementsOn(h, name, starts[20] as number)).toEqual({ reads: 10, inserts: 0 })
    expect((await h.rows(`select count(*)::int as n from ${name}`))[0]?.n).toBe(50)
  })

  test('lazy defaults and a store bound to a transaction read first, however fresh the keys', async () => {
    const { name, store, table } = await makeItems()
    await freshOneByOne(store, 'fresh', 20)
    let from = h.queries.length
    let calls = 0
    const lazy = await getOrCreate(store, { slug: 'lazy' }, () => {
      calls++
      return { title: 'l' }
    })
    // A defaults function must not run for a key that exists: the statement would need its values first.
    expect(statementsOn(h, name, from)).toEqual({ reads: 1, inserts: 1 })
    expect(lazy.created).toBe(true)
    expect(calls).toBe(1)
    await h.db.transaction(async (tx) => {
      const inTx = drizzleStore(tx, table) as ItemStore
      from = h.queries.length
      await freshOneByOne(inTx, 'tx', 20)
      expect(statementsOn(h, name, from)).toEqual({ reads: 20, inserts: 20 })
      expect(oneStatementsSince(h, from)).toBe(0)
    })
  })

  test('callers of the same fresh keys at once, no single flight, the one statement in play: one row, one created:true, one id per key', async () => {
    const { name, store } = await makeItems()
    const strategy = constraintStrategy({ singleFlight: false })
    for (let i = 0; i < 20; i++) await getOrCreate(store, { slug: `warm${i}` }, { title: 'w' }, strategy)
    const keys = Array.from({ length: 150 }, (_, i) => `k${i}`)
    const from = h.queries.length
    const { results, errors } = await runConcurrently(shuffledCalls(keys, 4, 7), 16, async (slug) => {
      const { row, created } = await getOrCreate(store, { slug }, { title: 't' }, strategy)
      return { slug, id: row.id, created }
    })
    expect(errors).toEqual([])
    // The statement that reads and inserts, for one key or (batchWrites) for the keys asked for in one turn.
    const sent = h.queries.slice(from)
    expect(sent.filter((query) => query.startsWith('with goc_found')).length).toBeGreaterThan(0)
    expect(sent.filter((query) => query.startsWith('with goc_rows')).length).toBeGreaterThan(0)
    for (const key of keys) {
      const mine = results.filter((result) => result?.slug === key) as NonNullable<(typeof results)[number]>[]
      expect(mine).toHaveLength(4)
      expect(mine.filter((result) => result.created)).toHaveLength(1)
      expect(new Set(mine.map((result) => result.id)).size).toBe(1)
    }
    const rows = await h.rows(
      `select count(*)::int as n, count(distinct slug)::int as keys from ${name} where slug like 'k%'`,
    )
    expect(rows[0]).toEqual({ n: keys.length, keys: keys.length })
  })
})

test('a key met long ago (more keys met for the first time since than are remembered) is met for the first time again', async () => {
  const { base, store, state } = oneStatementStore()
  for (let i = 0; i < 20; i++) await getOrCreate(store, { slug: `f${i}` }, { title: 'mine' })
  await getOrCreate(store, { slug: 'early' }, { title: 'mine' })
  state.sent.length = 0
  await getOrCreate(store, { slug: 'early' }, { title: 'mine' })
  expect(state.sent).toEqual(['find early']) // met lately
  for (let i = 0; i < FreshKeyGuess.REMEMBERED; i++) {
    await getOrCreate(store, { slug: `g${i}` }, { title: 'mine' })
    if (i < FreshKeyGuess.REMEMBERED - 1) base.delete({ slug: `g${i}` }) // the memory store reads its rows one by one: keep them few
  }
  state.sent.length = 0
  await getOrCreate(store, { slug: 'early' }, { title: 'mine' })
  const last = `g${FreshKeyGuess.REMEMBERED - 1}`
  await getOrCreate(store, { slug: last }, { title: 'mine' })
  expect(state.sent).toEqual(['one early', `find ${last}`])
})

test('FreshKeyGuess: new keys until half of the first-met ones missed, then fresh; a remembered key is met', () => {
  const guess = new FreshKeyGuess()
  expect(guess.meet({ slug: 'a' })).toBe('new')
  expect(guess.meet({ slug: 'a' })).toBe('met')
  guess.count(true)
  // The moving average weighs each key 1/16: at least half after 11 misses in a row (1 - (15/16)^11 ≈ 0.51).
  const meetings: string[] = []
  for (let i = 0; i < 11; i++) {
    meetings.push(guess.meet({ slug: `k${i}` }))
    guess.count(true)
  }
  expect(meetings).toEqual([...Array.from({ length: 10 }, () => 'new'), 'fresh'])
  expect(guess.meet({ slug: 'k0' })).toBe('met')
  // Keys that had their rows bring it back under half: 0.54, then 0.51, then 0.47.
  expect(guess.meet({ tenant: 1, slug: 'old0' })).toBe('fresh')
  guess.count(false)
  expect(guess.meet({ tenant: 1, slug: 'old1' })).toBe('fresh')
  guess.count(false)
  expect(guess.meet({ tenant: 1, slug: 'old2' })).toBe('new')
  // Keys the database may equate but encode apart are apart here too ('1' and 1): a guess, never an answer.
  expect(guess.meet({ slug: 1 })).toBe('new')
  // A one-field string key is hashed from its field's remembered prefix on: the same value under another field
  // name, the same text as another type, and the text that ends another key's name are other keys.
  expect(guess.meet({ title: 'a' })).toBe('new')
  expect(guess.meet({ title: 'a' })).toBe('met')
  expect(guess.meet({ slug: '1' })).toBe('new')
  expect(guess.meet({ slu: 'gsa' })).toBe('new')
  expect(guess.meet({ slug: 'a', tenant: 1 })).toBe('new')
  expect(guess.meet({ tenant: 1, slug: 'a' })).toBe('met')
})
