/**
 * Key equality on SQLite (better-sqlite3): column collations read from the CREATE TABLE text, lock identities
 * checked against SQLite's own comparisons, the table's identity, and unique indexes whose collation is not
 * their column's.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, symlinkSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import {
  constraintStrategy,
  getOrCreate,
  InvalidKeyError,
  MissingUniqueConstraintError,
  RowVanishedError,
  type Store,
} from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { scratchName } from '@getorcreate/test-support'
import { drizzle } from 'drizzle-orm/better-sqlite3'
import { blob, integer, real, type SQLiteColumnBuilderBase, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { readSqliteTableFacts } from '../src/drizzle/sqlite/sqlite-table-facts.js'
import { openSqlite, openSqliteFile, type SqliteHarness, tempDir } from './support/sqlite.js'

const require = createRequire(import.meta.url)

let temp: ReturnType<typeof tempDir>
let h: SqliteHarness
beforeAll(() => {
  temp = tempDir()
  h = openSqlite(join(temp.dir, 'keys.db'))
})
afterAll(() => {
  h.close()
  temp.remove()
})

/** A store over `(id, k)`, `k` declared in drizzle by `column`. */
function keyStore(name: string, column: SQLiteColumnBuilderBase = text('k')) {
  return drizzleStore(h.db, sqliteTable(name, { id: integer('id').primaryKey(), k: column }))
}

describe('column collations, read from the CREATE TABLE text', () => {
  test('agree with the collation SQLite gives an index on each column, however the table is written', async () => {
    const name = scratchName('coll')
    h.client.exec(`create table ${name} (
      "a, b" text collate nocase -- a comment: COLLATE rtrim
      , [c d] text check ("c d" = 'x' collate rtrim) default 'y',
      \`e\` text not null default 'z' collate rtrim /* collate nocase */,
      "F(" varchar(10, 2) collate "NOCASE",
      g text collate nocase collate rtrim,
      "we""ird" text collate nocase generated always as (upper(g) collate rtrim) virtual,
      i default ('q' collate rtrim),
      ü text COLLATE NoCase,
      'j' text collate binary,
      constraint ${name}_pk primary key ("a, b"),
      check (i collate nocase = 'q')
    )`)
    h.client.exec(`alter table ${name} add column "k," text collate rtrim`)
    const facts = await readSqliteTableFacts(h.db, name)
    const found = new Map(
      [...(facts?.columns.values() ?? [])].map((column) => [column.name, column.collation]),
    )
    const columns = h.client.prepare(`select name from pragma_table_xinfo(?)`).all(name) as { name: string }[]
    expect(columns.length).toBe(10)
    const expected = new Map<string, string>()
    columns.forEach(({ name: column }, i) => {
      const index = `${name}_probe${i}`
      h.client.exec(`create index ${index} on ${name} ("${column.replaceAll('"', '""')}")`)
      const [probe] = h.client.prepare(`select coll from pragma_index_xinfo(?) where key = 1`).all(index) as {
        coll: string
      }[]
      expected.set(column, String(probe?.coll).toUpperCase())
    })
    expect(found).toEqual(expected)
    expect(expected.get('e')).toBe('RTRIM')
    expect(expected.get('we"ird')).toBe('NOCASE')
  })
})

/** Spellings of strings, numbers and text that SQLite may or may not treat as equal. */
const TEXT_SPELLINGS = [
  'Bob',
  'BOB',
  'bob',
  'bob ',
  'bob  ',
  'bob\t',
  'bob\u00a0',
  'É',
  'é',
  'e',
  '',
  ' ',
  '7',
  '7.0',
  '07',
  ' 7 ',
  '+7',
  '7e0',
  '0.7e1',
  '\t7\n',
  '7\u00a0',
  '0x7',
  '7abc',
  '7.',
  '.7',
  '-0',
  '0',
  '0.0',
  '1.5',
  '1.50',
  '15e-1',
  '9223372036854775807',
  '9223372036854775808',
  '9223372036854775807.0',
  '1e19',
  '9007199254740992',
  '9007199254740993.5',
  '1_000',
  'inf',
  '1e400',
]
const NUMBER_SPELLINGS = [
  7,
  7.5,
  -0,
  0,
  2 ** 53,
  2 ** 53 + 2,
  2 ** 63,
  -(2 ** 63),
  0.1 + 0.2,
  0.3,
  1e21,
  5e-324,
]

