import { type Column, is, sql } from 'drizzle-orm'
import {
  type BaseSQLiteDatabase,
  getTableConfig,
  type SQLiteColumn,
  type SQLiteTable,
  SQLiteTransaction,
} from 'drizzle-orm/sqlite-core'
import { SerializationConflictError } from '../errors.js'
import type { FindOptions, UniqueIndexFix, Uniqueness } from '../types.js'
import {
  checkKeyTypes,
  columnsOf,
  type DrizzleStore,
  databaseColumnName,
  insertParameters,
} from './drizzle-store.js'
import { causeChain } from './shared/cause-chain.js'
import { keyParams, keyShape, keyWhere } from './shared/key-where.js'
import { type CatalogIndex, uniquenessOf } from './shared/unique-index-match.js'

/** A drizzle SQLite database or transaction (better-sqlite3 and other drivers), whatever its schema. */
// biome-ignore lint/suspicious/noExplicitAny: drizzle's schema generics are invariant; any schema is accepted.
export type AnySQLiteDatabase = BaseSQLiteDatabase<'sync' | 'async', any, any>

/**
 * A drizzle SQLite prepared statement. better-sqlite3 ('sync') returns values, async drivers promises:
 * awaiting covers both.
 */
interface Prepared {
  all(placeholders?: Record<string, unknown>): unknown
}

/** Every unique, non-partial index of a table, its columns and their NOT NULL flags, in one query. */
const UNIQUE_INDEXES = (table: string) => sql`
  select il.name as index_name, ii.name as column_name, coalesce(ti."notnull", 0) as not_null
  from pragma_index_list(${table}) il
  join pragma_index_info(il.name) ii
  left join pragma_table_info(${table}) ti on ti.name = ii.name
  where il."unique" = 1 and il.partial = 0
  order by il.name, ii.seqno`

/** The INTEGER PRIMARY KEY (rowid alias): unique, yet absent from `index_list`. */
const ROWID_ALIAS = (table: string) => sql`
  select name, type, (select count(*) from pragma_table_info(${table}) where pk > 0) as pk_columns
  from pragma_table_info(${table}) where pk = 1`

/**
 * The name the fix gives a unique index on `columns` of `table`: `table_col1_col2_<hash>_key`, where the hash
 * (8 hex digits, FNV-1a of the table's and the columns' names, case-folded as SQLite folds them) tells apart
 * names the underscores alone would not (`a_b (c)` and `a (b_c)`): index names are per database, so a
 * migration that adds both indexes must not get one name twice. Exported for tests.
 */
export function sqliteIndexName(table: string, columns: readonly string[]): string {
  const text = JSON.stringify([table, ...columns]).toLowerCase()
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return `${table}_${columns.join('_')}_${(hash >>> 0).toString(16).padStart(8, '0')}_key`
}

/** The first SQLite result code (`SQLITE_…`) on `error` or its causes. */
function sqliteCode(error: unknown): string | undefined {
  for (const current of causeChain(error)) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string' && code.startsWith('SQLITE_')) return code
  }
  return undefined
}

