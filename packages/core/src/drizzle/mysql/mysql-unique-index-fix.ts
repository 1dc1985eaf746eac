import type { Column } from 'drizzle-orm'
import type { UniqueIndexFix } from '../../types.js'
import { databaseColumnName } from '../common/columns.js'
import { type CatalogKeeper, type MySqlServerInfo, readMySqlNullableColumns } from './mysql-catalog.js'
import type { AnyMySqlDatabase } from './mysql-database.js'

/** What {@link mysqlUniqueIndexFix} needs to know of the server and the table. */
interface MySqlFixFacts {
  /** Which server: MariaDB indexes TEXT / BLOB columns whole, MySQL only by a prefix. */
  readonly server: MySqlServerInfo
  /** The database the table lives in (`''` if unknown). */
  readonly tableSchema: string
  /** The table's name. */
  readonly table: string
  /** The table's columns that may hold NULL, lower-cased. */
  readonly nullable: ReadonlySet<string>
  /** The key's columns that are TEXT or BLOB. */
  readonly blobs: readonly string[]
}

/**
 * ``ALTER TABLE `db`.`table` ADD UNIQUE (`column`, …)``: MySQL and MariaDB name the index themselves. On
 * MySQL a TEXT or BLOB column can be indexed only by a prefix, which does not cover it exactly: the hint
 * says to make it VARCHAR first (MariaDB 10.4+ indexes such columns whole). Their unique indexes treat NULLs
 * as distinct and have no option against it: for a nullable key column the hint says to make it NOT NULL,
 * or a key with a NULL in it is refused (`INVALID_KEY`) even once the index exists.
 */
function mysqlUniqueIndexFix(facts: MySqlFixFacts, names: readonly string[]): UniqueIndexFix {
  const { server, tableSchema, table } = facts
  const nullable = names.filter((name) => facts.nullable.has(name.toLowerCase()))
  const quote = (name: string) => `\`${name.replaceAll('`', '``')}\``
  const target = tableSchema ? `${quote(tableSchema)}.${quote(table)}` : quote(table)
  const blobs = server.mariadb ? [] : facts.blobs
  const hints: string[] = []
  if (blobs.length > 0) {
    hints.push(
      `MySQL indexes a TEXT or BLOB column only by a prefix, which does not cover it exactly: make ` +
        `${blobs.join(', ')} VARCHAR(n) first`,
    )
  }
  if (nullable.length > 0) {
    hints.push(
      `${nullable.join(', ')} may hold NULL, and ${server.mariadb ? 'MariaDB' : 'MySQL'}'s unique indexes ` +
        `treat NULLs as distinct: for a key with a NULL in it to be one row, make ${nullable.join(', ')} NOT ` +
        `NULL (ALTER TABLE … MODIFY … NOT NULL); until then such a key is refused`,
    )
  }
  return {
    table: tableSchema ? `${tableSchema}.${table}` : table,
    columns: [...names],
    sql: `ALTER TABLE ${target} ADD UNIQUE (${names.map(quote).join(', ')})`,
    ...(hints.length > 0 ? { hint: hints.join('; ') } : {}),
  }
}

/**
 * A MySQL store's `uniqueIndexFix`: see {@link mysqlUniqueIndexFix}. Server and schema from the kept catalog;
 * the columns' nullability in one round trip, made only for a `MissingUniqueConstraintError`.
 */
export async function readMySqlUniqueIndexFix(
  db: AnyMySqlDatabase,
  catalog: CatalogKeeper,
  place: { readonly schema: string | undefined; readonly table: string },
  columns: Record<string, Column>,
  keyFields: readonly string[],
): Promise<UniqueIndexFix> {
  const { server, tableSchema } = await catalog.current()
  const column = (field: string) => columns[field] as Column
  const blobs = keyFields.filter((field) =>
    /text|blob/i.test((column(field) as { getSQLType?: () => string }).getSQLType?.() ?? ''),
  )
  return mysqlUniqueIndexFix(
    {
      server,
      tableSchema,
      table: place.table,
      nullable: await readMySqlNullableColumns(db, place),
      blobs: blobs.map((field) => databaseColumnName(db, column(field))),
    },
    keyFields.map((field) => databaseColumnName(db, column(field))),
  )
}
