import { is, lt, sql, type Table } from 'drizzle-orm'
import { MySqlTable } from 'drizzle-orm/mysql-core'
import { PgTable } from 'drizzle-orm/pg-core'
import { SQLiteTable } from 'drizzle-orm/sqlite-core'
import { checkFencesTable } from './common/fences.js'
import type { AnyMySqlDatabase } from './mysql/mysql-database.js'
import type { MySqlFencesTable } from './mysql/mysql-fences-table.js'
import type { AnyPgDatabase } from './pg/pg-database.js'
import type { PgFencesTable } from './pg/pg-fences-table.js'
import type { AnySQLiteDatabase } from './sqlite/sqlite-database.js'
import { pruneSqliteFences } from './sqlite/sqlite-fences.js'
import type { SQLiteFencesTable } from './sqlite/sqlite-fences-table.js'

/** Options of {@link pruneFences}. */
export interface PruneFencesOptions {
  /**
   * Delete the fence rows no write has raised for this long, in milliseconds, by the database's clock: at
   * least 10 × the lock's `ttlMs` is a safe choice (README, "Fenced writes").
   */
  readonly olderThanMs: number
}

/** Rows a mysql2 DELETE affected (`[ResultSetHeader, …]`). */
function affectedRows(result: unknown): number {
  const header = Array.isArray(result) ? result[0] : result
  return Number((header as { affectedRows?: unknown } | undefined)?.affectedRows ?? 0)
}

/**
 * Delete old rows of a fences table, so that it does not grow with every lock key ever written; run it now
 * and then (a cron job, a timer). Returns how many rows went. Safe at any time: a writer whose fence row was
 * deleted raises a new one, and its create still reads the key under that row's lock before inserting, so
 * it finds the row a newer owner created.
 *
 * @param db - the database the stores write to.
 * @param fences - the fences table given to `drizzleStore(db, table, { fences })`: a `pgFencesTable()` on
 *   Postgres, a `mysqlFencesTable()` on MySQL / MariaDB, a `sqliteFencesTable()` on SQLite (whose clock is the
 *   process's: SQLite's `julianday('now')`).
 */
export function pruneFences(db: AnyPgDatabase, fences: PgTable, options: PruneFencesOptions): Promise<number>
export function pruneFences(
  db: AnyMySqlDatabase,
  fences: MySqlTable,
  options: PruneFencesOptions,
): Promise<number>
export function pruneFences(
  db: AnySQLiteDatabase,
  fences: SQLiteFencesTable,
  options: PruneFencesOptions,
): Promise<number>
export async function pruneFences(
  db: AnyPgDatabase | AnyMySqlDatabase | AnySQLiteDatabase,
  fences: Table,
  options: PruneFencesOptions,
): Promise<number> {
  const olderThanMs = options?.olderThanMs
  if (typeof olderThanMs !== 'number' || !Number.isFinite(olderThanMs) || olderThanMs < 0) {
    throw new RangeError(
      `pruneFences: olderThanMs must be a non-negative number; got ${String(olderThanMs)}.`,
    )
  }
  if (is(fences, SQLiteTable)) return pruneSqliteFences(db as AnySQLiteDatabase, fences, olderThanMs)
  if (is(fences, MySqlTable)) {
    checkFencesTable(fences, 'mysql')
    const table = fences as MySqlFencesTable
    // updated_at is written as utc_timestamp(6): compared with it, whatever the session's time zone.
    const cutoff = sql`utc_timestamp(6) - interval ${Math.round(olderThanMs * 1000)} microsecond`
    return affectedRows(await (db as AnyMySqlDatabase).delete(table).where(lt(table.updatedAt, cutoff)))
  }
  if (!is(fences, PgTable)) {
    throw new TypeError(
      'pruneFences: fences must be a fences table, as pgFencesTable(), mysqlFencesTable() or sqliteFencesTable() defines it.',
    )
  }
  checkFencesTable(fences, 'pg')
  const table = fences as PgFencesTable
  const cutoff = sql`now() - make_interval(secs => ${olderThanMs / 1000})`
  const deleted = await (db as AnyPgDatabase)
    .delete(table)
    .where(lt(table.updatedAt, cutoff))
    .returning({ lockKey: table.lockKey })
  return deleted.length
}
