import { type Column, sql } from 'drizzle-orm'
import type { MySqlTable } from 'drizzle-orm/mysql-core'
import type { FindOptions } from '../../types.js'
import { checkKeyTypes, databaseColumnName, primaryOf } from '../common/columns.js'
import { keyParams, keyShape } from '../common/key-where.js'
import type { CatalogKeeper } from './mysql-catalog.js'
import type { AnyMySqlDatabase } from './mysql-database.js'
import { mysqlStatementError } from './mysql-errors.js'
import type { MySqlKeyEquality } from './mysql-key-equality.js'
import { resultRows } from './mysql-rows.js'

type Row = Record<string, unknown>

interface PreparedFind {
  execute(placeholders?: Record<string, unknown>): Promise<unknown>
}

/** A MySQL store's reads, each comparing keys as the server stores them ({@link MySqlKeyEquality.where}). */
export interface MySqlReads {
  /** A raw row (database column names, driver values) as the table's select model. */
  mapRow(raw: Row): Row
  /** `Store.find`: a prepared `SELECT … LIMIT 1` per key shape; `fresh` makes it {@link lockingFind}. */
  find(key: Row, opts?: FindOptions): Promise<Row | undefined>
  /**
   * A shared locking read: sees the newest committed row, whatever the transaction's snapshot; on `conn`
   * (a transaction of the store's database) when given.
   */
  lockingFind(key: Row, conn?: AnyMySqlDatabase): Promise<Row | undefined>
}

/** {@link MySqlReads} of `table`: the server's locking clause from `catalog`, the key casts from `keys`. */
export function mysqlReads(
  db: AnyMySqlDatabase,
  table: MySqlTable,
  columns: Record<string, Column>,
  label: string,
  catalog: CatalogKeeper,
  keys: MySqlKeyEquality,
): MySqlReads {
  const finds = new Map<string, PreparedFind>()
  const column = (field: string) => columns[field] as Column

  function mapRow(raw: Row): Row {
    const row: Row = {}
    for (const [field, col] of Object.entries(columns)) {
      const value = raw[databaseColumnName(db, col)]
      row[field] = value === null || value === undefined ? null : col.mapFromDriverValue(value)
    }
    return row
  }

  async function lockingFind(key: Row, conn: AnyMySqlDatabase = db): Promise<Row | undefined> {
    const { server } = await catalog.current()
    const query = conn
      .select()
      .from(table)
      .where(keys.where(key, await keys.casts(key), true))
      .limit(1)
    try {
      const rows = resultRows(await conn.execute(sql`${query.getSQL()} ${sql.raw(server.shareLock)}`))
      return rows[0] && mapRow(rows[0])
    } catch (error) {
      mysqlStatementError(error, label)
    }
  }

  async function find(key: Row, opts?: FindOptions): Promise<Row | undefined> {
    checkKeyTypes(label, columns, key)
    if (opts?.fresh) return lockingFind(key)
    const { shape } = keyShape(key)
    let statement = finds.get(shape)
    if (!statement) {
      // On the primary (never a replica, which may lag behind the row just created) and past drizzle's query
      // cache (which our own inserts do not always name the table to): a find must see the database.
      statement = primaryOf(db)
        .select()
        .from(table)
        .where(keys.where(key, await keys.casts(key)))
        .limit(1)
        .$withCache(false)
        .prepare() as PreparedFind
      finds.set(shape, statement)
    }
    const rows = (await statement.execute(keyParams(column, key))) as Row[]
    return rows[0]
  }

  return { mapRow, find, lockingFind }
}
