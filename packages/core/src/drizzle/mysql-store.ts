import { type Column, is, sql } from 'drizzle-orm'
import {
  getTableConfig,
  type MySqlDatabase,
  type MySqlQueryResultHKT,
  type MySqlTable,
  MySqlTransaction,
  type PreparedQueryHKTBase,
} from 'drizzle-orm/mysql-core'
import { RowVanishedError, SerializationConflictError } from '../errors.js'
import type { FindOptions, UniqueIndexFix, Uniqueness } from '../types.js'
import { mysqlError } from './db-error.js'
import { checkKeyTypes, columnsOf, type DrizzleStore, databaseColumnName } from './drizzle-store.js'
import { keyParams, keyShape, keyWhere } from './shared/key-where.js'
import { type CatalogIndex, coveringIndexes, uniquenessOf } from './shared/unique-index-match.js'

/** A drizzle MySQL / MariaDB database or transaction (mysql2), whatever its schema. */
// biome-ignore lint/suspicious/noExplicitAny: drizzle's schema generics are invariant; any schema is accepted.
export type AnyMySqlDatabase = MySqlDatabase<MySqlQueryResultHKT, PreparedQueryHKTBase, any>

/** MySQL / MariaDB error numbers this store acts on. */
const ER_DUP_ENTRY = 1062
const ER_LOCK_DEADLOCK = 1213

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

interface Catalog {
  readonly server: MySqlServerInfo
  /** The database (schema) the table is looked up in: its own schema, else the connection's database. */
  readonly tableSchema: string
  /** False when the server has no such table (in the given schema, or the connection's database). */
  readonly tableExists: boolean
  /** Its unique indexes, column names lower-cased (MySQL compares them case-insensitively). */
  readonly indexes: readonly CatalogIndex[]
}

/** Options for tests: pretend the server is another one (e.g. MySQL 8's SQL paths on MariaDB). */
export interface MySqlStoreTestingOptions {
  /** Replace what `select version()` says. */
  readonly version?: string
}

interface PreparedFind {
  execute(placeholders?: Record<string, unknown>): Promise<unknown>
}

/**
 * Per transaction: one insert-in-a-savepoint at a time. Two calls sharing a transaction would otherwise
 * interleave `savepoint` / `rollback to savepoint`, and one call's rollback would undo the other's insert.
 */
const savepointQueues = new WeakMap<object, Promise<unknown>>()

function serialized<T>(owner: object, run: () => Promise<T>): Promise<T> {
  const previous = savepointQueues.get(owner) ?? Promise.resolve()
  const result = previous.then(run, run)
  savepointQueues.set(
    owner,
    result.then(
      () => undefined,
      () => undefined,
    ),
  )
  return result
}

/**
 * The index a duplicate-key error names: `Duplicate entry 'x' for key 'slug'` (MariaDB, MySQL < 8.0.19) or
 * `… for key 'items.slug'` (MySQL ≥ 8.0.19). Lower-cased, table prefix removed.
 */
function duplicateIndexName(message: string, table: string): string | undefined {
  const match = /for key '(.*)'\s*$/s.exec(message)
  if (!match?.[1]) return undefined
  const name = match[1].toLowerCase()
  const prefix = `${table.toLowerCase()}.`
  return name.startsWith(prefix) ? name.slice(prefix.length) : name
}

/** Rows of a raw mysql2 result (`[rows, fields]`), or of an already unwrapped one. */
function resultRows(result: unknown): Record<string, unknown>[] {
  if (Array.isArray(result)) {
    if (Array.isArray(result[0])) return result[0] as Record<string, unknown>[]
    if (
      result.length === 0 ||
      (typeof result[0] === 'object' && result[0] !== null && !('affectedRows' in result[0]))
    ) {
      return result as Record<string, unknown>[]
    }
  }
  return []
}

/** `insertId` of a mysql2 INSERT result (`[ResultSetHeader, …]`). */
function insertIdOf(result: unknown): unknown {
  const header = Array.isArray(result) ? result[0] : result
  return (header as { insertId?: unknown } | undefined)?.insertId
}

