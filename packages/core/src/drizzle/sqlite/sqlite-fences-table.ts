import { sql } from 'drizzle-orm'
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import { DEFAULT_FENCES_TABLE } from '../common/fences.js'

/**
 * SQLite's clock as integer milliseconds since the epoch (`julianday` rather than `unixepoch('subsec')`,
 * which needs SQLite 3.42): what `updated_at` holds, and what `pruneFences` compares it with.
 */
const NOW_MS = "cast((julianday('now') - 2440587.5) * 86400000 as integer)"

/** {@link NOW_MS} as drizzle SQL. */
export const SQLITE_NOW_MS = sql.raw(NOW_MS)

/** The columns of a SQLite fences table. */
function fenceColumns() {
  return {
    /** The lock key (the Redis key of the lock) whose owners' tokens the row keeps. */
    lockKey: text('lock_key').primaryKey(),
    /** The largest token a fenced write of this lock key has committed with. */
    token: integer('token', { mode: 'number' }).notNull(),
    /** The token before the last raise (NULL for a new row): which owner the last write displaced. */
    prevToken: integer('prev_token', { mode: 'number' }),
    /** When a write last raised it, in milliseconds since the epoch: what `pruneFences` goes by. */
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull().default(SQLITE_NOW_MS),
  }
}

/**
 * The drizzle definition of the fences table on SQLite, for `drizzleStore(db, table, { fences })`: put it
 * in your schema so that drizzle-kit creates it, or run {@link sqliteFencesSql}'s statement. One table serves
 * every store of the database file.
 *
 * @param name - the table's name, `getorcreate_fences` by default.
 */
export function sqliteFencesTable(name: string = DEFAULT_FENCES_TABLE) {
  return sqliteTable(name, fenceColumns())
}

/** A SQLite fences table, as {@link sqliteFencesTable} defines it. */
export type SQLiteFencesTable = ReturnType<typeof sqliteFencesTable>

/**
 * The statement that creates the fences table on SQLite, for a migration; the same table as
 * {@link sqliteFencesTable}.
 */
export function sqliteFencesSql(name: string = DEFAULT_FENCES_TABLE): string {
  return (
    `create table if not exists "${name.replaceAll('"', '""')}" (\n` +
    '  lock_key text primary key,\n' +
    '  token integer not null,\n' +
    '  prev_token integer,\n' +
    `  updated_at integer not null default (${NOW_MS})\n` +
    ')'
  )
}
