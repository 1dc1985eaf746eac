import { type Column, getTableColumns, type Table } from 'drizzle-orm'
import { InvalidKeyError } from '../../errors.js'

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
 * column in `bigint` mode): they would match nothing, or match after a cast but lock under another name; and
 * `null` for a column the table declares NOT NULL, which no row can hold (the insert would fail).
 */
export function checkKeyTypes(
  table: string,
  columns: Record<string, Column>,
  key: Record<string, unknown>,
): void {
  // `for…in` and `hasOwn`: the key's own fields, as Object.keys gives them, without an array per key.
  for (const field in key) {
    if (!Object.hasOwn(key, field)) continue
    const value = key[field]
    const column = columns[field]
    if (!column) continue
    if (value === null) {
      if (column.notNull) {
        throw new InvalidKeyError(
          `Key field "${field}" of ${table} is null, but its column is NOT NULL: no row can hold that key. ` +
            'Give a value.',
        )
      }
      continue
    }
    const accepts = KEY_TYPES[column.dataType]
    if (accepts && !accepts(value)) {
      throw new InvalidKeyError(
        `Key field "${field}" of ${table} is ${typeof value === 'object' ? 'an object' : `a ${typeof value}`}, but its column takes ${column.dataType === 'date' ? 'a Date' : `a ${column.dataType}`}.`,
      )
    }
  }
}

/**
 * The primary of a drizzle `withReplicas(primary, replicas)` database, whose builder `select` goes to a replica
 * (which may lag behind the row just created), or `db` itself.
 */
export function primaryOf<D>(db: D): D {
  const primary = (db as { $primary?: unknown }).$primary
  return (primary ?? db) as D
}
