import { sql } from 'drizzle-orm'
import { type CatalogIndex, coveringIndexes } from '../common/unique-index-match.js'
import type { AnySQLiteDatabase } from './sqlite-database.js'
import type { SqliteTableFacts } from './sqlite-table-facts.js'
import { asciiUpper } from './sqlite-table-sql.js'

/**
 * Every unique, non-partial index of a table, its key columns (`index_xinfo`'s `key = 1`: not the rowid it
 * stores), their collations and NOT NULL flags, in one query.
 */
const UNIQUE_INDEXES = (table: string) => sql`
  select il.name as index_name, ii.name as column_name, ii.coll as coll, coalesce(ti."notnull", 0) as not_null
  from pragma_index_list(${table}) il
  join pragma_index_xinfo(il.name) ii
  left join pragma_table_info(${table}) ti on ti.name = ii.name
  where il."unique" = 1 and il.partial = 0 and ii."key" = 1
  order by il.name, ii.seqno`

/** A unique index as {@link CatalogIndex}, and the collation it compares each key column under. */
export interface SqliteCatalogIndex extends CatalogIndex {
  /** By column (lower-cased, as in `columns`): the collation, upper-cased (`'NOCASE'`). */
  readonly collations: ReadonlyMap<string, string>
}

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
): Promise<SqliteCatalogIndex[] | undefined> {
  const [found] = (await db.all(sql`select count(*) as n from pragma_table_info(${table})`)) as {
    n: number
  }[]
  if (Number(found?.n ?? 0) === 0) return undefined
  const rows = (await db.all(UNIQUE_INDEXES(table))) as {
    index_name: string
    column_name: string | null
    coll: string | null
    not_null: number
  }[]
  // SQLite's unique indexes treat NULLs as distinct and have no option against it.
  const indexes = new Map<string, SqliteCatalogIndex & { columns: string[] }>()
  for (const row of rows) {
    const index = indexes.get(row.index_name) ?? {
      name: row.index_name,
      columns: [],
      collations: new Map<string, string>(),
      partial: false,
      expression: false,
      nullsNotDistinct: false,
      notNull: true,
    }
    const name = row.column_name === null ? undefined : row.column_name.toLowerCase()
    indexes.set(row.index_name, {
      ...index,
      columns: name === undefined ? index.columns : [...index.columns, name],
      collations:
        name === undefined
          ? index.collations
          : new Map([...index.collations, [name, asciiUpper(row.coll ?? 'BINARY')]]),
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
      collations: new Map(),
      partial: false,
      expression: false,
      nullsNotDistinct: false,
      notNull: true,
    })
  }
  return [...indexes.values()]
}

/**
 * Where an index that covers exactly `columns` (lower-cased) compares a key column under another collation
 * than the column's own (`CREATE UNIQUE INDEX … (slug COLLATE NOCASE)` on a BINARY column, or a BINARY index
 * on a NOCASE column), what differs, one clause per index; `undefined` where none does. `ON CONFLICT` would
 * then call keys equal that a read tells apart (a conflict with no row to read: ROW_VANISHED), or the reverse
 * (two rows a read calls one key).
 */
export function sqliteCollationMismatchOf(
  indexes: readonly SqliteCatalogIndex[],
  columns: readonly string[],
  facts: SqliteTableFacts,
): string | undefined {
  // The catalog's names are lower-cased as JavaScript does (see readSqliteUniqueIndexes).
  const live = new Map([...facts.columns.values()].map((column) => [column.name.toLowerCase(), column]))
  const clauses = (coveringIndexes(indexes, columns) as SqliteCatalogIndex[]).flatMap((index) => {
    const differing = index.columns.flatMap((name) => {
      const own = live.get(name)?.collation ?? 'BINARY'
      const compared = index.collations.get(name) ?? own
      return compared === own
        ? []
        : [
            `column "${live.get(name)?.name ?? name}": the index compares under ${compared}, the column under ${own}`,
          ]
    })
    return differing.length === 0 ? [] : [`unique index ${index.name}: ${differing.join('; ')}`]
  })
  return clauses.length === 0 ? undefined : clauses.join('; ')
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
