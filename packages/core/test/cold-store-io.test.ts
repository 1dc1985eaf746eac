/**
 * When `INVALID_KEY` comes (README, "Errors"), counted on real databases with drizzle's logger, from a store's
 * very first call (a new `drizzleStore`, nothing asked of it yet: cold) and after it has served a call (warm):
 *
 * - a key value of the wrong type for its column is refused before any I/O: no statement, cold or warm
 *   (`Store.checkKey`, from drizzle's declaration alone);
 * - NULL in a key column under a unique index that treats NULLs as distinct needs the index's definition: on a
 *   cold store the call reads the table's unique indexes from the catalog first, and nothing else (no
 *   statement names the table, nothing is written): one statement on Postgres and on MariaDB, five on SQLite
 *   (whether the table exists, its unique indexes, its primary key, the table's file, its columns'
 *   collations); once known, the same refusal costs no statement, for `getOrCreate` and `getOrCreateMany`.
 *
 * Postgres on each driver (postgres.js, node-postgres, PGlite), MariaDB (mysql2), SQLite (better-sqlite3).
 */

import { getOrCreate, getOrCreateMany, InvalidKeyError, type Store } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { scratchName } from '@getorcreate/test-support'
import { int, mysqlTable, varchar } from 'drizzle-orm/mysql-core'
import { integer as pgInteger, pgTable, text as pgText, serial } from 'drizzle-orm/pg-core'
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type MysqlHarness, openMysql } from './support/mysql.js'
import { openPg, PG_DRIVERS, type PgHarness } from './support/pg.js'
import { openSqlite, type SqliteHarness, tempDir } from './support/sqlite.js'

/** The table of every case: a unique text `slug`, a unique nullable integer `code` (NULLs distinct). */
type Coded = Store<
  { id: number; slug: string | null; code: number | null },
  { slug?: string | null; code?: number | null },
  { slug?: string | null; code?: number | null }
>

/** One database: a way to make a cold store over a new table, and what its catalog read of the indexes sends. */
interface Dialect {
  /** Every statement drizzle sent, in order. */
  queries(): string[]
  /** A new table (`slug` unique, `code` unique and nullable), and a store over it that has served nothing yet. */
  coldStore(): Promise<{ name: string; store: Coded }>
  /** The rows the table holds, counted outside drizzle. */
  count(name: string): Promise<number>
  /** The statements of the catalog read that tells the unique indexes, in order: one pattern each. */
  readonly catalog: readonly RegExp[]
}

/** What `run` sent. */
async function sentBy(d: Dialect, run: () => Promise<unknown>): Promise<string[]> {
  const before = d.queries().length
  await run()
  return d.queries().slice(before)
}

/** `run` must reject with INVALID_KEY; what it sent meanwhile. */
function refused(d: Dialect, run: () => Promise<unknown>): Promise<string[]> {
  return sentBy(d, () => expect(run()).rejects.toBeInstanceOf(InvalidKeyError))
}

/** The cases, on one database. */
function registerCases(dialect: () => Dialect): void {
  test('a wrong-typed key value: no statement on a cold store, none on a warm one', async () => {
    const d = dialect()
    const { name, store } = await d.coldStore()
    expect(await refused(d, () => getOrCreate(store, { slug: 1 as never }))).toEqual([])
    expect(await refused(d, () => getOrCreateMany(store, [{ key: { slug: 2 as never } }]))).toEqual([])
    // Still cold: the refusals asked nothing. A call that works warms it.
    expect(await sentBy(d, () => getOrCreate(store, { slug: 'warm' }))).not.toEqual([])
    expect(await refused(d, () => getOrCreate(store, { slug: 1 as never }))).toEqual([])
    expect(await refused(d, () => getOrCreateMany(store, [{ key: { slug: 2 as never } }]))).toEqual([])
    expect(await d.count(name)).toBe(1)
  })

  test("NULL under a NULLs-distinct unique index: a cold store reads the catalog's unique indexes, nothing else; warm, no statement", async () => {
    const d = dialect()
    const { name, store } = await d.coldStore()
    const cold = await refused(d, () => getOrCreate(store, { code: null }, { slug: 'n' }))
    expect(cold).toHaveLength(d.catalog.length)
    cold.forEach((statement, i) => {
      expect(statement).toMatch(d.catalog[i] as RegExp)
      expect(statement).not.toContain(name) // the table is a parameter of the catalog read, never read itself
    })
    expect(await refused(d, () => getOrCreate(store, { code: null }, { slug: 'n' }))).toEqual([])
    expect(
      await refused(d, () => getOrCreateMany(store, [{ key: { code: null }, defaults: { slug: 'n' } }])),
    ).toEqual([])
    expect(await d.count(name)).toBe(0)
  })

  test('NULL under a NULLs-distinct unique index, by getOrCreateMany on a cold store: the same catalog read alone', async () => {
    const d = dialect()
    const { name, store } = await d.coldStore()
    const cold = await refused(d, () =>
      getOrCreateMany(store, [{ key: { code: 1 }, defaults: { slug: 'one' } }, { key: { code: null } }]),
    )
    expect(cold).toHaveLength(d.catalog.length)
    cold.forEach((statement, i) => {
      expect(statement).toMatch(d.catalog[i] as RegExp)
      expect(statement).not.toContain(name)
    })
    expect(await d.count(name)).toBe(0) // the batch's other key was not created either
  })
}