/**
 * `drizzleStore` for `sqlite-core` tables (better-sqlite3; other drizzle SQLite drivers work the same way).
 *
 * - `insertIfAbsent`: `INSERT … ON CONFLICT (key) DO NOTHING RETURNING *`, prepared per shape. SQLite runs
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
export function sqliteStore<T extends SQLiteTable>(db: AnySQLiteDatabase, table: T): DrizzleStore<T> {
  type Row = T['$inferSelect']
  const { name: tableName } = getTableConfig(table)
  const columns = columnsOf(table)
  const fields = Object.freeze(Object.keys(columns))
  const statements = new Map<string, Prepared>()

  function column(field: string): Column {
    return columns[field] as Column
  }

  async function find(key: Partial<Row>, _opts?: FindOptions): Promise<Row | undefined> {
    const record = key as Record<string, unknown>
    checkKeyTypes(tableName, columns, record)
    const { shape } = keyShape(record)
    let statement = statements.get(`find:${shape}`)
    if (!statement) {
      const where = keyWhere(column, record)
      statement = db
        .select()
        .from(table as SQLiteTable)
        .where(where)
        .limit(1)
        .prepare() as Prepared
      statements.set(`find:${shape}`, statement)
    }
    const rows = (await statement.all(keyParams(column, record))) as Row[]
    return rows[0]
  }

  function serializationConflict(error: unknown): never {
    if (sqliteCode(error) === 'SQLITE_BUSY_SNAPSHOT') {
      throw new SerializationConflictError(
        `Another connection wrote to the database file after this transaction's first read, so SQLite refuses ` +
          `this transaction's write to ${tableName} (SQLITE_BUSY_SNAPSHOT). Roll back and run the whole ` +
          `transaction again (BEGIN IMMEDIATE avoids it).`,
        { cause: error },
      )
    }
    throw error
  }

  async function insertIfAbsent(key: Partial<Row>, values: T['$inferInsert']): Promise<Row | undefined> {
    const target = Object.keys(key as object).map(column) as SQLiteColumn[]
    const parameters = insertParameters(columns, values as Record<string, unknown>)
    try {
      if (!parameters) {
        const rows = (await db
          .insert(table as SQLiteTable)
          .values(values as Record<string, unknown>)
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
          .values(parameters.placeholders)
          .onConflictDoNothing({ target })
          .returning()
          .prepare() as Prepared
        statements.set(id, statement)
      }
      const rows = (await statement.all(parameters.params)) as Row[]
      return rows[0]
    } catch (error) {
      serializationConflict(error)
    }
  }

  async function insert(values: T['$inferInsert']): Promise<Row> {
    try {
      const rows = (await db
        .insert(table as SQLiteTable)
        .values(values as Record<string, unknown>)
        .returning()
        .all()) as Row[]
      return rows[0] as Row
    } catch (error) {
      serializationConflict(error)
    }
  }

  async function uniqueness(keyFields: readonly string[]): Promise<Uniqueness> {
    const [table] = (await db.all(sql`select count(*) as n from pragma_table_info(${tableName})`)) as {
      n: number
    }[]
    if (Number(table?.n ?? 0) === 0) throw new Error(`sqliteStore: table ${tableName} does not exist.`)
    const wanted = keyFields.map((field) => databaseColumnName(db, column(field)).toLowerCase())
    const rows = (await db.all(UNIQUE_INDEXES(tableName))) as {
      index_name: string
      column_name: string | null
      not_null: number
    }[]
    // SQLite's unique indexes treat NULLs as distinct and have no option against it.
    const indexes = new Map<string, CatalogIndex & { columns: string[] }>()
    for (const row of rows) {
      const index = indexes.get(row.index_name) ?? {
        name: row.index_name,
        columns: [],
        partial: false,
        expression: false,
        nullsNotDistinct: false,
        notNull: true,
      }
      indexes.set(row.index_name, {
        ...index,
        columns: row.column_name === null ? index.columns : [...index.columns, row.column_name.toLowerCase()],
        expression: index.expression || row.column_name === null,
        notNull: index.notNull && Number(row.not_null) === 1,
      })
    }
    // `id INTEGER PRIMARY KEY` is the rowid: unique and never NULL, but it has no entry in index_list.
    const [rowid] = (await db.all(ROWID_ALIAS(tableName))) as {
      name: string
      type: string
      pk_columns: number
    }[]
    if (rowid && Number(rowid.pk_columns) === 1 && rowid.type.toUpperCase() === 'INTEGER') {
      indexes.set('(rowid)', {
        name: '(rowid)',
        columns: [rowid.name.toLowerCase()],
        partial: false,
        expression: false,
        nullsNotDistinct: false,
        notNull: true,
      })
    }
    return uniquenessOf([...indexes.values()], wanted)
  }

  /**
   * `CREATE UNIQUE INDEX "table_column_1a2b3c4d_key" ON "table" ("column", …)`: SQLite needs a name for the
   * index, and index names are per database; see {@link sqliteIndexName}. SQLite's unique indexes treat NULLs
   * as distinct and have no option against it: for a nullable key column the hint says it must be NOT NULL,
   * or a key with a NULL in it is refused (`INVALID_KEY`) even once the index exists.
   */
  async function uniqueIndexFix(keyFields: readonly string[]): Promise<UniqueIndexFix> {
    const names = keyFields.map((field) => databaseColumnName(db, column(field)))
    const base = sqliteIndexName(tableName, names)
    const taken = new Set(
      (
        (await db.all(
          sql`select lower(name) as name from sqlite_master where lower(name) like lower(${`${base}%`})`,
        )) as {
          name: string
        }[]
      ).map((row) => row.name),
    )
    let indexName = base
    for (let n = 1; taken.has(indexName.toLowerCase()); n++) indexName = `${base}${n}`
    // An INTEGER PRIMARY KEY is the rowid, never NULL, whatever table_info's notnull says.
    const info = (await db.all(
      sql`select name, "notnull" as not_null, pk, type,
            (select count(*) from pragma_table_info(${tableName}) where pk > 0) as pk_columns
          from pragma_table_info(${tableName})`,
    )) as { name: string; not_null: number; pk: number; type: string; pk_columns: number }[]
    const nullableNames = new Set(
      info
        .filter(
          (row) =>
            Number(row.not_null) !== 1 &&
            !(Number(row.pk) === 1 && Number(row.pk_columns) === 1 && row.type.toUpperCase() === 'INTEGER'),
        )
        .map((row) => row.name.toLowerCase()),
    )
    const nullable = names.filter((name) => nullableNames.has(name.toLowerCase()))
    const quote = (name: string) => `"${name.replaceAll('"', '""')}"`
    return {
      table: tableName,
      columns: names,
      sql: `CREATE UNIQUE INDEX ${quote(indexName)} ON ${quote(tableName)} (${names.map(quote).join(', ')})`,
      ...(nullable.length > 0
        ? {
            hint:
              `${nullable.join(', ')} may hold NULL, and SQLite's unique indexes treat NULLs as distinct: for a ` +
              `key with a NULL in it to be one row, ${nullable.join(', ')} must be NOT NULL (SQLite cannot add ` +
              `NOT NULL to a column: rebuild the table); until then such a key is refused`,
          }
        : {}),
    }
  }

  return {
    name: `sqlite:${tableName}`,
    fields,
    inTransaction: is(db, SQLiteTransaction),
    find,
    insert: (values) => insert(values),
    insertIfAbsent,
    uniqueness,
    uniqueIndexFix,
  }
}
