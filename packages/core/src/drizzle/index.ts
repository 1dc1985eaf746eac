/**
 * `@getorcreate/core/drizzle`: {@link drizzleStore}, a store over a drizzle table on Postgres (postgres.js,
 * node-postgres, PGlite), MySQL / MariaDB (mysql2) or SQLite (better-sqlite3). `drizzle-orm` is a peer
 * dependency: install it, and the driver, yourself.
 *
 * @module @getorcreate/core/drizzle
 */
export { type DrizzleStore, type DrizzleStoreOptions, drizzleStore } from './drizzle-store.js'
export type { AnyMySqlDatabase } from './mysql/mysql-database.js'
export { type MySqlFencesTable, mysqlFencesSql, mysqlFencesTable } from './mysql/mysql-fences-table.js'
export type { AnyPgDatabase } from './pg/pg-database.js'
export { type PgFencesTable, pgFencesSql, pgFencesTable } from './pg/pg-fences-table.js'
export { type PruneFencesOptions, pruneFences } from './prune-fences.js'
export type { AnySQLiteDatabase } from './sqlite/sqlite-database.js'
export {
  type SQLiteFencesTable,
  sqliteFencesSql,
  sqliteFencesTable,
} from './sqlite/sqlite-fences-table.js'
