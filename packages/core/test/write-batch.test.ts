/**
 * The constraint strategy's batched writes (`batchWrites`, on by default): the statements that read and insert
 * a likely fresh key (`findOrInsertManyAtomically`, one entry) of one store object asked for in one turn go as
 * one statement, one commit for all their keys. Real Postgres on every driver, the statements counted as
 * drizzle sent them; the rules for declines, failures and answers that break the contract on a memory store
 * that plays the statement, counted.
 */
import { constraintStrategy, getOrCreate, memoryStore, type Store } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { wroteNothing } from '../src/write-batch.js'
import { openPg, PG_DRIVERS, type PgHarness, uniqueItems } from './support/pg.js'
import { itemsDdl, itemsTable } from './support/tables.js'

type Item = ReturnType<typeof itemsTable>['$inferSelect']
type ItemStore = Store<Item, Partial<Item>, Partial<Item>>

/** The statements since `from` that read and insert: `one` for one entry, `many` for a batch of several. */
function readAndInsert(h: PgHarness, from: number): { one: number; many: number } {
  const sent = h.queries.slice(from)
  return {
    one: sent.filter((query) => query.startsWith('with goc_found')).length,
    many: sent.filter((query) => query.startsWith('with goc_rows')).length,
  }
}

/** Fresh keys one after another, until the store's calls take a key met for the first time as fresh. */
async function warm(store: ItemStore, strategy: ReturnType<typeof constraintStrategy>) {
  for (let i = 0; i < 20; i++) await getOrCreate(store, { slug: `warm${i}` }, { title: 'w' }, strategy)
}

describe.each(PG_DRIVERS)('batched writes on Postgres via %s', (driver) => {
  let h: PgHarness
  beforeAll(async () => {
    h = await openPg(driver, 16)
  })
  afterAll(async () => {
    await h.close()
  })

  test('fresh keys asked for at once: the first alone, the rest in one statement; each caller its own row and created', async () => {
    const { name, store } = await uniqueItems(h)
    const strategy = constraintStrategy()
    await warm(store, strategy)
    await h.exec(`insert into ${name} (slug, title) values ('there', 'old')`)
    const from = h.queries.length
    const slugs = ['a', 'b', 'there', 'c', 'd', 'b']
    const results = await Promise.all(
      slugs.map((slug, i) => getOrCreate(store, { slug }, { title: `t${i}` }, strategy)),
    )
    expect(readAndInsert(h, from)).toEqual({ one: 1, many: 1 })
    expect(results.map((result) => [result.row.slug, result.row.title, result.created])).toEqual([
      ['a', 't0', true],
      ['b', 't1', true],
      ['there', 'old', false],
      ['c', 't3', true],
      ['d', 't4', true],
      ['b', 't1', false],
    ])
    expect(results[1]?.row.id).toBe(results[5]?.row.id)
    expect(results[1]?.row === results[5]?.row).toBe(false)
    const rows = await h.rows(`select count(*)::int as n, count(distinct slug)::int as keys from ${name}`)
    expect(rows[0]).toEqual({ n: 25, keys: 25 })
  })

  test('a batch the database refuses for one key (a CHECK): each key again alone; the others created, that caller gets its error', async () => {
    const name = h.table()
    await h.exec(
      itemsDdl(
        name,
        `create unique index on ${name} (slug)`,
        `alter table ${name} add check (title <> 'bad')`,
      ),
    )
    const store = drizzleStore(h.db, itemsTable(name)) as ItemStore
    const strategy = constraintStrategy()
    await warm(store, strategy)
    const from = h.queries.length
    const settled = await Promise.allSettled(
      ['first', 'x', 'y', 'z'].map((slug) =>
        getOrCreate(store, { slug }, { title: slug === 'y' ? 'bad' : 'good' }, strategy),
      ),
    )
    // The first alone; x, y, z in one statement, refused; then each alone.
    expect(readAndInsert(h, from)).toEqual({ one: 4, many: 1 })
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled'])
    for (const s of settled) if (s.status === 'fulfilled') expect(s.value.created).toBe(true)
    const failed = settled[2] as PromiseRejectedResult
    expect(failed.reason.cause?.code ?? failed.reason.code).toBe('23514')
    const rows = await h.rows(`select slug from ${name} where title = 'good' order by slug`)
    expect(rows.map((row) => row.slug)).toEqual(['first', 'x', 'z'])
  })

  test('a value its column cannot encode (an invalid Date), in a batch: each key again alone; only that caller gets the error', async () => {
    const { name, store } = await uniqueItems(h)
    const strategy = constraintStrategy()
    await warm(store, strategy)
    const from = h.queries.length
    const settled = await Promise.allSettled(
      ['first', 'x', 'y', 'z'].map((slug) =>
        getOrCreate(
          store,
          { slug },
          // Every entry gives the same columns: rows that differ would make the store decline the batch anyway.
          { title: slug === 'y' ? 'bad' : 'good', createdAt: new Date(slug === 'y' ? Number.NaN : 0) },
          strategy,
        ),
      ),
    )
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled'])
    expect((settled[2] as PromiseRejectedResult).reason).toBeInstanceOf(RangeError)
    expect(readAndInsert(h, from).many).toBe(0)
    const rows = await h.rows(`select slug from ${name} where title = 'good' order by slug`)
    expect(rows.map((row) => row.slug)).toEqual(['first', 'x', 'z'])
  })

  test('batchWrites: false sends one statement per key', async () => {
    const { store } = await uniqueItems(h)
    const strategy = constraintStrategy({ batchWrites: false })
    await warm(store, strategy)
    const from = h.queries.length
    const results = await Promise.all(
      ['a', 'b', 'c', 'd'].map((slug) => getOrCreate(store, { slug }, { title: slug }, strategy)),
    )
    expect(readAndInsert(h, from)).toEqual({ one: 4, many: 0 })
    expect(results.every((result) => result.created)).toBe(true)
  })
})

