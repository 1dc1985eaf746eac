import type { AnyMySqlDatabase } from '@getorcreate/core/drizzle'
import { drizzleStore, mysqlFencesSql, mysqlFencesTable } from '@getorcreate/core/drizzle'
import type {
  ConformanceShape,
  ConformanceStore,
  ConformanceTable,
  ConformanceTableOptions,
} from '@getorcreate/core/testing'
import { mysqlUrl, scratchName, whereClause } from '@getorcreate/test-support'
import type { Logger } from 'drizzle-orm'
import { int, mysqlTable, varchar } from 'drizzle-orm/mysql-core'
import { drizzle } from 'drizzle-orm/mysql2'
import mysql from 'mysql2/promise'
import { createMySqlStore } from '../../src/drizzle/mysql/mysql-store.js'

/** A drizzle MySQL / MariaDB database over a mysql2 pool, with the statements it ran, for tests. */
export interface MysqlHarness {
  readonly db: AnyMySqlDatabase
  /** The pool drizzle uses (for transactions on chosen connections). */
  readonly pool: mysql.Pool
  /** Every statement drizzle sent, in order. */
  readonly queries: string[]
  /** Run raw SQL on a separate pool, outside drizzle's logger. */
  exec(text: string, params?: unknown[]): Promise<void>
  /** Rows of a raw query on the separate pool. */
  rows(text: string, params?: unknown[]): Promise<Record<string, unknown>[]>
  /** A new table name (`scratchName`, tagged with the run); {@link close} drops the table, whatever the test did. */
  table(prefix?: string): string
  /** Drop the tables named by {@link table}, then close both pools. */
  close(): Promise<void>
}

/** Open a drizzle database on a mysql2 pool of `pool` connections. */
export function openMysql(pool = 16): MysqlHarness {
  const queries: string[] = []
  const logger: Logger = { logQuery: (query) => void queries.push(query) }
  const client = mysql.createPool({ uri: mysqlUrl(), connectionLimit: pool, maxIdle: pool })
  const raw = mysql.createPool({ uri: mysqlUrl(), connectionLimit: 2 })
  const tables: string[] = []
  return {
    db: drizzle(client, { logger, mode: 'default' }),
    pool: client,
    queries,
    exec: async (text, params) => void (await raw.query(text, params)),
    rows: async (text, params) => (await raw.query(text, params))[0] as Record<string, unknown>[],
    table: (prefix) => {
      const name = scratchName(prefix)
      tables.push(name)
      return name
    },
    close: async () => {
      try {
        if (tables.length > 0) await raw.query(`drop table if exists ${tables.splice(0).join(', ')}`)
      } finally {
        await client.end()
        await raw.end()
      }
    },
  }
}

/** The drizzle table of a conformance shape (see ConformanceShape). */
export function mysqlShapeTable(name: string, shape: ConformanceShape) {
  const text = (column: string) => varchar(column, { length: 100 })
  return mysqlTable(name, {
    id: int('id').autoincrement().primaryKey(),
    prefix: text('prefix'),
    slug: shape === 'nullable' ? text('slug') : text('slug').notNull(),
    email: text('email'),
    title: text('title'),
  })
}

const SHAPE_DDL: Record<ConformanceShape, string> = {
  unique: 'unique key slug_unique (slug), unique key email_unique (email)',
  composite: 'unique key prefix_slug_unique (prefix, slug)',
  'no-unique': 'key slug_index (slug)',
  nullable: 'unique key slug_unique (slug)',
}

/**
 * Create a table of `shape` (dropped by `h.close()`); `slug` and `prefix` are NOT NULL except where the shape
 * says otherwise.
 */
export async function createMysqlShape(h: MysqlHarness, shape: ConformanceShape): Promise<string> {
  const name = h.table()
  await h.exec(`create table ${name} (
    id int auto_increment primary key,
    prefix varchar(100) ${shape === 'composite' ? 'not null' : 'null'},
    slug varchar(100) ${shape === 'nullable' ? 'null' : 'not null'},
    email varchar(100) null,
    title varchar(100) null,
    ${SHAPE_DDL[shape]}
  ) engine = InnoDB`)
  return name
}

/**
 * A conformance table on MariaDB / MySQL: a new table and pool per call. `version` makes the store speak to
 * the server as to that version (e.g. without RETURNING); `fenced`, with a fences table of its own
 * (`mysqlFencesSql`).
 */
export async function mysqlConformanceTable(
  shape: ConformanceShape,
  pool = 16,
  version?: string,
  options: ConformanceTableOptions = {},
): Promise<ConformanceTable> {
  const h = openMysql(pool)
  const name = await createMysqlShape(h, shape)
  const table = mysqlShapeTable(name, shape)
  const fencesName = options.fenced ? h.table('fences') : undefined
  if (fencesName) await h.exec(mysqlFencesSql(fencesName))
  const fenced = fencesName ? { fences: mysqlFencesTable(fencesName) } : {}
  const store = (version === undefined
    ? drizzleStore(h.db, table, fenced)
    : createMySqlStore(h.db, table, { version, ...fenced })) as unknown as ConformanceStore
  return {
    store,
    ...(fencesName && {
      fence: async (lockKey: string) => {
        const [row] = await h.rows(`select token from ${fencesName} where lock_key = ?`, [lockKey])
        return row === undefined ? undefined : Number(row.token)
      },
    }),
    count: async (where) => {
      const { clause, params } = whereClause(where, '`')
      const [row] = await h.rows(`select count(*) as n from ${name} ${clause}`, params)
      return Number(row?.n)
    },
    insertBehind: async (values) => {
      const names = Object.keys(values)
      await h.exec(
        `insert into ${name} (${names.map((field) => `\`${field}\``).join(', ')}) values (${names.map(() => '?').join(', ')})`,
        Object.values(values),
      )
    },
    statements: () => h.queries.length,
    close: () => h.close(), // drops the table
  }
}