/** Live column types, one per affinity and collation, and a STRICT table's (where `any` has no affinity). */
const LIVE_TYPES = [
  'text',
  'text collate nocase',
  'text collate rtrim',
  'varchar(5) collate nocase',
  'numeric',
  'integer',
  'real',
  'blob',
  '',
  'numeric collate nocase',
  'any',
  'any) strict',
  'integer) strict',
  'real) strict',
  'text) strict',
]

describe('lockIdentity: equal exactly where SQLite finds the row', () => {
  for (const [kind, spellings, column] of [
    ['text keys', TEXT_SPELLINGS, () => text('k')],
    ['number keys', NUMBER_SPELLINGS, () => real('k')],
  ] as const) {
    test(`${kind}, in a column of each affinity and collation`, async () => {
      let compared = 0
      for (const type of LIVE_TYPES) {
        const name = scratchName('aff')
        h.client.exec(
          `create table ${name} (id integer primary key, k ${type.endsWith('strict') ? type : `${type})`}`,
        )
        const store = keyStore(name, column())
        const identities = new Map<unknown, string | undefined>()
        for (const value of spellings) {
          const identity = await Promise.resolve(store.lockIdentity?.({ k: value } as never)).catch(
            (error: unknown) => (error instanceof InvalidKeyError ? undefined : Promise.reject(error)),
          )
          identities.set(value, identity === undefined ? undefined : JSON.stringify(identity.key))
        }
        for (const stored of spellings) {
          if (identities.get(stored) === undefined) continue // refused: never written
          h.client.prepare(`delete from ${name}`).run()
          try {
            h.client.prepare(`insert into ${name} (k) values (?)`).run(stored)
          } catch {
            continue // a STRICT column refuses it: no row to find
          }
          for (const other of spellings) {
            if (identities.get(other) === undefined) continue
            const row = await store.find({ k: other } as never)
            const same = identities.get(stored) === identities.get(other)
            expect(row !== undefined, `${type}: ${JSON.stringify(stored)} vs ${JSON.stringify(other)}`).toBe(
              same,
            )
            compared++
          }
        }
      }
      expect(compared).toBeGreaterThan(spellings.length * LIVE_TYPES.length)
    })
  }

  test("NOCASE folds A–Z only, RTRIM trailing U+0020 only: 'É' is not 'é', a tab is not a space", async () => {
    const name = scratchName('fold')
    h.client.exec(
      `create table ${name} (id integer primary key, k text collate nocase, r text collate rtrim)`,
    )
    const store = drizzleStore(
      h.db,
      sqliteTable(name, { id: integer('id').primaryKey(), k: text('k'), r: text('r') }),
    )
    const key = async (value: Record<string, string>) => (await store.lockIdentity?.(value))?.key
    expect(await key({ k: 'BoB' })).toEqual({ k: 'bob' })
    expect(await key({ k: 'É' })).toEqual({ k: 'É' })
    expect(await key({ r: 'bob  ' })).toEqual({ r: 'bob' })
    expect(await key({ r: 'bob\t ' })).toEqual({ r: 'bob\t' })
  })

  test('bytes are locked by their hex', async () => {
    const name = scratchName('bytes')
    h.client.exec(`create table ${name} (id integer primary key, k blob)`)
    const store = keyStore(name, blob('k', { mode: 'buffer' }))
    expect((await store.lockIdentity?.({ k: Buffer.from([0, 171, 255]) } as never))?.key).toEqual({
      k: '00abff',
    })
  })

  test('a Date in a timestamp column is locked by the whole second the column stores', async () => {
    const name = scratchName('ts')
    h.client.exec(`create table ${name} (id integer primary key, k integer)`)
    const store = keyStore(name, integer('k', { mode: 'timestamp' }))
    const at = async (iso: string) => (await store.lockIdentity?.({ k: new Date(iso) } as never))?.key
    expect(await at('2024-05-01T10:00:00.999Z')).toEqual(await at('2024-05-01T10:00:00.000Z'))
    expect(await at('2024-05-01T10:00:01.000Z')).not.toEqual(await at('2024-05-01T10:00:00.000Z'))
  })

  test('a collation the application defines is refused, naming the column, the collation and the fix', async () => {
    const name = scratchName('udc')
    h.client.exec(`create table ${name} (id integer primary key, k text collate nocase)`)
    // better-sqlite3 cannot define collations: write the schema as a driver that can would have.
    h.client.unsafeMode(true)
    h.client.pragma('writable_schema = on')
    h.client
      .prepare(
        `update sqlite_master set sql = replace(sql, 'collate nocase', 'collate app_ci') where name = ?`,
      )
      .run(name)
    h.client.pragma('writable_schema = off')
    h.client.unsafeMode(false)
    const other = openSqliteFile(h.file)
    try {
      const store = drizzleStore(
        drizzle({ client: other }),
        sqliteTable(name, { id: integer('id'), k: text('k') }),
      )
      const error = await Promise.resolve(store.lockIdentity?.({ k: 'bob' })).catch(
        (caught: unknown) => caught,
      )
      expect(error).toBeInstanceOf(InvalidKeyError)
      expect(String(error)).toMatch(
        /"k".*collation APP_CI.*BINARY, NOCASE or RTRIM.*unique index.*constraint strategy/s,
      )
    } finally {
      other.close()
    }
  })
})

