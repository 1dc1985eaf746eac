/**
 * Columns named like what every plain object inherits from `Object.prototype` (`constructor`, `toString`,
 * `valueOf`, `hasOwnProperty`): as the key, in `defaults`, and left out of an insert. On memoryStore, and on
 * real drizzle stores: Postgres (postgres.js, node-postgres, PGlite), MariaDB and SQLite.
 */
import { join } from 'node:path'
import { getOrCreate, memoryStore, type Store } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { scratchName } from '@getorcreate/test-support'
import { getTableColumns, sql } from 'drizzle-orm'
import { int, mysqlTable, varchar } from 'drizzle-orm/mysql-core'
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import { integer, sqliteTable, text as sqliteText } from 'drizzle-orm/sqlite-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { insertParameters } from '../src/drizzle/common/insert-parameters.js'
import { type MysqlHarness, openMysql } from './support/mysql.js'
import { openPg, PG_DRIVERS, type PgHarness } from './support/pg.js'
import { openSqlite, type SqliteHarness, tempDir } from './support/sqlite.js'

const NAMES = ['constructor', 'toString', 'valueOf', 'hasOwnProperty'] as const
type Name = (typeof NAMES)[number]

/** The database's column of each name: a plain, nullable text column with a unique index of its own. */
const COLUMN: Record<Name, string> = {
  constructor: 'ctor',
  toString: 'to_string',
  valueOf: 'value_of',
  hasOwnProperty: 'has_own_property',
}

type Row = Record<string, unknown>
type AnyStore = Store<Row, Row, Row>

/** What a row created with `key` and `{ title }` must be: the key, the title, every other such column NULL. */
function expected(key: Row, title: string | null): Row {
  return { ...Object.fromEntries(NAMES.map((name) => [name, null])), ...key, title }
}

/**
 * The row's own values of the names and `title`, a name it lacks as NULL (memoryStore keeps only the fields it
 * was given); not its `id`, nor `stamp` (a column some tables have only to force drizzle's other insert path).
 */
function withoutId(row: Row | undefined): Row {
  const own = (field: string) => (row !== undefined && Object.hasOwn(row, field) ? row[field] : null)
  return Object.fromEntries([...NAMES, 'title'].map((field) => [field, own(field)]))
}

/**
 * The cases every store runs: each name as the key (created with defaults, the others NULL, then found; a
 * defaults value for it that differs is still refused), and an insert that gives none of them.
 */
function inheritedNameCases(make: (key?: Name) => Promise<AnyStore>, written: () => Promise<unknown[]>) {
  test.each(NAMES)('a key column named %s: created with defaults, then found', async (name) => {
    const store = await make(name)
    await store.insert({ title: 'a row without it' }) // which no lookup of the name may match, nor trip on
    const first = await getOrCreate(store, { [name]: 'k' }, { title: 'T' })
    expect([first.created, withoutId(first.row)]).toEqual([true, expected({ [name]: 'k' }, 'T')])
    const lazy = await getOrCreate(store, { [name]: 'lazy' }, async () => ({ title: 'L' }))
    expect([lazy.created, withoutId(lazy.row)]).toEqual([true, expected({ [name]: 'lazy' }, 'L')])
    const again = await getOrCreate(store, { [name]: 'k' }, { title: 'other', [name]: 'k' })
    expect([again.created, again.row]).toEqual([false, first.row])
    await expect(getOrCreate(store, { [name]: 'n' }, { [name]: 'other' })).rejects.toMatchObject({
      code: 'CONFLICTING_DEFAULTS',
    })
    expect(await written()).toEqual([])
  })

  test('values that leave every such column out: NULL in each, through every insert method', async () => {
    const store = await make()
    const inserted = [await store.insert({ title: 'insert' })]
    inserted.push((await store.insertIfAbsentAtomically?.({ title: 'atomic' }, { title: 'atomic' })) ?? {})
    if (store.insertIfAbsentUnderLock) {
      inserted.push((await store.insertIfAbsentUnderLock({ title: 'locked' }, { title: 'locked' })) ?? {})
    }
    for (const row of inserted) expect(withoutId(row)).toEqual(expected({}, withoutId(row).title as string))
    expect(await written()).toEqual([])
  })
}

describe('insertParameters (the prepared insert of every drizzle store)', () => {
  test("a column named like an Object.prototype member gets its $defaultFn's value on every insert", () => {
    let made = 0
    const columns = getTableColumns(
      pgTable('t', { id: serial('id'), valueOf: text('value_of').$defaultFn(() => `made ${++made}`) }),
    )
    expect(insertParameters(columns, {})?.params).toEqual({ valueOf: 'made 1' })
    expect(insertParameters(columns, {})?.params).toEqual({ valueOf: 'made 2' })
  })

  test('a field the table lacks is not a parameter, whatever every object inherits', () => {
    const columns = getTableColumns(pgTable('t', { id: serial('id'), title: text('title') }))
    expect(insertParameters(columns, { title: 'T', toString: 'x' })?.params).toEqual({ title: 'T' })
  })
})

