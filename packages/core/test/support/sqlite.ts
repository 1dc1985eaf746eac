import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AnySQLiteDatabase } from '@getorcreate/core/drizzle'
import { drizzleStore, sqliteFencesSql, sqliteFencesTable } from '@getorcreate/core/drizzle'
import type {
  ConformanceShape,
  ConformanceStore,
  ConformanceTable,
  ConformanceTableOptions,
} from '@getorcreate/core/testing'
import { runTag, SQLITE_DIR_PREFIX, scratchName, whereClause } from '@getorcreate/test-support'
import Database from 'better-sqlite3'
import type { Logger } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/better-sqlite3'
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'

/** Open a better-sqlite3 connection to `file` as several processes would: WAL and a busy timeout. */
export function openSqliteFile(file: string): Database.Database {
  const client = new Database(file)
  client.pragma('journal_mode = wal')
  client.pragma('busy_timeout = 10000')
  client.pragma('synchronous = normal')
  return client
}

/**
 * A temporary directory for database files, tagged with this run (the leftover check finds it by its prefix
 * and tag: @getorcreate/test-support); `remove()` deletes it.
 */
export function tempDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `${SQLITE_DIR_PREFIX}_run${runTag()}_`))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** A drizzle SQLite database over one file, a second raw connection to it, and the statements drizzle ran. */
export interface SqliteHarness {
  readonly file: string
  readonly db: AnySQLiteDatabase
  /** The connection drizzle uses. */
  readonly client: Database.Database
  /** Another connection to the same file (another process's view). */
  readonly other: Database.Database
  readonly queries: string[]
  close(): void
}

/** Open `file` (created if missing) twice: once under drizzle, once raw. */
export function openSqlite(file: string): SqliteHarness {
  const queries: string[] = []
  const logger: Logger = { logQuery: (query) => void queries.push(query) }
  const client = openSqliteFile(file)
  const other = openSqliteFile(file)
  return {
    file,
    db: drizzle({ client, logger }),
    client,
    other,
    queries,
    close: () => {
      client.close()
      other.close()
    },
  }
}

/** The drizzle table of a conformance shape (see ConformanceShape). */
function sqliteShapeTable(name: string, shape: ConformanceShape) {
  return sqliteTable(name, {
    id: integer('id').primaryKey(),
    prefix: text('prefix'),
    slug: shape === 'nullable' ? text('slug') : text('slug').notNull(),
    email: text('email'),
    title: text('title'),
  })
}

const SHAPE_DDL: Record<ConformanceShape, (name: string) => string[]> = {
  unique: (name) => [
    `create unique index ${name}_slug on ${name} (slug)`,
    `create unique index ${name}_email on ${name} (email)`,
  ],
  composite: (name) => [`create unique index ${name}_prefix_slug on ${name} (prefix, slug)`],
  // A partial unique index does not count: it leaves rows outside its predicate unconstrained.
  'no-unique': (name) => [
    `create index ${name}_slug on ${name} (slug)`,
    `create unique index ${name}_slug_partial on ${name} (slug) where email is not null`,
  ],
  nullable: (name) => [`create unique index ${name}_slug on ${name} (slug)`],
}

/** Create a table of `shape` through `client`; returns its name. */
export function createSqliteShape(client: Database.Database, shape: ConformanceShape): string {
  const name = scratchName()
  client.exec(`create table ${name} (
    id integer primary key,
    prefix text ${shape === 'composite' ? 'not null' : ''},
    slug text ${shape === 'nullable' ? '' : 'not null'},
    email text,
    title text
  )`)
  for (const statement of SHAPE_DDL[shape](name)) client.exec(statement)
  return name
}

/**
 * A conformance table in a fresh SQLite file (WAL), counted and written behind through a second connection;
 * `fenced`, with a fences table (`sqliteFencesSql`) in the same file.
 */
export async function sqliteConformanceTable(
  shape: ConformanceShape,
  options: ConformanceTableOptions = {},
): Promise<ConformanceTable> {
  const temp = tempDir()
  const h = openSqlite(join(temp.dir, 'test.db'))
  const name = createSqliteShape(h.client, shape)
  const fencesName = options.fenced ? scratchName('fences') : undefined
  if (fencesName) h.client.exec(sqliteFencesSql(fencesName))
  const store = drizzleStore(
    h.db,
    sqliteShapeTable(name, shape),
    fencesName ? { fences: sqliteFencesTable(fencesName) } : {},
  ) as unknown as ConformanceStore
  return {
    store,
    ...(fencesName && {
      fence: async (lockKey: string) => {
        const row = h.other.prepare(`select token from ${fencesName} where lock_key = ?`).get(lockKey) as
          | { token: number }
          | undefined
        return row?.token
      },
    }),
    count: async (where) => {
      const { clause, params } = whereClause(where, '"')
      const row = h.other.prepare(`select count(*) as n from ${name} ${clause}`).get(...params) as {
        n: number
      }
      return row.n
    },
    insertBehind: async (values) => {
      const names = Object.keys(values)
      h.other
        .prepare(
          `insert into ${name} (${names.map((field) => `"${field}"`).join(', ')}) values (${names.map(() => '?').join(', ')})`,
        )
        .run(...Object.values(values))
    },
    statements: () => h.queries.length,
    close: async () => {
      h.close()
      temp.remove()
    },
  }
}
