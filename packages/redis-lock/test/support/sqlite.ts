/**
 * SQLite tables (better-sqlite3, a WAL file each) for the lock strategy's conformance run, through
 * drizzleStore: the suite's shapes and the key-equality cases (keys SQLite treats as equal though JavaScript
 * does not), each without a unique index on its key unless the shape asks for one.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { drizzleStore } from '@getorcreate/core/drizzle'
import type {
  ConformanceShape,
  ConformanceStore,
  ConformanceTable,
  EqualKeys,
} from '@getorcreate/core/testing'
import { runTag, SQLITE_DIR_PREFIX, scratchName, whereClause } from '@getorcreate/test-support'
import Database from 'better-sqlite3'
import { drizzle } from 'drizzle-orm/better-sqlite3'
import { integer, numeric, type SQLiteColumnBuilderBase, sqliteTable, text } from 'drizzle-orm/sqlite-core'

/**
 * A file in a new temporary directory, tagged with the run (the leftover check looks for it): its path,
 * `open` (a connection in WAL mode that waits `busyTimeoutMs` for the write lock), and `remove` (the
 * directory).
 */
export function sqliteRunFile(busyTimeoutMs: number) {
  const dir = mkdtempSync(join(tmpdir(), `${SQLITE_DIR_PREFIX}_run${runTag()}_`))
  const file = join(dir, 'test.db')
  return {
    file,
    open: () => {
      const client = new Database(file)
      client.pragma('journal_mode = wal')
      client.pragma(`busy_timeout = ${busyTimeoutMs}`)
      return client
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}

/**
 * A new file in a temporary directory (tagged with the run, for the leftover check), a table created by
 * `ddl(name)` and a store over `table(name)` through one connection (its statements counted); a second
 * connection counts and writes behind its back. `close` removes the directory.
 */
async function sqliteTableOf(
  ddl: (name: string) => string,
  table: (name: string) => Parameters<typeof drizzleStore>[1],
): Promise<ConformanceTable> {
  const { open, remove } = sqliteRunFile(10_000)
  const client = open()
  const raw = open()
  const name = scratchName('rl_sq')
  raw.exec(ddl(name))
  let statements = 0
  const db = drizzle({ client, logger: { logQuery: () => void statements++ } })
  return {
    store: drizzleStore(db, table(name) as never) as unknown as ConformanceStore,
    count: async (where) => {
      const { clause, params } = whereClause(where, '"')
      return (raw.prepare(`select count(*) as n from ${name} ${clause}`).get(...params) as { n: number }).n
    },
    insertBehind: async (values) => {
      const fields = Object.keys(values)
      raw
        .prepare(
          `insert into ${name} (${fields.map((field) => `"${field}"`).join(', ')}) values (${fields.map(() => '?').join(', ')})`,
        )
        .run(...Object.values(values))
    },
    statements: () => statements,
    close: async () => {
      client.close()
      raw.close()
      remove()
    },
  }
}

/**
 * A table of the suite's `shape`: no unique index on the key (only the lock keeps one row per key), except
 * `'unique'`, whose `slug` and `email` are each unique as the suite defines it.
 */
export function sqliteShapeTable(shape: ConformanceShape): Promise<ConformanceTable> {
  return sqliteTableOf(
    (name) => `create table ${name} (id integer primary key,
      prefix text ${shape === 'composite' ? 'not null' : ''}, slug text ${shape === 'nullable' ? '' : 'not null'},
      email text, title text);
      ${shape === 'unique' ? `create unique index ${name}_slug on ${name} (slug); create unique index ${name}_email on ${name} (email)` : `create index ${name}_slug on ${name} (slug)`}`,
    (name) =>
      sqliteTable(name, {
        id: integer('id').primaryKey(),
        prefix: text('prefix'),
        slug: shape === 'nullable' ? text('slug') : text('slug').notNull(),
        email: text('email'),
        title: text('title'),
      }),
  )
}

/** `(id, k, title)` with `k` declared by `ddl` and `column`, and a plain index on `k`: nothing makes it unique. */
function keyTable(ddl: string, column: () => SQLiteColumnBuilderBase): () => Promise<ConformanceTable> {
  return () =>
    sqliteTableOf(
      (name) => `create table ${name} (id integer primary key, k ${ddl}, title text);
        create index ${name}_k on ${name} (k)`,
      (name) => sqliteTable(name, { id: integer('id').primaryKey(), k: column(), title: text('title') }),
    )
}

const at = (iso: string) => new Date(iso)

/** The key-equality cases on SQLite, each on a table without a unique index (the lock strategy's case). */
export function sqliteEqualKeys(): EqualKeys[] {
  return [
    {
      name: 'COLLATE NOCASE: A–Z in either case',
      table: keyTable('text collate nocase not null', () => text('k').notNull()),
      field: 'k',
      spellings: ['Bob', 'BOB', 'bob', 'bOb'],
    },
    {
      name: 'COLLATE RTRIM: trailing spaces',
      table: keyTable('text collate rtrim not null', () => text('k').notNull()),
      field: 'k',
      spellings: ['bob', 'bob ', 'bob   '],
    },
    {
      name: 'NUMERIC affinity: number text stored as one number',
      table: keyTable('numeric not null', () => numeric('k').notNull()),
      field: 'k',
      spellings: ['7', '7.0', '07', ' 7 ', '+7', '7e0', '0.7e1'],
    },
    {
      name: 'INTEGER affinity under a text declaration: number text stored as one integer',
      table: keyTable('integer not null', () => text('k').notNull()),
      field: 'k',
      spellings: ['42', '42.0', '042', '4.2e1'],
    },
    {
      name: 'REAL affinity under a text declaration: number text stored as one real',
      table: keyTable('real not null', () => text('k').notNull()),
      field: 'k',
      spellings: ['1.5', '1.50', '15e-1', ' 1.5'],
    },
    {
      name: 'integer in timestamp mode: a Date with milliseconds, stored in whole seconds',
      table: keyTable('integer not null', () => integer('k', { mode: 'timestamp' }).notNull()),
      field: 'k',
      spellings: [
        at('2024-05-01T10:00:00.000Z'),
        at('2024-05-01T10:00:00.123Z'),
        at('2024-05-01T10:00:00.999Z'),
      ],
    },
  ]
}

/** The SQLite twin of the Postgres `itemsTable`: `slug` is the key, and nothing makes it unique. */
export function sqliteItemsTable(name: string) {
  return sqliteTable(name, {
    id: integer('id').primaryKey(),
    slug: text('slug').notNull(),
    payload: text('payload'),
    fence: integer('fence'),
  })
}