describe.each(PG_DRIVERS)('Postgres, %s', (driver) => {
  let h: PgHarness
  beforeAll(async () => {
    h = await openPg(driver, 2)
  })
  afterAll(async () => {
    await h.close()
  })

  registerCases(() => ({
    queries: () => h.queries,
    coldStore: async () => {
      const name = h.table('cold')
      await h.exec(`create table ${name} (id serial primary key, slug text unique, code integer unique)`)
      const table = pgTable(name, {
        id: serial('id').primaryKey(),
        slug: pgText('slug'),
        code: pgInteger('code'),
      })
      return { name, store: drizzleStore(h.db, table) as unknown as Coded }
    },
    count: async (name) => Number((await h.rows(`select count(*)::int as n from ${name}`))[0]?.n),
    catalog: [/^\s*with i as \(\s*select x\.\*.*from pg_index x\s+where x\.indrelid = \$1::regclass/s],
  }))
})

describe('MariaDB (mysql2)', () => {
  let h: MysqlHarness
  beforeAll(() => {
    h = openMysql(2)
  })
  afterAll(async () => {
    await h.close()
  })

  registerCases(() => ({
    queries: () => h.queries,
    coldStore: async () => {
      const name = h.table('cold')
      await h.exec(`create table ${name} (id int auto_increment primary key, slug varchar(50) unique,
        code int unique) engine = InnoDB`)
      const table = mysqlTable(name, {
        id: int('id').autoincrement().primaryKey(),
        slug: varchar('slug', { length: 50 }),
        code: int('code'),
      })
      return { name, store: drizzleStore(h.db, table) as unknown as Coded }
    },
    count: async (name) => Number((await h.rows(`select count(*) as n from ${name}`))[0]?.n),
    catalog: [
      /^\s*select v\.server_version, v\.table_schema, v\.table_exists, .*information_schema\.STATISTICS/s,
    ],
  }))
})

describe('SQLite (better-sqlite3)', () => {
  const dir = tempDir()
  let h: SqliteHarness
  beforeAll(() => {
    h = openSqlite(`${dir.dir}/cold.db`)
  })
  afterAll(() => {
    h.close()
    dir.remove()
  })

  registerCases(() => ({
    queries: () => h.queries,
    coldStore: async () => {
      const name = scratchName('cold')
      h.other.exec(`create table ${name} (id integer primary key, slug text unique, code integer unique)`)
      const table = sqliteTable(name, {
        id: integer('id').primaryKey(),
        slug: text('slug'),
        code: integer('code'),
      })
      return { name, store: drizzleStore(h.db, table) as unknown as Coded }
    },
    count: async (name) =>
      Number((h.other.prepare(`select count(*) as n from ${name}`).get() as { n: number }).n),
    catalog: [
      /^select count\(\*\) as n from pragma_table_info\(\?\)$/,
      /^\s*select il\.name as index_name, .*from pragma_index_list\(\?\) il/s,
      /^\s*select name, type, .*from pragma_table_info\(\?\) where pk = 1$/s,
      /^\s*select l\.schema as schema_name, .*from pragma_table_list l join pragma_database_list/s,
      /^\s*select x\.name as name, x\.type as type,.*sqlite_master/s,
    ],
  }))
})
