/**
 * The stress run's tables: for each database (Postgres, MariaDB, SQLite) one with a unique index on the key
 * (the constraint strategy's) and one without, beside its fences table (the Redis-lock strategy's, on the
 * fenced store). Named after the run (`scratchName`), created and dropped by the parent, counted at the end.
 */
import { mysqlFencesSql, pgFencesSql, sqliteFencesSql } from '@getorcreate/core/drizzle'
import Database from 'better-sqlite3'
import type mysql from 'mysql2/promise'
import type postgres from 'postgres'
import { createTagsTableSql } from '../tags.js'

/** Which database a table lives on. */
export type Dialect = 'pg' | 'mysql' | 'sqlite'

/** One table of the run and how it is used. */
export interface TableSpec {
  readonly name: string
  readonly dialect: Dialect
  readonly strategy: 'constraint' | 'lock'
  /** Its fences table (the lock strategy's tables only). */
  readonly fences?: string
  /** What a fault must hit for a raw error on it to be allowed: its database, and `redis` for the lock. */
  readonly services: readonly string[]
}

/** The six tables of a run whose names start with `base`, limited to `dialects`. */
export function tableSpecs(base: string, dialects: readonly Dialect[]): TableSpec[] {
  const short: Record<Dialect, string> = { pg: 'p', mysql: 'm', sqlite: 's' }
  return dialects.flatMap((dialect): TableSpec[] => [
    { name: `${base}_${short[dialect]}c`, dialect, strategy: 'constraint', services: [dialect] },
    {
      name: `${base}_${short[dialect]}l`,
      dialect,
      strategy: 'lock',
      fences: `${base}_${short[dialect]}f`,
      services: [dialect, 'redis'],
    },
  ])
}

/** The admin connections of the parent: one per database. */
export interface Admin {
  readonly pg: postgres.Sql
  readonly mysql: mysql.Pool
  /** The SQLite file every worker opens. */
  readonly sqliteFile: string
}

function mysqlTableSql(name: string, unique: boolean): string {
  return (
    `create table ${name} (id int auto_increment primary key, slug varchar(100) not null, ` +
    `label varchar(200), ${unique ? 'unique ' : ''}key ${name}_slug (slug))`
  )
}

function sqliteTableSql(name: string, unique: boolean): string {
  return (
    `create table ${name} (id integer primary key, slug text not null, label text); ` +
    `create ${unique ? 'unique ' : ''}index ${name}_slug on ${name} (slug)`
  )
}

function withSqlite<T>(file: string, use: (db: Database.Database) => T): T {
  const db = openSqlite(file)
  try {
    return use(db)
  } finally {
    db.close()
  }
}

/** Create `specs` (and their fences tables); each name is pushed to `created` first, for {@link dropTables}. */
export async function createTables(admin: Admin, specs: readonly TableSpec[], created: TableSpec[]) {
  for (const spec of specs) {
    created.push(spec)
    const unique = spec.strategy === 'constraint'
    if (spec.dialect === 'pg') {
      await admin.pg.unsafe(createTagsTableSql(spec.name, unique ? 'unique' : 'non-unique'))
      if (spec.fences) await admin.pg.unsafe(pgFencesSql(spec.fences))
    } else if (spec.dialect === 'mysql') {
      await admin.mysql.query(mysqlTableSql(spec.name, unique))
      if (spec.fences) await admin.mysql.query(mysqlFencesSql(spec.fences))
    } else {
      withSqlite(admin.sqliteFile, (db) => {
        db.exec(sqliteTableSql(spec.name, unique))
        if (spec.fences) db.exec(sqliteFencesSql(spec.fences))
      })
    }
  }
}

/** Drop `specs` and their fences tables, each on its own, ignoring failures. */
export async function dropTables(admin: Admin, specs: readonly TableSpec[]): Promise<void> {
  for (const spec of specs) {
    for (const name of [spec.name, spec.fences].filter((n): n is string => n !== undefined)) {
      const drop = `drop table if exists ${name}`
      if (spec.dialect === 'pg') await admin.pg.unsafe(drop).catch(() => {})
      else if (spec.dialect === 'mysql') await admin.mysql.query(drop).catch(() => {})
    }
  }
}

/** Rows per key in `spec`'s table, counted by the database. */
export async function countRows(admin: Admin, spec: TableSpec): Promise<Map<string, number>> {
  const query = `select slug, count(*) as n from ${spec.name} group by slug`
  let rows: { slug: string; n: number | string }[]
  if (spec.dialect === 'pg') rows = await admin.pg.unsafe(query)
  else if (spec.dialect === 'mysql') [rows] = (await admin.mysql.query(query)) as unknown as [typeof rows]
  else rows = withSqlite(admin.sqliteFile, (db) => db.prepare(query).all() as typeof rows)
  return new Map(rows.map((row) => [row.slug, Number(row.n)]))
}

/** The deleted range's keys start with this. */
export const DELETED_PREFIX = 'd'

/** Delete every row of the deleted range in `spec`'s table (one round of the delete loop). */
export async function deleteRange(admin: Admin, spec: TableSpec, db?: Database.Database): Promise<void> {
  const query = `delete from ${spec.name} where slug like '${DELETED_PREFIX}%'`
  if (spec.dialect === 'pg') await admin.pg.unsafe(query)
  else if (spec.dialect === 'mysql') await admin.mysql.query(query)
  else if (db) db.prepare(query).run()
}

/** A SQLite connection of the parent's for set-up and counts, while no worker runs (WAL, a long busy timeout). */
function openSqlite(file: string, busyTimeoutMs = 10_000): Database.Database {
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.pragma(`busy_timeout = ${busyTimeoutMs}`)
  return db
}

/**
 * How long the delete loop's SQLite connection waits for the file's write lock, in milliseconds. better-sqlite3
 * waits synchronously, freezing the parent, which also injects the faults: with the set-up's 10 s, a worker
 * stopped (SIGSTOP) while it held the write lock froze the parent until the wait ran out, so the SIGCONT came
 * 10 s late instead of after the 3 s planned, and the other worker's writes ran out of their own 10 s busy
 * timeout (`SQLITE_BUSY` outside any fault, in a CI run at 219 calls/s). A round that cannot get the lock
 * this soon is skipped; the next comes 100 ms later.
 */
export const DELETE_LOOP_BUSY_TIMEOUT_MS = 50

/** The parent's SQLite connection for the delete loop: see {@link DELETE_LOOP_BUSY_TIMEOUT_MS}. */
export function openDeleteLoopSqlite(file: string): Database.Database {
  return openSqlite(file, DELETE_LOOP_BUSY_TIMEOUT_MS)
}