type Row = { id?: number; slug: string; title?: string }

/**
 * A memory store keyed by `slug` whose `findOrInsertManyAtomically` plays the statement for any number of
 * entries (each key's row, else inserted), logged as `n:<slugs>`; `answer` replaces its answer for batches of
 * two or more (to decline, fail or misbehave).
 */
function playedStore(answer?: (entries: readonly { key: Partial<Row> }[]) => Promise<unknown>) {
  const base = memoryStore<Row>({ uniqueBy: [['slug']], autoIncrement: 'id' })
  const log: string[] = []
  const store = Object.assign(Object.create(base) as typeof base, {
    name: 'played',
    async findOrInsertManyAtomically(entries: readonly { key: Partial<Row>; values: Partial<Row> }[]) {
      log.push(`${entries.length}:${entries.map((entry) => entry.key.slug).join(',')}`)
      if (answer && entries.length > 1) return answer(entries)
      const answers = []
      for (const { key, values } of entries) {
        const found = await base.find(key)
        answers.push(
          found ? { row: found, inserted: false } : { row: await base.insert(values), inserted: true },
        )
      }
      return answers
    },
    findMany: async (keys: readonly Partial<Row>[]) => Promise.all(keys.map((key) => base.find(key))),
    insertManyIfAbsentAtomically: async () => undefined,
  })
  return { base, store, log }
}

/** Warms `store`'s strategy (fresh keys one by one), then calls for `slugs` at once; the log from then on. */
async function batchOf(
  played: ReturnType<typeof playedStore>,
  slugs: readonly string[],
  strategy = constraintStrategy(),
) {
  for (let i = 0; i < 20; i++) await getOrCreate(played.store, { slug: `w${i}` }, { title: 'w' }, strategy)
  played.log.length = 0
  const settled = await Promise.allSettled(
    slugs.map((slug) => getOrCreate(played.store, { slug }, { title: slug }, strategy)),
  )
  return settled
}

