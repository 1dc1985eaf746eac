import { sql } from 'drizzle-orm'
import type { CatalogIndex } from '../common/unique-index-match.js'
import type { AnyMySqlDatabase } from './mysql-database.js'
import { resultRows } from './mysql-rows.js'

/** What the store needs to know about the server: which SQL it speaks. */
export interface MySqlServerInfo {
  /** `select version()`, e.g. `'10.11.6-MariaDB'` or `'8.0.36'`. */
  readonly version: string
  /** True for MariaDB, false for MySQL. */
  readonly mariadb: boolean
  /** `INSERT … RETURNING`: MariaDB ≥ 10.5; MySQL has none. */
  readonly returning: boolean
  /** The shared locking read's clause: `for share` on MySQL ≥ 8.0, `lock in share mode` elsewhere (MariaDB). */
  readonly shareLock: string
}

/** Read a `select version()` string. Exported for tests. */
export function mysqlServerInfo(version: string): MySqlServerInfo {
  const mariadb = /mariadb/i.test(version)
  const [major = 0, minor = 0] = (/^(\d+)\.(\d+)/.exec(version) ?? []).slice(1).map(Number)
  const atLeast = (m: number, n: number) => major > m || (major === m && minor >= n)
  return {
    version,
    mariadb,
    returning: mariadb && atLeast(10, 5),
    shareLock: !mariadb && atLeast(8, 0) ? 'for share' : 'lock in share mode',
  }
}

/** The server, the table and its unique indexes, as one read of the catalog found them. */
export interface MySqlCatalog {
  /** Which SQL the server speaks. */
  readonly server: MySqlServerInfo
  /** The database (schema) the table is looked up in: its own schema, else the connection's database. */
  readonly tableSchema: string
  /** False when the server has no such table (in the given schema, or the connection's database). */
  readonly tableExists: boolean
  /** Its unique indexes, names lower-cased (MySQL compares column names case-insensitively). */
  readonly indexes: readonly CatalogIndex[]
}

/** Where a table is: its declared schema (else the connection's database) and name. */
export interface MySqlTablePlace {
  /** The schema the drizzle table declares, if any. */
  readonly schema: string | undefined
  /** The table's name. */
  readonly table: string
}

/**
 * Server version, the table and its unique indexes, in one round trip. `version` replaces what the server
 * says (tests run MySQL 8's SQL paths on MariaDB with it).
 */
export async function readMySqlCatalog(
  db: AnyMySqlDatabase,
  { schema, table }: MySqlTablePlace,
  version?: string,
): Promise<MySqlCatalog> {
  const rows = resultRows(
    await db.execute(sql`
      select v.server_version, v.table_schema, v.table_exists, s.INDEX_NAME as index_name,
             s.COLUMN_NAME as column_name, s.SUB_PART as sub_part, s.NULLABLE as nullable
      from (select version() as server_version, coalesce(${schema ?? null}, database()) as table_schema,
                   (select count(*) from information_schema.TABLES t
                    where t.TABLE_SCHEMA = coalesce(${schema ?? null}, database()) and t.TABLE_NAME = ${table})
                     as table_exists) v
      left join information_schema.STATISTICS s
        on s.TABLE_SCHEMA = coalesce(${schema ?? null}, database()) and s.TABLE_NAME = ${table}
        and s.NON_UNIQUE = 0
      order by s.INDEX_NAME, s.SEQ_IN_INDEX`),
  )
  // MySQL's unique indexes treat NULLs as distinct and have no option against it.
  const byName = new Map<string, CatalogIndex & { columns: string[] }>()
  for (const row of rows) {
    if (row.index_name === null || row.index_name === undefined) continue
    const name = String(row.index_name).toLowerCase()
    const index = byName.get(name) ?? {
      name,
      columns: [],
      partial: false,
      expression: false,
      nullsNotDistinct: false,
      notNull: true,
    }
    const functional = row.column_name === null || row.column_name === undefined
    byName.set(name, {
      ...index,
      columns: functional ? index.columns : [...index.columns, String(row.column_name).toLowerCase()],
      // A functional part has no column name; a prefix (`col(10)`) has a SUB_PART.
      expression: index.expression || functional,
      partial: index.partial || (row.sub_part !== null && row.sub_part !== undefined),
      notNull: index.notNull && row.nullable !== 'YES',
    })
  }
  return {
    server: mysqlServerInfo(version ?? String(rows[0]?.server_version ?? '')),
    tableSchema: String(rows[0]?.table_schema ?? schema ?? ''),
    tableExists: Number(rows[0]?.table_exists) > 0,
    indexes: [...byName.values()],
  }
}

/** The table's columns that may hold NULL, lower-cased: one round trip. */
export async function readMySqlNullableColumns(
  db: AnyMySqlDatabase,
  { schema, table }: MySqlTablePlace,
): Promise<Set<string>> {
  const rows = resultRows(
    await db.execute(sql`
      select COLUMN_NAME as column_name from information_schema.COLUMNS
      where TABLE_SCHEMA = coalesce(${schema ?? null}, database()) and TABLE_NAME = ${table}
        and IS_NULLABLE = 'YES'`),
  )
  return new Set(rows.map((row) => String(row.column_name).toLowerCase()))
}

/**
 * The catalog, read once and kept (read again after a failure), for every path: the server's SQL and the
 * indexes. {@link CatalogKeeper.reread} replaces the kept answer with a newer one; a failed reread leaves it.
 */
export interface CatalogKeeper {
  /** The kept catalog, read now if none is kept. */
  current(): Promise<MySqlCatalog>
  /** Whether a catalog is kept (or being read). */
  kept(): boolean
  /** Read anew and keep the new answer once it has arrived. */
  reread(): Promise<MySqlCatalog>
}

/** A {@link CatalogKeeper} over `read`. */
export function catalogKeeper(read: () => Promise<MySqlCatalog>): CatalogKeeper {
  let answer: Promise<MySqlCatalog> | undefined
  return {
    current() {
      answer ??= read().catch((error: unknown) => {
        answer = undefined
        throw error
      })
      return answer
    },
    kept: () => answer !== undefined,
    async reread() {
      const reading = read()
      const known = await reading
      answer = reading // newer than the kept one; a failed read leaves that in place
      return known
    },
  }
}