/**
 * `drizzleStore` for `mysql-core` tables (mysql2; MariaDB and MySQL).
 *
 * - `find(key)`: a prepared `SELECT … LIMIT 1`; `find(key, { fresh: true })` adds a shared locking read
 *   (`LOCK IN SHARE MODE` on MariaDB, `FOR SHARE` on MySQL 8), which sees rows committed after a REPEATABLE
 *   READ snapshot. Never `FOR UPDATE`: after a failed duplicate INSERT each racer holds a shared lock on the
 *   record, and three racers upgrading to exclusive deadlock.
 * - `insertIfAbsent`: a plain `INSERT` (not `INSERT IGNORE`, which turns data errors into warnings; not
 *   `ON DUPLICATE KEY UPDATE`, which fires on any unique key). Error 1062 on the key's own unique index means
 *   "a row exists" (`undefined`); 1062 on another index is rethrown unchanged unless a row with the key exists.
 *   Inside the caller's transaction it runs in a savepoint. MariaDB ≥ 10.5 returns the row with `RETURNING`;
 *   on MySQL the row is read back by `insertId` (auto-increment primary key) or by key.
 * - Error 1213 (deadlock; SQLSTATE 40001) becomes `SerializationConflictError` with the driver's error as
 *   `cause`: InnoDB has already rolled the whole transaction back, so the only way on is to run it again.
 *   Error 1205 (lock wait timeout) is rethrown unchanged: it means another transaction held the key's row
 *   uncommitted longer than `innodb_lock_wait_timeout`; only the statement was rolled back, and whether to
 *   wait again is the caller's call.
 * - `uniqueness`: from `information_schema.STATISTICS` (`NON_UNIQUE = 0`, exactly the key's columns, no
 *   prefix or functional parts); `'nulls-distinct'` unless every key column is `NOT NULL`.
 */
export function mysqlStore<T extends MySqlTable>(db: AnyMySqlDatabase, table: T): DrizzleStore<T> {
  return createMySqlStore(db, table)
}