describe('lockIdentity: the table itself', () => {
  test('one name for the file however it is reached (a symbolic link, an attached alias) and declared', async () => {
    const name = scratchName('Items')
    h.client.exec(`create table ${name} (id integer primary key, k text)`)
    mkdirSync(join(temp.dir, 'via'))
    symlinkSync(temp.dir, join(temp.dir, 'via', 'link'))
    const linked = openSqliteFile(join(temp.dir, 'via', 'link', 'keys.db'))
    const attaching = openSqliteFile(':memory:')
    attaching.prepare('attach database ? as aux').run(h.file)
    try {
      const tables = await Promise.all(
        [
          keyStore(name),
          keyStore(name.toLowerCase()),
          drizzleStore(
            drizzle({ client: linked }),
            sqliteTable(name.toUpperCase(), { id: integer('id'), k: text('k') }),
          ),
          drizzleStore(
            drizzle({ client: attaching }),
            sqliteTable(name, { id: integer('id'), k: text('k') }),
          ),
        ].map(async (store) => (await store.lockIdentity?.({ k: 'a' }))?.table),
      )
      const [main] = h.client.pragma('database_list') as { file: string }[]
      expect(new Set(tables)).toEqual(new Set([`sqlite:${main?.file}:${name}`]))
    } finally {
      linked.close()
      attaching.close()
    }
  })

  test('another process opening the file by a relative path from elsewhere sees the same file name', async () => {
    const name = scratchName('proc')
    h.client.exec(`create table ${name} (id integer primary key, k text)`)
    const identity = await keyStore(name).lockIdentity?.({ k: 'a' })
    mkdirSync(join(temp.dir, 'elsewhere'))
    const script = `const Database = require(${JSON.stringify(require.resolve('better-sqlite3'))});
      const db = new Database('../keys.db', { fileMustExist: true });
      process.stdout.write(db.pragma('database_list')[0].file)`
    const file = execFileSync(process.execPath, ['-e', script], {
      cwd: join(temp.dir, 'elsewhere'),
    }).toString()
    expect(identity?.table).toBe(`sqlite:${file}:${name}`)
  })

  test('a temporary table shadows the file’s and is named as a database without a file', async () => {
    const name = scratchName('shadow')
    h.client.exec(`create table ${name} (id integer primary key, k text);
      create temp table ${name} (id integer primary key, k text collate nocase)`)
    try {
      const identity = await keyStore(name).lockIdentity?.({ k: 'BOB' })
      expect(identity).toEqual({ table: `sqlite::memory::${name}`, key: { k: 'bob' } })
    } finally {
      h.client.exec(`drop table temp.${name}`)
    }
  })
})

