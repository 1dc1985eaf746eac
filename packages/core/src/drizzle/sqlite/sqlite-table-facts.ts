import { sql } from 'drizzle-orm'
import type { AnySQLiteDatabase } from './sqlite-database.js'
import { asciiLower, asciiUpper, columnCollations } from './sqlite-table-sql.js'

/** A column's type affinity: what SQLite converts a value to before it stores or compares it. */
export type SqliteAffinity = 'INTEGER' | 'REAL' | 'NUMERIC' | 'TEXT' | 'BLOB'

/** A column of the live table as SQLite compares it. */
export interface SqliteColumnFacts {
  /** The column's name as the table declares it. */
  readonly name: string
  readonly affinity: SqliteAffinity
  /** Its default collation, upper-cased (`'BINARY'`, `'NOCASE'`, `'RTRIM'`, or a user-defined one). */
  readonly collation: string
}

/** Where a table lives and how its columns compare. */
export interface SqliteTableFacts {
  /**
   * The database file as SQLite resolves it (`pragma database_list`: absolute, symbolic links followed), or
   * `''` for an in-memory or temporary database.
   */
  readonly file: string
  /** The schema the table's unqualified name resolves to on this connection: `temp`, `main`, or an attached one. */
  readonly schema: string
  /** The table's name as it was created (SQLite's names ignore the case of A–Z). */
  readonly table: string
  /** By column name, lower-cased (A–Z). */
  readonly columns: ReadonlyMap<string, SqliteColumnFacts>
}

/**
 * The affinity of a column of declared type `type`, by SQLite's rules (datatype3.html, 3.1): `INT` →
 * INTEGER; `CHAR`, `CLOB`, `TEXT` → TEXT; `BLOB` or no type → BLOB (none); `REAL`, `FLOA`, `DOUB` → REAL;
 * anything else NUMERIC. In a STRICT table, `ANY` has none.
 */
function affinityOf(type: string, strict: boolean): SqliteAffinity {
  const upper = asciiUpper(type)
  if (strict && upper === 'ANY') return 'BLOB'
  if (upper.includes('INT')) return 'INTEGER'
  if (/CHAR|CLOB|TEXT/.test(upper)) return 'TEXT'
  if (upper.includes('BLOB') || upper === '') return 'BLOB'
  if (/REAL|FLOA|DOUB/.test(upper)) return 'REAL'
  return 'NUMERIC'
}

/** Where an unqualified name is looked for: `temp`, then `main`, then attached databases in order. */
function searchOrder(row: { schema_name: string; seq: number }): number {
  if (row.schema_name === 'temp') return -2
  if (row.schema_name === 'main') return -1
  return Number(row.seq)
}

/**
 * The facts of `table` (an unqualified name, as drizzle's SQLite tables are), in two statements: the schemas
 * holding a table of that name, then the chosen one's columns (`pragma table_xinfo`) and `CREATE TABLE`
 * text (for collations, see {@link columnCollations}). Undefined where no schema has such a table.
 */
export async function readSqliteTableFacts(
  db: AnySQLiteDatabase,
  table: string,
): Promise<SqliteTableFacts | undefined> {
  const places = (await db.all(sql`
    select l.schema as schema_name, l.name as table_name, l.strict as strict, d.file as file, d.seq as seq
    from pragma_table_list l join pragma_database_list d on d.name = l.schema
    where l.name = ${table} collate nocase and l.type in ('table', 'virtual')`)) as {
    schema_name: string
    table_name: string
    strict: number
    file: string | null
    seq: number
  }[]
  const [place] = places.sort((a, b) => searchOrder(a) - searchOrder(b))
  if (!place) return undefined
  const rows = (await db.all(sql`
    select x.name as name, x.type as type,
      (select s.sql from ${sql.identifier(place.schema_name)}.sqlite_master s
        where s.type = 'table' and s.name = ${place.table_name}) as create_sql
    from pragma_table_xinfo(${place.table_name}, ${place.schema_name}) x`)) as {
    name: string
    type: string | null
    create_sql: string | null
  }[]
  const collations = columnCollations(rows[0]?.create_sql ?? '')
  const strict = Number(place.strict) === 1
  return {
    file: place.file ?? '',
    schema: place.schema_name,
    table: place.table_name,
    columns: new Map(
      rows.map((row) => [
        asciiLower(row.name),
        {
          name: row.name,
          affinity: affinityOf(row.type ?? '', strict),
          collation: collations.get(asciiLower(row.name)) ?? 'BINARY',
        },
      ]),
    ),
  }
}