describe('memoryStore', () => {
  inheritedNameCases(
    // Unique on the key alone: memoryStore's unique sets treat NULLs as equal, so rows that all lack a name
    // would collide on that name's set.
    async (key) => memoryStore<Row>({ uniqueBy: [[key ?? 'title']], autoIncrement: 'id' }),
    async () => [],
  )
})

/** `stamp`'s `$defaultFn` returns SQL, which no prepared statement can hold: the store builds each insert. */
const BUILT = [false, true] as const
const pathOf = (built: boolean) => (built ? 'built per call' : 'prepared')

describe.each(PG_DRIVERS)('drizzleStore on Postgres via %s', (driver) => {
  let h: PgHarness
  beforeAll(async () => {
    h = await openPg(driver, 2)
  })
  afterAll(async () => {
    await h.close()
  })

  describe.each(BUILT.map(pathOf))('inserts %s', (path) => {
    let table = ''
    inheritedNameCases(
      async () => {
        table = h.table()
        const columns = NAMES.map((name) => `${COLUMN[name]} text unique`).join(', ')
        await h.exec(
          `create table ${table} (id serial primary key, ${columns}, title text unique, stamp text)`,
        )
        const stamp = text('stamp')
        return drizzleStore(
          h.db,
          pgTable(table, {
            id: serial('id').primaryKey(),
            constructor: text(COLUMN.constructor),
            toString: text(COLUMN.toString),
            valueOf: text(COLUMN.valueOf),
            hasOwnProperty: text(COLUMN.hasOwnProperty),
            title: text('title'),
            stamp: path === 'prepared' ? stamp : stamp.$defaultFn(() => sql`'now'`),
          }),
        ) as unknown as AnyStore
      },
      async () =>
        h.rows(
          `select * from ${table} where ${NAMES.map((name) => `${COLUMN[name]} like 'function%'`).join(' or ')}`,
        ),
    )
  })
})

describe('drizzleStore on MariaDB', () => {
  let h: MysqlHarness
  beforeAll(() => {
    h = openMysql(2)
  })
  afterAll(async () => {
    await h.close()
  })

  let table = ''
  inheritedNameCases(
    async () => {
      table = h.table()
      const columns = NAMES.map((name) => `${COLUMN[name]} varchar(100) unique`).join(', ')
      await h.exec(
        `create table ${table} (id int auto_increment primary key, ${columns}, title varchar(100) unique)`,
      )
      const v = (column: string) => varchar(column, { length: 100 })
      return drizzleStore(
        h.db,
        mysqlTable(table, {
          id: int('id').autoincrement().primaryKey(),
          constructor: v(COLUMN.constructor),
          toString: v(COLUMN.toString),
          valueOf: v(COLUMN.valueOf),
          hasOwnProperty: v(COLUMN.hasOwnProperty),
          title: v('title'),
        }),
      ) as unknown as AnyStore
    },
    async () =>
      h.rows(
        `select * from ${table} where ${NAMES.map((name) => `${COLUMN[name]} like 'function%'`).join(' or ')}`,
      ),
  )
})

describe('drizzleStore on SQLite', () => {
  let temp: ReturnType<typeof tempDir>
  let h: SqliteHarness
  beforeAll(() => {
    temp = tempDir()
    h = openSqlite(join(temp.dir, 'names.db'))
  })
  afterAll(() => {
    h.close()
    temp.remove()
  })

  describe.each(BUILT.map(pathOf))('inserts %s', (path) => {
    let table = ''
    inheritedNameCases(
      async () => {
        table = scratchName()
        const columns = NAMES.map((name) => `${COLUMN[name]} text unique`).join(', ')
        h.client.exec(
          `create table ${table} (id integer primary key, ${columns}, title text unique, stamp text)`,
        )
        const stamp = sqliteText('stamp')
        return drizzleStore(
          h.db,
          sqliteTable(table, {
            id: integer('id').primaryKey(),
            constructor: sqliteText(COLUMN.constructor),
            toString: sqliteText(COLUMN.toString),
            valueOf: sqliteText(COLUMN.valueOf),
            hasOwnProperty: sqliteText(COLUMN.hasOwnProperty),
            title: sqliteText('title'),
            stamp: path === 'prepared' ? stamp : stamp.$defaultFn(() => sql`'now'`),
          }),
        ) as unknown as AnyStore
      },
      async () =>
        h.other
          .prepare(
            `select * from ${table} where ${NAMES.map((name) => `${COLUMN[name]} like 'function%'`).join(' or ')}`,
          )
          .all(),
    )
  })
})