describe('batched writes: declines, failures and answers', () => {
  test('a batch the store declines goes again entry by entry', async () => {
    const played = playedStore(async () => undefined)
    const settled = await batchOf(played, ['a', 'b', 'c'])
    expect(played.log).toEqual(['1:a', '2:b,c', '1:b', '1:c'])
    expect(settled.map((s) => s.status === 'fulfilled' && s.value.created)).toEqual([true, true, true])
  })

  test('a batch the store refuses by throwing before any I/O goes again entry by entry', async () => {
    const played = playedStore()
    const { findOrInsertManyAtomically } = played.store
    Object.assign(played.store, {
      findOrInsertManyAtomically(entries: readonly { key: Partial<Row>; values: Partial<Row> }[]) {
        if (entries.length > 1) {
          played.log.push(`threw:${entries.length}`)
          throw new TypeError('refused before any I/O')
        }
        return findOrInsertManyAtomically.call(played.store, entries)
      },
    })
    const settled = await batchOf(played, ['a', 'b', 'c'])
    expect(played.log).toEqual(['1:a', 'threw:2', '1:b', '1:c'])
    expect(settled.map((s) => s.status === 'fulfilled' && s.value.created)).toEqual([true, true, true])
  })

  test('a batch that fails without a database refusal (a lost connection) fails each of its callers, sent nowhere again', async () => {
    const lost = new Error('Connection terminated unexpectedly')
    const played = playedStore(async () => {
      throw lost
    })
    const settled = await batchOf(played, ['a', 'b', 'c'])
    expect(played.log).toEqual(['1:a', '2:b,c'])
    expect(settled.map((s) => (s.status === 'rejected' ? s.reason : 'ok'))).toEqual(['ok', lost, lost])
  })

  test('a batch refused by the database (a Postgres ERROR, wrapped) goes again entry by entry', async () => {
    const refused = new Error('Failed query', {
      cause: Object.assign(new Error('deadlock detected'), { code: '40P01', severity: 'ERROR' }),
    })
    const played = playedStore(async () => {
      throw refused
    })
    const settled = await batchOf(played, ['a', 'b', 'c'])
    expect(played.log).toEqual(['1:a', '2:b,c', '1:b', '1:c'])
    expect(settled.map((s) => s.status === 'fulfilled' && s.value.created)).toEqual([true, true, true])
  })

  test('an answer of the wrong length, or neither an array nor undefined: a TypeError naming the store for each caller of the batch', async () => {
    for (const answer of [[{ row: { id: 1, slug: 'b' }, inserted: true }], null, 'rows']) {
      const played = playedStore(async () => answer)
      const settled = await batchOf(played, ['a', 'b', 'c'])
      expect(settled[0]?.status).toBe('fulfilled')
      for (const s of settled.slice(1)) {
        expect(s.status).toBe('rejected')
        expect((s as PromiseRejectedResult).reason).toBeInstanceOf(TypeError)
        expect(String((s as PromiseRejectedResult).reason.message)).toMatch(
          /Store played: findOrInsertManyAtomically answered/,
        )
      }
    }
  })

  test('one row object answered for two entries (keys the database treats as equal): the later caller gets a copy', async () => {
    const shared = { id: 7, slug: 'b', title: 'B' }
    const played = playedStore(async () => [
      { row: shared, inserted: true },
      { row: shared, inserted: false },
    ])
    const settled = await batchOf(played, ['a', 'b', 'B'])
    const [b, B] = settled
      .slice(1)
      .map((s) => (s as PromiseFulfilledResult<{ row: Row; created: boolean }>).value)
    expect(b).toEqual({ row: shared, created: true })
    expect(B).toEqual({ row: shared, created: false })
    expect(b?.row === B?.row).toBe(false)
  })

  test('batchWrites must be a boolean', () => {
    expect(() => constraintStrategy({ batchWrites: 'yes' as unknown as boolean })).toThrow(
      'constraintStrategy: batchWrites must be a boolean, got string.',
    )
  })
})

test('wroteNothing: a database refusal of the statement, not a lost connection nor a fatal error', () => {
  const pg = (code: string, severity: string) => Object.assign(new Error(code), { code, severity })
  expect(wroteNothing(pg('23514', 'ERROR'))).toBe(true)
  expect(wroteNothing(new Error('wrapped', { cause: pg('40P01', 'ERROR') }))).toBe(true)
  expect(wroteNothing(pg('57P01', 'FATAL'))).toBe(false)
  expect(wroteNothing(pg('XX000', 'PANIC'))).toBe(false)
  expect(wroteNothing(pg('08006', 'ERROR'))).toBe(false)
  expect(wroteNothing(pg('57P05', 'ERROR'))).toBe(false)
  expect(wroteNothing(pg('XX001', 'ERROR'))).toBe(false)
  // node-postgres and PGlite give the severity in the server's language: the code decides.
  expect(wroteNothing(pg('23514', 'FEHLER'))).toBe(true)
  expect(wroteNothing(pg('57P01', 'FATAL'))).toBe(false)
  const mysql = (fatal: boolean) =>
    Object.assign(new Error('mysql'), {
      errno: 3819,
      sqlState: 'HY000',
      code: 'ER_CHECK_CONSTRAINT_VIOLATED',
      fatal,
    })
  expect(wroteNothing(mysql(false))).toBe(true)
  expect(wroteNothing(mysql(true))).toBe(false)
  expect(wroteNothing(Object.assign(new Error('sqlite'), { code: 'SQLITE_CONSTRAINT_CHECK' }))).toBe(true)
  expect(wroteNothing(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe(false)
  expect(wroteNothing(Object.assign(new Error('closed'), { code: 'CONNECTION_CLOSED' }))).toBe(false)
  expect(wroteNothing(new Error('timeout'))).toBe(false)
  expect(wroteNothing(undefined)).toBe(false)
})
