import { createHash } from 'node:crypto'
import { type Column, getTableColumns, is, type Placeholder, SQL, sql, type Table } from 'drizzle-orm'
import { MySqlTable } from 'drizzle-orm/mysql-core'
import { PgTable } from 'drizzle-orm/pg-core'
import { SQLiteTable } from 'drizzle-orm/sqlite-core'
import { InvalidKeyError } from '../errors.js'
import type { Store, TableName } from '../types.js'
import { type AnyMySqlDatabase, mysqlStore } from './mysql-store.js'
import { type AnyPgDatabase, pgStore } from './pg-store.js'
import { type AnySQLiteDatabase, sqliteStore } from './sqlite-store.js'

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
export function drizzleStore<T extends PgTable>(db: AnyPgDatabase, table: T): DrizzleStore<T>
export function drizzleStore<T extends MySqlTable>(db: AnyMySqlDatabase, table: T): DrizzleStore<T>
export function drizzleStore<T extends SQLiteTable>(db: AnySQLiteDatabase, table: T): DrizzleStore<T>
export function drizzleStore(db: unknown, table: Table): DrizzleStore<Table> {
  if (is(table, PgTable)) return pgStore(db as AnyPgDatabase, table)
  if (is(table, MySqlTable)) return mysqlStore(db as AnyMySqlDatabase, table)
  if (is(table, SQLiteTable)) return sqliteStore(db as AnySQLiteDatabase, table)
  throw new TypeError(
    'drizzleStore: table must be a drizzle table: pgTable() (drizzle-orm/pg-core), mysqlTable() (drizzle-orm/mysql-core) or sqliteTable() (drizzle-orm/sqlite-core).',
  )
}

/** The table's columns by property name. */
export function columnsOf(table: Table): Record<string, Column> {
  return getTableColumns(table) as Record<string, Column>
}

/**
 * The column's name in the database. Columns declared without a name take their property name, converted by
 * the database's `casing` option (`drizzle(client, { casing: 'snake_case' })`): ask drizzle's dialect, as its
 * own query builder does, so catalog look-ups compare real names.
 */
export function databaseColumnName(db: unknown, column: Column): string {
  const casing = (db as { dialect?: { casing?: { getColumnCasing?: (column: Column) => string } } }).dialect
    ?.casing
  return typeof casing?.getColumnCasing === 'function' ? casing.getColumnCasing(column) : column.name
}

/** Which JavaScript type each drizzle `dataType` takes in a key. Types not listed are not checked. */
const KEY_TYPES: Partial<Record<Column['dataType'], (value: unknown) => boolean>> = {
  string: (value) => typeof value === 'string',
  number: (value) => typeof value === 'number',
  bigint: (value) => typeof value === 'bigint',
  boolean: (value) => typeof value === 'boolean',
  date: (value) => value instanceof Date,
}

/**
 * Refuse key values of the wrong type for their column (a number for a text column, a number for a `bigint`
 * column in `bigint` mode): they would match nothing, or match after a cast but lock under another name.
 */
export function checkKeyTypes(
  table: string,
  columns: Record<string, Column>,
  key: Record<string, unknown>,
): void {
  for (const [field, value] of Object.entries(key)) {
    const column = columns[field]
    if (!column || value === null) continue
    const accepts = KEY_TYPES[column.dataType]
    if (accepts && !accepts(value)) {
      throw new InvalidKeyError(
        `Key field "${field}" of ${table} is ${typeof value === 'object' ? 'an object' : `a ${typeof value}`}, but its column takes ${column.dataType === 'date' ? 'a Date' : `a ${column.dataType}`}.`,
      )
    }
  }
}

/**
 * A name for a prepared statement derived from its text: the same text gets the same name in every store and
 * process (node-postgres caches named statements per connection and refuses one name for two texts).
 */
export function statementName(text: string): string {
  return `goc_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`
}

/** Rows of a raw `db.execute()` result, whatever the driver's result shape. */
export function rowsOf(result: unknown): Record<string, unknown>[] {
  if (Array.isArray(result)) return result as Record<string, unknown>[]
  const rows = (result as { rows?: unknown } | undefined)?.rows
  return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : []
}

/**
 * Values for a prepared INSERT: one placeholder per given field, plus the columns whose `$defaultFn` /
 * `$onUpdateFn` must run on every insert (a prepared statement would otherwise freeze their first value). A
 * `null` is written as the literal `NULL`, not a placeholder: drizzle encodes a placeholder's value with its
 * column even when it is null (a jsonb column would store JSON `null`, a custom type would see `null`), where a
 * plain `values()` call writes SQL NULL. `names` are the fields given, sorted; `shape` names the statement
 * (which fields, which of them NULL). Undefined when a default is SQL, which cannot be a parameter.
 */
export function insertParameters(
  columns: Record<string, Column>,
  values: Record<string, unknown>,
):
  | {
      shape: string
      names: string[]
      placeholders: Record<string, Placeholder | SQL>
      params: Record<string, unknown>
    }
  | undefined {
  const params: Record<string, unknown> = {}
  for (const [field, value] of Object.entries(values)) {
    if (value !== undefined && columns[field]) params[field] = value
  }
  for (const [field, column] of Object.entries(columns)) {
    if (field in params) continue
    const make = column.defaultFn ?? column.onUpdateFn
    if (!make) continue
    const value = make()
    if (is(value, SQL)) return undefined
    params[field] = value
  }
  const names = Object.keys(params).sort()
  const placeholders: Record<string, Placeholder | SQL> = {}
  let shape = ''
  for (const field of names) {
    const isNull = params[field] === null
    placeholders[field] = isNull ? sql`null` : sql.placeholder(field)
    if (shape !== '') shape += ','
    shape += isNull ? `${field}:null` : field
  }
  return { shape, names, placeholders, params }
}
