/**
 * The Postgres store over postgres.js runs its prepared statements straight on the driver, not through
 * drizzle's `execute` (four `async` layers a statement: a twentieth of a hit's CPU time), and keeps everything
 * drizzle's own would do: the same statement and parameters, the database's logger told of each, a failure
 * wrapped in drizzle's `DrizzleQueryError`, and a write on a database with a query cache told to the cache
 * (that one through drizzle). Real Postgres.
 */
import { constraintStrategy, getOrCreate, getOrCreateMany } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { databaseUrl, scratchName } from '@getorcreate/test-support'
import { DrizzleQueryError, eq, type Logger } from 'drizzle-orm'
import { drizzle, PostgresJsPreparedQuery } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest'
import { MapCache } from './support/map-cache.js'
import { itemsDdl, itemsTable } from './support/tables.js'

describe('postgres.js: statements straight on the driver', () => {
  let client: postgres.Sql
  const tables: string[] = []
  const logged: { query: string; params: unknown[] }[] = []
  const logger: Logger = { logQuery: (query, params) => void logged.push({ query, params }) }

  beforeAll(() => {
    client = postgres(databaseUrl(), { max: 4, onnotice: () => {} })
  })
  afterAll(async () => {
    try {
      if (tables.length > 0) await client.unsafe(`drop table if exists ${tables.join(', ')}`)
    } finally {
      await client.end({ timeout: 5 })
    }
  })
  afterEach(() => {
    vi.restoreAllMocks()
    logged.length = 0
  })

  async function newTable() {
    const name = scratchName('direct')
    tables.push(name)
    await client.unsafe(itemsDdl(name, `create unique index on ${name} (slug)`))
    return { name, table: itemsTable(name) }
  }

  test("a hit, a create, a lost race and a batch send no statement through drizzle's execute, and its logger sees each", async () => {
    const { name, table } = await newTable()
    const execute = vi.spyOn(PostgresJsPreparedQuery.prototype, 'execute')
    const store = drizzleStore(drizzle(client, { logger }), table)
    const unshared = constraintStrategy({ singleFlight: false })

    const created = await getOrCreate(store, { slug: 'a' }, { title: 'A' })
    expect(created).toMatchObject({ created: true, row: { slug: 'a', title: 'A' } })
    expect(await getOrCreate(store, { slug: 'a' }, { title: 'other' })).toEqual({
      created: false,
      row: created.row,
    })
    expect(await store.find({ slug: 'a' })).toEqual(created.row)
    // A lost race: 8 callers of one new key, each its own statements.
    const racers = await Promise.all(
      Array.from({ length: 8 }, () => getOrCreate(store, { slug: 'raced' }, { title: 'R' }, unshared)),
    )
    expect(racers.filter((result) => result.created)).toHaveLength(1)
    expect(new Set(racers.map((result) => result.row.id)).size).toBe(1)
    const many = await getOrCreateMany(store, [
      { key: { slug: 'a' }, defaults: { title: 'x' } },
      { key: { slug: 'b' }, defaults: () => ({ title: 'B' }) },
    ])
    expect(many.map(({ row, created: made }) => [row.slug, row.title, made])).toEqual([
      ['a', 'A', false],
      ['b', 'B', true],
    ])

    // No statement on the table went through it (the catalog's, read once per store, name it as a parameter).
    const onTable = () =>
      execute.mock.contexts.filter((query) =>
        (query as { queryString: string }).queryString.includes(`"${name}"`),
      )
    expect(onTable()).toEqual([])
    // Control: drizzle's own prepared statement on the same database goes through it.
    await drizzle(client).select().from(table).where(eq(table.slug, 'a')).prepare('direct_control').execute()
    expect(onTable()).toHaveLength(1)

    // The logger was told of every statement, with its parameters as sent: a find of 'a' (its key, then the
    // LIMIT) is one of them.
    const reads = logged.filter(({ query }) => query.startsWith('select') && query.includes(`"${name}"`))
    expect(reads.length).toBeGreaterThanOrEqual(2)
    expect(reads.map(({ params }) => params)).toContainEqual(['a', 1])
    const [rows] = await client.unsafe(`select count(*)::int as n from ${name}`)
    expect(rows?.n).toBe(3)
  })

  test("a database that does not show drizzle's session: a find runs the builder's own prepared statement", async () => {
    const { name, table } = await newTable()
    const db = drizzle(client, { logger })
    // A wrapper (as a proxy or an instrumented database may be) whose `_` has no session: the store prepares
    // its reads through the query builder instead, whose statement answers rows (the find answers one).
    const wrapped = Object.create(db, { _: { value: { ...db._, session: undefined } } }) as typeof db
    const store = drizzleStore(wrapped, table)
    const execute = vi.spyOn(PostgresJsPreparedQuery.prototype, 'execute')
    expect(await store.find({ slug: 'none' })).toBeUndefined()
    const created = await getOrCreate(store, { slug: 'w' }, { title: 'W' })
    expect(created).toMatchObject({ created: true, row: { slug: 'w', title: 'W' } })
    expect(await store.find({ slug: 'w' })).toEqual(created.row)
    expect(await getOrCreate(store, { slug: 'w' }, { title: 'other' })).toEqual({
      created: false,
      row: created.row,
    })
    // Those reads were the builder's statement, run straight on the driver too (the catalog's reads, which
    // name the table as a parameter, are drizzle's own).
    const onTable = execute.mock.contexts.filter((query) =>
      (query as { queryString: string }).queryString.includes(`"${name}"`),
    )
    expect(onTable).toEqual([])
    const reads = logged.filter(({ query }) => query.startsWith('select') && query.includes(`"${name}"`))
    expect(reads.map(({ params }) => params)).toEqual([
      ['none', 1],
      ['w', 1],
      ['w', 1],
      ['w', 1],
    ])
  })

  test("a failing statement is drizzle's DrizzleQueryError: the statement, its parameters, the driver's error", async () => {
    const { table } = await newTable()
    const store = drizzleStore(drizzle(client, { logger }), table)
    await getOrCreate(store, { slug: 'first' }, { email: 'taken@example.com' })
    const error = await getOrCreate(store, { slug: 'second' }, { email: 'taken@example.com' }).then(
      () => undefined,
      (thrown: unknown) => thrown,
    )
    expect(error).toBeInstanceOf(DrizzleQueryError)
    const wrapper = error as DrizzleQueryError
    expect(wrapper.query).toMatch(/^(insert|with)/i)
    expect(wrapper.params).toContain('taken@example.com')
    expect(wrapper.message).toBe(`Failed query: ${wrapper.query}\nparams: ${wrapper.params}`)
    expect(wrapper.cause).toBeInstanceOf(postgres.PostgresError)
    expect((wrapper.cause as postgres.PostgresError).code).toBe('23505')
    // The statement that failed was logged before it was sent, as drizzle logs it.
    expect(logged.at(-1)).toEqual({ query: wrapper.query, params: wrapper.params })
  })

  test("with a query cache, a write goes through drizzle, which drops the table's cached results", async () => {
    const { table } = await newTable()
    const cache = new MapCache()
    const db = drizzle(client, { cache })
    const execute = vi.spyOn(PostgresJsPreparedQuery.prototype, 'execute')
    const store = drizzleStore(db, table)
    await getOrCreate(store, { slug: 'warm' }, { title: 'W' }) // the catalog reads (drizzle's), first
    // A builder select, cached while it finds nothing.
    const select = () => db.select().from(table).where(eq(table.slug, 'c'))
    expect(await select()).toEqual([])
    expect(cache.entries.size).toBe(1)

    const before = execute.mock.calls.length
    // The create's write: through drizzle, whose cache hears of it.
    const created = await getOrCreate(store, { slug: 'c' }, { title: 'C' })
    expect(created.created).toBe(true)
    expect(execute.mock.calls.length - before).toBeGreaterThanOrEqual(1)
    expect(cache.entries.size).toBe(0)
    expect(await select()).toMatchObject([{ slug: 'c', title: 'C' }])

    // A find (a read, which no cache answers) still runs straight on the driver.
    const afterWrite = execute.mock.calls.length
    expect(await store.find({ slug: 'c' })).toEqual(created.row)
    expect(execute.mock.calls.length).toBe(afterWrite)
  })
})
