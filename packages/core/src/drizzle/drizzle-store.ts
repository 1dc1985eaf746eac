import { is, type Table } from 'drizzle-orm'
import { MySqlTable } from 'drizzle-orm/mysql-core'
import { PgTable } from 'drizzle-orm/pg-core'
import { SQLiteTable } from 'drizzle-orm/sqlite-core'
import type { Store, TableName } from '../types.js'
import type { AnyMySqlDatabase } from './mysql/mysql-database.js'
import { createMySqlStore } from './mysql/mysql-store.js'
import type { AnyPgDatabase } from './pg/pg-database.js'
import { pgStore } from './pg/pg-store.js'
import type { AnySQLiteDatabase } from './sqlite/sqlite-database.js'
import type { SQLiteFencesTable } from './sqlite/sqlite-fences-table.js'
import { sqliteStore } from './sqlite/sqlite-store.js'

/**
 * The store `drizzleStore(db, table)` returns: rows typed as the table's select model, keys as a partial row,
 * values as its insert model; the table's name known to the compiler, so that compile errors name it.
 */
export type DrizzleStore<T extends Table> = Store<
  T['$inferSelect'],
  Partial<T['$inferSelect']>,
  T['$inferInsert']
> &
  TableName<T['_']['name']>

/** Options of {@link drizzleStore}. */
export interface DrizzleStoreOptions<F extends Table> {
  /**
   * The fences table of the table's dialect (`pgFencesTable()`, `mysqlFencesTable()`, `sqliteFencesTable()`):
   * the store then checks fencing tokens (`checksFence`), so that under
   * `redisLockStrategy` a holder paused past its lock's expiry cannot write a second row (README, "Fenced
   * writes"). Off by default: a store without it writes under the lock alone.
   */
  readonly fences?: F
}

function checkedOptions<F extends Table>(options: unknown): DrizzleStoreOptions<F> {
  if (options === undefined) return {}
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('drizzleStore: options must be an object, e.g. { fences: pgFencesTable() }.')
  }
  for (const name of Object.keys(options)) {
    if (name !== 'fences') throw new TypeError(`drizzleStore: unknown option ${JSON.stringify(name)}.`)
  }
  return options as DrizzleStoreOptions<F>
}

/**
 * A {@link Store} over a drizzle table: `pg-core` tables on postgres.js, node-postgres or PGlite; `mysql-core`
 * tables on mysql2 (MySQL 8, MariaDB); `sqlite-core` tables on better-sqlite3. `db` may be
 * the database or a transaction (`db.transaction(async (tx) => drizzleStore(tx, table))`): every statement
 * then runs in it. Statements are prepared once per store, so create the store once per database or
 * transaction, not per call.
 *
 * The key's and defaults' fields are the table's property names (as in `db.select()` results); a key naming
 * another field does not compile, and is refused at run time too.
 *
 * @example
 * ```ts
 * import { getOrCreate } from '@getorcreate/core'
 * import { drizzleStore } from '@getorcreate/core/drizzle'
 *
 * const tags = drizzleStore(db, tagsTable)
 * const { row, created } = await getOrCreate(tags, { slug: 'news' }, { label: 'News' })
 * ```
 */
export function drizzleStore<T extends PgTable>(
  db: AnyPgDatabase,
  table: T,
  options?: DrizzleStoreOptions<PgTable>,
): DrizzleStore<T>
export function drizzleStore<T extends MySqlTable>(
  db: AnyMySqlDatabase,
  table: T,
  options?: DrizzleStoreOptions<MySqlTable>,
): DrizzleStore<T>
export function drizzleStore<T extends SQLiteTable>(
  db: AnySQLiteDatabase,
  table: T,
  options?: DrizzleStoreOptions<SQLiteFencesTable>,
): DrizzleStore<T>
export function drizzleStore(
  db: unknown,
  table: Table,
  options?: DrizzleStoreOptions<Table>,
): DrizzleStore<Table> {
  if (is(table, PgTable)) return pgStore(db as AnyPgDatabase, table, checkedOptions(options))
  if (is(table, SQLiteTable)) return sqliteStore(db as AnySQLiteDatabase, table, checkedOptions(options))
  if (is(table, MySqlTable)) {
    return createMySqlStore(db as AnyMySqlDatabase, table, { fences: checkedOptions(options).fences })
  }
  throw new TypeError(
    'drizzleStore: table must be a drizzle table: pgTable() (drizzle-orm/pg-core), mysqlTable() (drizzle-orm/mysql-core) or sqliteTable() (drizzle-orm/sqlite-core).',
  )
}