describe('an integer a REAL column would store as another number', () => {
  test('is refused with INVALID_KEY before any write, under both strategies', async () => {
    const name = scratchName('real')
    h.client.exec(`create table ${name} (id integer primary key, k real unique)`)
    const store = keyStore(name)
    for (const k of ['9007199254740993', ' 9007199254740993 ']) {
      await expect(getOrCreate(store, { k })).rejects.toThrow(
        /REAL affinity.*9007199254740993.*9007199254740992/s,
      )
      await expect(Promise.resolve(store.lockIdentity?.({ k }))).rejects.toBeInstanceOf(InvalidKeyError)
    }
    expect((await getOrCreate(store, { k: '9007199254740992' })).created).toBe(true)
    expect(h.other.prepare(`select count(*) as n from ${name}`).get()).toEqual({ n: 1 })
  })
})

describe("a unique index whose collation is not its column's", () => {
  for (const [what, column, index, compared, own] of [
    ['a NOCASE index on a BINARY column', 'text', 'collate nocase', 'NOCASE', 'BINARY'],
    ['a BINARY index on a NOCASE column', 'text collate nocase', 'collate binary', 'BINARY', 'NOCASE'],
    ['an RTRIM index on a NOCASE column', 'text collate nocase', 'collate rtrim', 'RTRIM', 'NOCASE'],
  ] as const) {
    test(`${what}: refused as MISSING_UNIQUE_CONSTRAINT, naming the index and both collations`, async () => {
      const name = scratchName('mis')
      h.client.exec(`create table ${name} (id integer primary key, k ${column});
        create unique index ${name}_k on ${name} (k ${index})`)
      const store = keyStore(name)
      expect(await store.uniqueness?.(['k'])).toBe('not-enforced')
      const error = await getOrCreate(store, { k: 'bob' }).catch((caught: unknown) => caught)
      expect(error).toBeInstanceOf(MissingUniqueConstraintError)
      const missing = error as MissingUniqueConstraintError
      expect(missing.sql).toBe(undefined) // another index would not help while this one arbitrates
      expect(missing.hint).toContain(
        `unique index ${name}_k: column "k": the index compares under ${compared}, the column under ${own}`,
      )
      expect(h.other.prepare(`select count(*) as n from ${name}`).get()).toEqual({ n: 0 })
    })
  }

  test('without the check, a NOCASE index on a BINARY column fails forever with ROW_VANISHED', async () => {
    const name = scratchName('vanish')
    h.client.exec(`create table ${name} (id integer primary key, k text);
      create unique index ${name}_k on ${name} (k collate nocase)`)
    const { uniqueness: _, ...unchecked } = keyStore(name)
    const store: Store<unknown, { k: string }, { k: string }> = unchecked as never
    const strategy = constraintStrategy({ maxAttempts: 2 })
    expect((await getOrCreate(store, { k: 'bob' }, {}, strategy)).created).toBe(true)
    await expect(getOrCreate(store, { k: 'Bob' }, {}, strategy)).rejects.toBeInstanceOf(RowVanishedError)
  })

  test('the same collation on index and column: enforced, one row for every spelling', async () => {
    const name = scratchName('same')
    h.client.exec(`create table ${name} (id integer primary key, k text collate nocase unique)`)
    const store = keyStore(name)
    expect(await store.uniqueness?.(['k'])).toBe('nulls-distinct')
    const first = await getOrCreate(store, { k: 'Bob' })
    for (const k of ['bob', 'BOB', 'Bob'])
      expect(await getOrCreate(store, { k })).toEqual({ row: first.row, created: false })
  })
})
