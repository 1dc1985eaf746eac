/**
 * Fenced writes on Postgres (`drizzleStore(db, table, { fences })`), on every driver, what is Postgres's own:
 * the read of the key runs under the fence row's lock, after every earlier holder committed (the two-session
 * cases of ./support/fence-waits.ts); `pgFencesSql`
 * creates the table `pgFencesTable` maps; `pruneFences` deletes old rows only; and the options are checked.
 * What every fenced store must do (tokens, `LockLostError`, bad input, racing owners) is the conformance
 * suite's "fenced" group, run by the conformance-*.test.ts files.
 */
import { LockLostError } from '@getorcreate/core'
import { drizzleStore, pgFencesSql, pgFencesTable, pruneFences } from '@getorcreate/core/drizzle'
import { sql } from 'drizzle-orm'
import { int as myInt, mysqlTable } from 'drizzle-orm/mysql-core'
import { integer, pgTable, serial, text } from 'drizzle-orm/pg-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { checkPruneFences } from './support/fence-prune.js'
import { registerFenceWaitCases } from './support/fence-waits.js'
import { openPg, PG_DRIVERS, type PgHarness } from './support/pg.js'

const itemsTable = (name: string) =>
  pgTable(name, { id: serial('id').primaryKey(), slug: text('slug').notNull(), n: integer('n') })

describe.each(PG_DRIVERS)('fenced writes, %s', (driver) => {
  let h: PgHarness
  let fencesName: string
  let fences: ReturnType<typeof pgFencesTable>
  beforeAll(async () => {
    h = await openPg(driver, 4)
    fencesName = h.table('fences')
    await h.exec(pgFencesSql(fencesName))
    fences = pgFencesTable(fencesName)
  })
  afterAll(() => h.close())

  async function fixture() {
    const name = h.table()
    await h.exec(`create table ${name} (id serial primary key, slug text not null, n integer)`)
    const store = drizzleStore(h.db, itemsTable(name), { fences })
    const count = async (slug: string) =>
      Number((await h.rows(`select count(*)::int as n from ${name} where slug = '${slug}'`))[0]?.n)
    const fence = async (lockKey: string) =>
      (await h.rows(`select token from ${fencesName} where lock_key = '${lockKey}'`))[0]?.token
    return { name, store, count, fence }
  }

  test('pruneFences deletes the rows no write raised for olderThanMs, and only those', async () => {
    await checkPruneFences({
      fencesName,
      store: (await fixture()).store,
      insertOld: (old) =>
        h.exec(
          `insert into ${fencesName} (lock_key, token, updated_at) values ('${old}', 1, now() - interval '1 hour')`,
        ),
      present: async (keys) =>
        (
          await h.rows(
            `select lock_key from ${fencesName} where lock_key in (${keys.map((key) => `'${key}'`).join(', ')})`,
          )
        ).map((row) => row.lock_key),
      prune: (olderThanMs) => pruneFences(h.db, fences, { olderThanMs }),
    })
  })

  test('a column whose default is SQL (no statement to prepare): the transaction path creates, finds a row with nothing written, and refuses an older token', async () => {
    const { name, fence } = await fixture()
    const table = pgTable(name, {
      id: serial('id').primaryKey(),
      slug: text('slug').notNull(),
      n: integer('n').$defaultFn(() => sql`41 + 1`),
    })
    const store = drizzleStore(h.db, table, { fences })
    const lockKey = `${name}:sql-default`
    const row = await store.insertIfAbsentFenced!({ slug: 'a' }, { slug: 'a' }, { token: 5, lockKey })
    expect([row?.slug, row?.n]).toEqual(['a', 42])
    // Found before the fence: undefined, the fence neither raised nor checked.
    expect(await store.insertIfAbsentFenced!({ slug: 'a' }, { slug: 'a' }, { token: 6, lockKey })).toBe(
      undefined,
    )
    expect(await store.insertIfAbsentFenced!({ slug: 'a' }, { slug: 'a' }, { token: 1, lockKey })).toBe(
      undefined,
    )
    expect(Number(await fence(lockKey))).toBe(5)
    await expect(
      store.insertIfAbsentFenced!({ slug: 'b' }, { slug: 'b' }, { token: 4, lockKey }),
    ).rejects.toBeInstanceOf(LockLostError)
    expect((await h.rows(`select slug from ${name} order by slug`)).map((r) => r.slug)).toEqual(['a'])
  })

  // PGlite has one session: no second one to hold the fence row.
  if (driver !== 'pglite') {
    registerFenceWaitCases(() => ({ fencesName, fixture, session: h.session! }))
  }
})

describe('drizzleStore options', () => {
  const table = itemsTable('never_created')
  const db = {} as never
  test.each([
    ['not an object', 'fences' as unknown, /options must be an object/],
    ['an unknown option', { fence: pgFencesTable() }, /unknown option "fence"/],
    ['fences that are not a table', { fences: {} }, /pg-core table/],
    ['fences of another dialect', { fences: mysqlTable('f', { id: myInt('id') }) }, /pg-core table/],
    [
      'a table without the fence columns',
      { fences: pgTable('f', { id: serial('id') }) },
      /no column lockKey/,
    ],
  ])('%s: a TypeError before any I/O', (_, options, message) => {
    expect(() => drizzleStore(db, table, options as never)).toThrow(message)
    expect(() => drizzleStore(db, table, options as never)).toThrow(TypeError)
  })
  test('pg fences on a MySQL table: a TypeError', () => {
    expect(() =>
      drizzleStore(
        {} as never,
        mysqlTable('t', { id: myInt('id') }) as never,
        { fences: pgFencesTable() } as never,
      ),
    ).toThrow(/mysql-core table/)
  })
})
