import { sql } from 'drizzle-orm'
import type { CatalogIndex } from '../common/unique-index-match.js'
import type { AnySQLiteDatabase } from './sqlite-database.js'

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
 * The unique indexes of `table`, column names lower-cased (SQLite compares them case-insensitively), the
 * INTEGER PRIMARY KEY among them; undefined when there is no such table.
 */
export async function readSqliteUniqueIndexes(
  db: AnySQLiteDatabase,
  table: string,
): Promise<CatalogIndex[] | undefined> {
  const [found] = (await db.all(sql`select count(*) as n from pragma_table_info(${table})`)) as {
    n: number
  }[]
  if (Number(found?.n ?? 0) === 0) return undefined
  const rows = (await db.all(UNIQUE_INDEXES(table))) as {
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
  const [rowid] = (await db.all(ROWID_ALIAS(table))) as { name: string; type: string; pk_columns: number }[]
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
  return [...indexes.values()]
}

/** The table's columns that may hold NULL, lower-cased. An INTEGER PRIMARY KEY is the rowid, never NULL. */
export async function readSqliteNullableColumns(db: AnySQLiteDatabase, table: string): Promise<Set<string>> {
  // table_info's notnull is 0 for an INTEGER PRIMARY KEY, though as the rowid it is never NULL.
  const info = (await db.all(
    sql`select name, "notnull" as not_null, pk, type,
          (select count(*) from pragma_table_info(${table}) where pk > 0) as pk_columns
        from pragma_table_info(${table})`,
  )) as { name: string; not_null: number; pk: number; type: string; pk_columns: number }[]
  return new Set(
    info
      .filter(
        (row) =>
          Number(row.not_null) !== 1 &&
          !(Number(row.pk) === 1 && Number(row.pk_columns) === 1 && row.type.toUpperCase() === 'INTEGER'),
      )
      .map((row) => row.name.toLowerCase()),
  )
}

/** The names (lower-cased) in the database that start with `prefix`, case-insensitively. */
export async function readSqliteNamesLike(db: AnySQLiteDatabase, prefix: string): Promise<Set<string>> {
  const rows = (await db.all(
    sql`select lower(name) as name from sqlite_master where lower(name) like lower(${`${prefix}%`})`,
  )) as { name: string }[]
  return new Set(rows.map((row) => row.name))
}