/** {@link mysqlStore} with options for tests. Not part of the public API. */
export function createMySqlStore<T extends MySqlTable>(
  db: AnyMySqlDatabase,
  table: T,
  testing: MySqlStoreTestingOptions = {},
): DrizzleStore<T> {
  type Row = T['$inferSelect']
  const { name: tableName, schema } = getTableConfig(table)
  const label = schema ? `${schema}.${tableName}` : tableName
  const columns = columnsOf(table)
  const fields = Object.freeze(Object.keys(columns))
  const inTransaction = is(db, MySqlTransaction)
  const finds = new Map<string, PreparedFind>()
  const autoIncrementKey = Object.entries(columns).find(
    ([, column]) => column.primary && (column as Column & { autoIncrement?: boolean }).autoIncrement === true,
  )?.[0]
  let catalogAnswer: Promise<Catalog> | undefined

  function column(field: string): Column {
    return columns[field] as Column
  }

  function mapRow(raw: Record<string, unknown>): Row {
    const row: Record<string, unknown> = {}
    for (const [field, col] of Object.entries(columns)) {
      const value = raw[databaseColumnName(db, col)]
      row[field] = value === null || value === undefined ? null : col.mapFromDriverValue(value)
    }
    return row as Row
  }

  /** Server version, the table and its unique indexes, in one round trip. */
  function readCatalog(): Promise<Catalog> {
    return db
      .execute(sql`
        select v.server_version, v.table_schema, v.table_exists, s.INDEX_NAME as index_name,
               s.COLUMN_NAME as column_name, s.SUB_PART as sub_part, s.NULLABLE as nullable
        from (select version() as server_version, coalesce(${schema ?? null}, database()) as table_schema,
                     (select count(*) from information_schema.TABLES t
                      where t.TABLE_SCHEMA = coalesce(${schema ?? null}, database()) and t.TABLE_NAME = ${tableName})
                       as table_exists) v
        left join information_schema.STATISTICS s
          on s.TABLE_SCHEMA = coalesce(${schema ?? null}, database()) and s.TABLE_NAME = ${tableName}
          and s.NON_UNIQUE = 0
        order by s.INDEX_NAME, s.SEQ_IN_INDEX`)
      .then((result) => {
        const rows = resultRows(result)
        const version = testing.version ?? String(rows[0]?.server_version ?? '')
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
          byName.set(name, {
            ...index,
            columns:
              row.column_name === null || row.column_name === undefined
                ? index.columns
                : [...index.columns, String(row.column_name).toLowerCase()],
            // A functional part has no column name; a prefix (`col(10)`) has a SUB_PART.
            expression: index.expression || row.column_name === null || row.column_name === undefined,
            partial: index.partial || (row.sub_part !== null && row.sub_part !== undefined),
            notNull: index.notNull && row.nullable !== 'YES',
          })
        }
        const tableExists = Number(rows[0]?.table_exists) > 0
        const tableSchema = String(rows[0]?.table_schema ?? schema ?? '')
        return { server: mysqlServerInfo(version), tableSchema, tableExists, indexes: [...byName.values()] }
      })
  }

  /**
   * The catalog, read once per store and kept (read again after a failure), for every path: the server's
   * SQL (`insertRow`, `lockingFind`) and the indexes (`insertIfAbsent`, `uniqueness`). Only a uniqueness check
   * whose kept answer lacks the table or the key's index reads it anew ({@link uniqueness}).
   */
  function catalog(): Promise<Catalog> {
    catalogAnswer ??= readCatalog().catch((error: unknown) => {
      catalogAnswer = undefined
      throw error
    })
    return catalogAnswer
  }

  /** The unique indexes of `known` that cover exactly these fields' columns. */
  function indexesOf(known: Catalog, keyFields: readonly string[]): CatalogIndex[] {
    return coveringIndexes(known.indexes, keyColumns(keyFields))
  }

  /** The key's columns as the catalog names them: lower-cased. */
  function keyColumns(keyFields: readonly string[]): string[] {
    return keyFields.map((field) => databaseColumnName(db, column(field)).toLowerCase())
  }

  /** The unique indexes that cover exactly these fields' columns, in the kept catalog. */
  async function keyIndexes(keyFields: readonly string[]): Promise<CatalogIndex[]> {
    return indexesOf(await catalog(), keyFields)
  }

  function deadlock(error: unknown): never {
    if (mysqlError(error)?.errno === ER_LOCK_DEADLOCK) {
      throw new SerializationConflictError(
        `A deadlock (MySQL error 1213, SQLSTATE 40001) ended this transaction while it got or created a row ` +
          `of ${label}; the server has rolled the whole transaction back. Run the whole transaction again.`,
        { cause: error },
      )
    }
    throw error
  }

  /** A shared locking read: sees the newest committed row, whatever the transaction's snapshot. */
  async function lockingFind(key: Record<string, unknown>): Promise<Row | undefined> {
    const { server } = await catalog()
    const query = db
      .select()
      .from(table as MySqlTable)
      .where(keyWhere(column, key, { inline: true }))
      .limit(1)
    try {
      const rows = resultRows(await db.execute(sql`${query.getSQL()} ${sql.raw(server.shareLock)}`))
      return rows[0] && mapRow(rows[0])
    } catch (error) {
      deadlock(error)
    }
  }

  async function find(key: Partial<Row>, opts?: FindOptions): Promise<Row | undefined> {
    const record = key as Record<string, unknown>
    checkKeyTypes(label, columns, record)
    if (opts?.fresh) return lockingFind(record)
    const { shape } = keyShape(record)
    let statement = finds.get(shape)
    if (!statement) {
      statement = db
        .select()
        .from(table as MySqlTable)
        .where(keyWhere(column, record))
        .limit(1)
        .prepare() as PreparedFind
      finds.set(shape, statement)
    }
    const rows = (await statement.execute(keyParams(column, record))) as Row[]
    return rows[0]
  }

  /** One INSERT, and the row as stored: `RETURNING` where the server has it, else a read back. */
  async function insertRow(values: Record<string, unknown>, key?: Record<string, unknown>): Promise<Row> {
    const { server } = await catalog()
    const insert = db.insert(table as MySqlTable).values(values)
    if (server.returning) {
      const selection = sql.join(
        Object.values(columns).map((col) => sql.identifier(databaseColumnName(db, col))),
        sql`, `,
      )
      const rows = resultRows(await db.execute(sql`${insert.getSQL()} returning ${selection}`))
      if (!rows[0]) throw new Error(`mysqlStore ${label}: INSERT … RETURNING returned no row.`)
      return mapRow(rows[0])
    }
    const insertId = insertIdOf(await insert)
    let readKey: Record<string, unknown> | undefined
    if (autoIncrementKey) {
      const id = values[autoIncrementKey] ?? insertId
      const dataType = column(autoIncrementKey).dataType
      readKey = {
        [autoIncrementKey]:
          dataType === 'bigint' ? BigInt(String(id)) : dataType === 'number' ? Number(id) : id,
      }
    } else {
      const primary = Object.keys(columns).filter((field) => column(field).primary)
      if (primary.length > 0 && primary.every((field) => values[field] !== undefined)) {
        readKey = Object.fromEntries(primary.map((field) => [field, values[field]]))
      } else {
        readKey = key
      }
    }
    if (!readKey) {
      throw new TypeError(
        `mysqlStore ${label}: MySQL has no INSERT … RETURNING, and this table has no auto-increment primary key ` +
          `and the values give no primary key, so the inserted row cannot be read back.`,
      )
    }
    const row = await lockingFind(readKey)
    if (!row) {
      throw new RowVanishedError(
        `The row just inserted into ${label} was deleted before it could be read back.`,
      )
    }
    return row
  }

  /** Run `insertRow` in a savepoint when inside the caller's transaction, so a failure undoes only itself. */
  function guardedInsert(values: Record<string, unknown>, key?: Record<string, unknown>): Promise<Row> {
    if (!inTransaction) return insertRow(values, key)
    return serialized(db, async () => {
      await db.execute(sql.raw('savepoint goc_insert'))
      let row: Row
      try {
        row = await insertRow(values, key)
      } catch (error) {
        try {
          await db.execute(sql.raw('rollback to savepoint goc_insert'))
        } catch {
          // The server already ended the transaction (a deadlock rolls it all back): the insert's own error
          // is the one to report.
        }
        throw error
      }
      await db.execute(sql.raw('release savepoint goc_insert'))
      return row
    })
  }

  async function insertIfAbsent(key: Partial<Row>, values: T['$inferInsert']): Promise<Row | undefined> {
    const record = key as Record<string, unknown>
    try {
      return await guardedInsert(values as Record<string, unknown>, record)
    } catch (error) {
      const cause = mysqlError(error)
      if (cause?.errno !== ER_DUP_ENTRY) deadlock(error)
      const index = duplicateIndexName(cause.message, tableName)
      const own = await keyIndexes(Object.keys(record))
      if (index !== undefined && own.some((candidate) => candidate.name === index)) return undefined
      // Another unique index refused the row. If a row with this key exists anyway, the key decides (as
      // Postgres's ON CONFLICT (key) would); else the conflict is the caller's to see, unchanged.
      if ((await lockingFind(record)) !== undefined) return undefined
      throw error
    }
  }

  async function insert(values: T['$inferInsert']): Promise<Row> {
    try {
      return await guardedInsert(values as Record<string, unknown>)
    } catch (error) {
      deadlock(error)
    }
  }

  /**
   * From the kept catalog; where it lacks the table or the key's index, which may have been added since it
   * was read (the strategy asks about a missing index again after a while), from a new read, which then
   * replaces the kept one. So only the check that is failing pays for a read, never another key's finds and
   * inserts.
   */
  async function uniqueness(keyFields: readonly string[]): Promise<Uniqueness> {
    const kept = catalogAnswer !== undefined
    let known = await catalog()
    if (kept && (!known.tableExists || indexesOf(known, keyFields).length === 0)) {
      const reading = readCatalog()
      known = await reading
      catalogAnswer = reading // newer than the kept one; a failed read leaves that in place
    }
    if (!known.tableExists) {
      throw new Error(
        `mysqlStore: table ${label} does not exist${schema ? '' : " in the connection's database"}.`,
      )
    }
    return uniquenessOf(known.indexes, keyColumns(keyFields))
  }

  /**
   * ``ALTER TABLE `db`.`table` ADD UNIQUE (`column`, …)``: MySQL and MariaDB name the index themselves. On
   * MySQL a TEXT or BLOB column can be indexed only by a prefix, which does not cover it exactly: the hint
   * says to make it VARCHAR first (MariaDB 10.4+ indexes such columns whole). Their unique indexes treat NULLs
   * as distinct and have no option against it: for a nullable key column the hint says to make it NOT NULL,
   * or a key with a NULL in it is refused (`INVALID_KEY`) even once the index exists. Server and schema from
   * the kept catalog; the columns' nullability in one round trip, made only for a
   * `MissingUniqueConstraintError`.
   */
  async function uniqueIndexFix(keyFields: readonly string[]): Promise<UniqueIndexFix> {
    const { server, tableSchema } = await catalog()
    const names = keyFields.map((field) => databaseColumnName(db, column(field)))
    const nullableRows = resultRows(
      await db.execute(sql`
        select COLUMN_NAME as column_name from information_schema.COLUMNS
        where TABLE_SCHEMA = coalesce(${schema ?? null}, database()) and TABLE_NAME = ${tableName}
          and IS_NULLABLE = 'YES'`),
    )
    const nullableNames = new Set(nullableRows.map((row) => String(row.column_name).toLowerCase()))
    const nullable = names.filter((name) => nullableNames.has(name.toLowerCase()))
    const quote = (name: string) => `\`${name.replaceAll('`', '``')}\``
    const target = tableSchema ? `${quote(tableSchema)}.${quote(tableName)}` : quote(tableName)
    const blobs = server.mariadb
      ? []
      : keyFields.filter((field) =>
          /text|blob/i.test((column(field) as { getSQLType?: () => string }).getSQLType?.() ?? ''),
        )
    const hints: string[] = []
    if (blobs.length > 0) {
      hints.push(
        `MySQL indexes a TEXT or BLOB column only by a prefix, which does not cover it exactly: make ` +
          `${blobs.map((field) => databaseColumnName(db, column(field))).join(', ')} VARCHAR(n) first`,
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
      table: tableSchema ? `${tableSchema}.${tableName}` : tableName,
      columns: names,
      sql: `ALTER TABLE ${target} ADD UNIQUE (${names.map(quote).join(', ')})`,
      ...(hints.length > 0 ? { hint: hints.join('; ') } : {}),
    }
  }

  return {
    name: `mysql:${label}`,
    fields,
    inTransaction,
    find,
    insert: (values) => insert(values),
    insertIfAbsent,
    uniqueness,
    uniqueIndexFix,
  }
}
