import { type Column, is } from 'drizzle-orm'
import {
  getTableConfig,
  type SQLiteColumn,
  type SQLiteTable,
  SQLiteTransaction,
} from 'drizzle-orm/sqlite-core'
import type { FindOptions, UniqueIndexFix, Uniqueness } from '../../types.js'
import { checkKeyTypes, columnsOf, databaseColumnName } from '../common/columns.js'
import { inheritedFields, insertParameters, valuesForDrizzle } from '../common/insert-parameters.js'
import { keyParams, keyShape, keyWhere } from '../common/key-where.js'
import type { TableStore } from '../common/table-store.js'
import { uniquenessOf } from '../common/unique-index-match.js'
import { readSqliteNamesLike, readSqliteNullableColumns, readSqliteUniqueIndexes } from './sqlite-catalog.js'
import type { AnySQLiteDatabase } from './sqlite-database.js'
import { sqliteWriteError } from './sqlite-errors.js'
import { sqliteIndexName, sqliteUniqueIndexFix } from './sqlite-unique-index-fix.js'

/**
 * A drizzle SQLite prepared statement. better-sqlite3 ('sync') returns values, async drivers promises:
 * awaiting covers both.
 */
interface Prepared {
  all(placeholders?: Record<string, unknown>): unknown
}

/**
 * `drizzleStore` for `sqlite-core` tables (better-sqlite3; other drizzle SQLite drivers work the same way).
 *
 * - `insertIfAbsentAtomically`: `INSERT … ON CONFLICT (key) DO NOTHING RETURNING *`, prepared per shape. SQLite runs
 *   writers one at a time and a write always works on the newest data, so the following plain read (a new
 *   statement) sees the winner's row: `fresh` needs no lock here.
 * - Several processes on one file: use WAL (`pragma journal_mode = wal`) and a busy timeout
 *   (`pragma busy_timeout = 5000`), so a writer waits for the lock instead of failing with `SQLITE_BUSY`.
 * - Inside a transaction that read before it writes, SQLite refuses the write with `SQLITE_BUSY_SNAPSHOT` when
 *   another connection wrote since: that is a `SerializationConflictError` (cause kept); run the whole
 *   transaction again. Any other error, `SQLITE_BUSY` after the timeout included, is rethrown unchanged.
 * - `uniqueness`: `PRAGMA index_list` / `index_info` (partial indexes excluded) and the INTEGER PRIMARY KEY;
 *   SQLite unique indexes treat NULLs as distinct, so `'nulls-distinct'` unless every key column is NOT NULL.
 */
export function sqliteStore<T extends SQLiteTable>(db: AnySQLiteDatabase, table: T): TableStore<T> {
  type Row = T['$inferSelect']
  const { name: tableName } = getTableConfig(table)
  const columns = columnsOf(table)
  const fields = Object.freeze(Object.keys(columns))
  const inherited = inheritedFields(columns)
  const statements = new Map<string, Prepared>()

  function column(field: string): Column {
    return columns[field] as Column
  }

  async function find(key: Partial<Row>, _opts?: FindOptions): Promise<Row | undefined> {
    const record = key as Record<string, unknown>
    checkKeyTypes(tableName, columns, record)
    const id = `find:${keyShape(record).shape}`
    let statement = statements.get(id)
    if (!statement) {
      statement = db
        .select()
        .from(table as SQLiteTable)
        .where(keyWhere(column, record))
        .limit(1)
        .prepare() as Prepared
      statements.set(id, statement)
    }
    const rows = (await statement.all(keyParams(column, record))) as Row[]
    return rows[0]
  }

  async function insertIfAbsentAtomically(
    key: Partial<Row>,
    values: T['$inferInsert'],
  ): Promise<Row | undefined> {
    const target = Object.keys(key as object).map(column) as SQLiteColumn[]
    const parameters = insertParameters(columns, values as Record<string, unknown>)
    try {
      if (!parameters) {
        const rows = (await db
          .insert(table as SQLiteTable)
          .values(valuesForDrizzle(values as Record<string, unknown>, inherited))
          .onConflictDoNothing({ target })
          .returning()
          .all()) as Row[]
        return rows[0]
      }
      const id = `insert:${parameters.shape}|${Object.keys(key as object)
        .sort()
        .join(',')}`
      let statement = statements.get(id)
      if (!statement) {
        statement = db
          .insert(table as SQLiteTable)
          .values(valuesForDrizzle(parameters.placeholders, inherited))
          .onConflictDoNothing({ target })
          .returning()
          .prepare() as Prepared
        statements.set(id, statement)
      }
      const rows = (await statement.all(parameters.params)) as Row[]
      return rows[0]
    } catch (error) {
      sqliteWriteError(error, tableName)
    }
  }

  async function insert(values: T['$inferInsert']): Promise<Row> {
    try {
      const rows = (await db
        .insert(table as SQLiteTable)
        .values(valuesForDrizzle(values as Record<string, unknown>, inherited))
        .returning()
        .all()) as Row[]
      return rows[0] as Row
    } catch (error) {
      sqliteWriteError(error, tableName)
    }
  }

  async function uniqueness(keyFields: readonly string[]): Promise<Uniqueness> {
    const indexes = await readSqliteUniqueIndexes(db, tableName)
    if (!indexes) throw new Error(`sqliteStore: table ${tableName} does not exist.`)
    return uniquenessOf(
      indexes,
      keyFields.map((field) => databaseColumnName(db, column(field)).toLowerCase()),
    )
  }

  /** See {@link sqliteUniqueIndexFix}: the names in use and the nullable columns, read from the database. */
  async function uniqueIndexFix(keyFields: readonly string[]): Promise<UniqueIndexFix> {
    const names = keyFields.map((field) => databaseColumnName(db, column(field)))
    const taken = await readSqliteNamesLike(db, sqliteIndexName(tableName, names))
    return sqliteUniqueIndexFix(tableName, names, taken, await readSqliteNullableColumns(db, tableName))
  }

  return {
    name: `sqlite:${tableName}`,
    fields,
    inTransaction: is(db, SQLiteTransaction),
    find,
    insert: (values) => insert(values),
    checkKey: (key) => checkKeyTypes(tableName, columns, key as Record<string, unknown>),
    insertIfAbsentAtomically,
    insertIfAbsent: insertIfAbsentAtomically, // the name before 0.3 (deprecated, removed in 0.4)
    uniqueness,
    uniqueIndexFix,
  }
}
