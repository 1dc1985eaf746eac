import { type Column, is, sql } from 'drizzle-orm'
import { getTableConfig, type MySqlTable, MySqlTransaction } from 'drizzle-orm/mysql-core'
import { RowVanishedError } from '../../errors.js'
import type { Fence, InsertOptions, Uniqueness } from '../../types.js'
import { batchMembers } from '../common/batch-claims.js'
import { checkKeyTypes, columnsOf, databaseColumnName } from '../common/columns.js'
import { inheritedFields, updateSet, valuesForDrizzle } from '../common/insert-parameters.js'
import type { TableStore } from '../common/table-store.js'
import { coveringIndexes, uniquenessOf } from '../common/unique-index-match.js'
import { mysqlBatch } from './mysql-batch.js'
import { catalogKeeper, type MySqlCatalog, readMySqlCatalog } from './mysql-catalog.js'
import type { AnyMySqlDatabase } from './mysql-database.js'
import {
  duplicateIndexName,
  ER_DUP_ENTRY,
  ER_LOCK_DEADLOCK,
  mysqlError,
  mysqlStatementError,
} from './mysql-errors.js'
import { mysqlFencing } from './mysql-fences.js'
import {
  mysqlKeyCheck,
  mysqlKeyRewrittenOf,
  readMySqlInsertTriggers,
  writtenUnderAnotherKey,
} from './mysql-key-check.js'
import { mysqlKeyEquality } from './mysql-key-equality.js'
import { mysqlReads } from './mysql-reads.js'
import { readBackFor, resultRows, rowsMatched } from './mysql-rows.js'
import { inSavepoint } from './mysql-savepoint.js'
import { readMySqlUniqueIndexFix } from './mysql-unique-index-fix.js'

/** How many times an insert outside a transaction runs when a deadlock rolled it back (it wrote nothing). */
const DEADLOCK_ATTEMPTS = 3

/** Options of {@link createMySqlStore}; not part of the public API. */
export interface MySqlStoreOptions {
  /** Replace what `select version()` says: tests run MySQL 8's SQL paths on MariaDB with it. */
  readonly version?: string
  /** The fences table (`mysqlFencesTable()`): the store then checks fencing tokens (see {@link mysqlFencing}). */
  readonly fences?: unknown
}

/**
 * `drizzleStore` for `mysql-core` tables (mysql2; MariaDB and MySQL). `drizzleStore` passes its `fences`;
 * tests pass {@link MySqlStoreOptions}. With `fences`, it checks fencing tokens (see {@link mysqlFencing}).
 *
 * - `find(key)`: a prepared `SELECT … LIMIT 1`; `find(key, { fresh: true })` adds a shared locking read
 *   (`LOCK IN SHARE MODE` on MariaDB, `FOR SHARE` on MySQL 8), which sees rows committed after a REPEATABLE
 *   READ snapshot. Never `FOR UPDATE`: after a failed duplicate INSERT each racer holds a shared lock on the
 *   record, and three racers upgrading to exclusive deadlock.
 * - `insertIfAbsentAtomically`: a plain `INSERT` (not `INSERT IGNORE`, which turns data errors into warnings; not
 *   `ON DUPLICATE KEY UPDATE`, which fires on any unique key). Error 1062 on the key's own unique index means
 *   "a row exists" (`undefined`); 1062 on another index is rethrown unchanged unless a row with the key exists.
 *   Inside the caller's transaction it runs in a savepoint. MariaDB ≥ 10.5 returns the row with `RETURNING`;
 *   on MySQL the row is read back by `insertId` (auto-increment primary key) or by key.
 * - Error 1213 (deadlock; SQLSTATE 40001) becomes `SerializationConflictError` with the driver's error as
 *   `cause`: InnoDB has already rolled the whole transaction back, so the only way on is to run it again.
 *   Outside a transaction, where the transaction was that one statement, `insertIfAbsentAtomically` runs it
 *   again first, up to 3 times.
 *   Error 1205 (lock wait timeout) is rethrown unchanged: it means another transaction held the key's row
 *   uncommitted longer than `innodb_lock_wait_timeout`; only the statement was rolled back, and whether to
 *   wait again is the caller's call.
 * - Keys compare as the server stores them: a key field whose column rounds on write (`datetime(p)`,
 *   `timestamp(p)`, `time(p)`, `date`, `decimal(m,s)`) is compared as `col = CAST(? AS <live type>)`, the type
 *   read once from `information_schema.COLUMNS` (see {@link mysqlKeyEquality}).
 * - `lockIdentity`: the table as `mysql:<database>.<table>` however it is declared, and the key as the server
 *   compares it (collation weight strings, PAD SPACE padded; rounded dates and decimals): one statement when
 *   a key column folds or rounds, none otherwise.
 * - `findMany` and `insertManyIfAbsentAtomically` (getOrCreateMany in three statements where no race
 *   intervenes): the keys as a derived table joined on `find`'s own comparison, and one optimistic multi-row
 *   `INSERT`, which a duplicate or a deadlock refuses whole; then those keys go one at a time (see
 *   {@link mysqlBatch}).
 * - `uniqueness`: from `information_schema.STATISTICS` (`NON_UNIQUE = 0`, exactly the key's columns, no
 *   prefix or functional parts); `'nulls-distinct'` unless every key column is `NOT NULL`.
 */
export function createMySqlStore<T extends MySqlTable>(
  db: AnyMySqlDatabase,
  table: T,
  options: MySqlStoreOptions = {},
): TableStore<T> {
  type Row = T['$inferSelect']
  const { name: tableName, schema } = getTableConfig(table)
  const place = { schema, table: tableName }
  const label = schema ? `${schema}.${tableName}` : tableName
  const name = `mysql:${label}`
  const columns = columnsOf(table)
  const fields = Object.freeze(Object.keys(columns))
  const inherited = inheritedFields(columns)
  const inTransaction = is(db, MySqlTransaction)
  // The server's SQL (`insertRow`, `lockingFind`) and the indexes (`insertIfAbsentAtomically`, `uniqueness`).
  const catalog = catalogKeeper(() => readMySqlCatalog(db, place, options.version))
  // Key comparisons as the server makes them: casts for columns that round, and the lock identity.
  const keys = mysqlKeyEquality(db, place, columns, label)
  const reads = mysqlReads(db, table as MySqlTable, columns, label, catalog, keys)
  const mapRow = reads.mapRow as (raw: Record<string, unknown>) => Row
  const lockingFind = reads.lockingFind as (
    key: Record<string, unknown>,
    conn?: AnyMySqlDatabase,
  ) => Promise<Row | undefined>

  function column(field: string): Column {
    return columns[field] as Column
  }

  /** The key's columns as the catalog names them: lower-cased. */
  function keyColumns(keyFields: readonly string[]): string[] {
    return keyFields.map((field) => databaseColumnName(db, column(field)).toLowerCase())
  }

  /** MariaDB's INSERT … RETURNING every column, and, with `key`, {@link mysqlKeyCheck} of the stored row. */
  async function returningInsert(values: Record<string, unknown>, key?: Record<string, unknown>) {
    const insert = db.insert(table as MySqlTable).values(valuesForDrizzle(values, inherited))
    const selection = sql.join(
      Object.values(columns).map((col) => sql.identifier(databaseColumnName(db, col))),
      sql`, `,
    )
    // Aliased: unaliased, the column's name is the expression's text, key values included, and mysql2 compiles
    // and caches (15,000 at most) a row parser per distinct set of column names: one per key, a leak.
    const check = key
      ? sql`, ${mysqlKeyCheck(keys.where(key, await keys.casts(key), true))} as getorcreate_key_check`
      : sql``
    return sql`${insert.getSQL()} returning ${selection}${check}`
  }

  /**
   * One INSERT, and the row as stored: `RETURNING` where the server has it, else a read back. With `key`, the
   * stored row must compare equal to it (a BEFORE INSERT trigger may rewrite it): checked in the statement
   * (`RETURNING`: the insert fails, nothing written) or in the read back (then the row exists).
   */
  async function insertRow(
    values: Record<string, unknown>,
    key?: Record<string, unknown>,
    conn: AnyMySqlDatabase = db,
    rolledBack = false,
  ): Promise<Row> {
    const { server, tableSchema } = await catalog.current()
    const insert = conn.insert(table as MySqlTable).values(valuesForDrizzle(values, inherited))
    if (server.returning) {
      let rows: Record<string, unknown>[]
      try {
        rows = resultRows(await conn.execute(await returningInsert(values, key)))
      } catch (error) {
        throw (key && mysqlKeyRewrittenOf(error, name, key)) || error
      }
      if (!rows[0]) throw new Error(`mysqlStore ${label}: INSERT … RETURNING returned no row.`)
      return mapRow(rows[0])
    }
    // Refused before the insert, not after it: a row that cannot be read back is never written.
    const readBack = readBackFor(columns, values, key)
    if (!readBack) {
      throw new TypeError(
        `mysqlStore ${label}: MySQL has no INSERT … RETURNING, and this table has no auto-increment primary key ` +
          `and the values give no primary key, so the inserted row could not be read back. Nothing was written.`,
      )
    }
    const insertedAt = readBack(await insert)
    // Read back by the auto-increment id and the key at once: a miss then means the key was rewritten (or
    // the row deleted), at no extra statement.
    const readKey = key && insertedAt !== key ? { ...insertedAt, ...key } : insertedAt
    const row = await lockingFind(readKey, conn)
    if (!row) {
      const place = { schema: tableSchema, table: tableName }
      // In a fenced write, the error rolls the row back: not written.
      const rewritten = key && (await writtenUnderAnotherKey(conn, place, name, key, !rolledBack))
      if (rewritten) throw rewritten
      throw new RowVanishedError(
        `The row just inserted into ${label} was deleted before it could be read back.`,
      )
    }
    return row
  }

  /** Run `insertRow` in a savepoint when inside the caller's transaction, so a failure undoes only itself. */
  function guardedInsert(values: Record<string, unknown>, key?: Record<string, unknown>): Promise<Row> {
    if (!inTransaction) return insertRow(values, key)
    return inSavepoint(db, () => insertRow(values, key))
  }

  /**
   * `insertIfAbsentAtomically`; on `conn` (the fenced transaction) when given, where a failed statement
   * undoes only itself (InnoDB), so no savepoint is needed.
   */
  async function insertIfAbsentAtomically(
    key: Partial<Row>,
    values: T['$inferInsert'],
    conn?: AnyMySqlDatabase,
  ): Promise<Row | undefined> {
    const record = key as Record<string, unknown>
    for (let attempt = 1; ; attempt++) {
      try {
        return await (conn
          ? insertRow(values as Record<string, unknown>, record, conn, true)
          : guardedInsert(values as Record<string, unknown>, record))
      } catch (error) {
        if (await duplicateFound(error, record, conn)) return undefined
        // Outside a transaction a deadlock rolled back this statement alone, which wrote nothing: run it again.
        // InnoDB deadlocks two inserters of a key that both waited on a third's insert of it when that one is
        // rolled back (a batch's multi-row insert refused by another key's duplicate, say).
        const retry = !inTransaction && !conn && mysqlError(error)?.errno === ER_LOCK_DEADLOCK
        if (!retry || attempt >= DEADLOCK_ATTEMPTS) mysqlStatementError(error, label)
      }
    }
  }

  /** Whether an insert's `error` means that the row of `key` exists: a duplicate on its own index, or found. */
  async function duplicateFound(error: unknown, key: Record<string, unknown>, conn?: AnyMySqlDatabase) {
    const cause = mysqlError(error)
    if (cause?.errno !== ER_DUP_ENTRY) return false
    const index = duplicateIndexName(cause.message, tableName)
    const own = coveringIndexes((await catalog.current()).indexes, keyColumns(Object.keys(key)))
    if (index !== undefined && own.some((candidate) => candidate.name === index)) return true
    // Another unique index refused the row. If a row with this key exists anyway, the key decides (as
    // Postgres's ON CONFLICT (key) would); else the conflict is the caller's to see, unchanged.
    return (await lockingFind(key, conn)) !== undefined
  }

  const fencing = mysqlFencing(
    {
      db,
      inTransaction,
      label,
      table,
      keys,
      ready: () => catalog.current(),
      insert: (conn, values, key) => insertRow(values, key, conn, true),
      returningInsert,
      mapRow,
      duplicateFound,
    },
    options.fences,
    (conn, key, values) => insertIfAbsentAtomically(key as Partial<Row>, values as T['$inferInsert'], conn),
  )

  async function insert(values: T['$inferInsert'], opts?: InsertOptions): Promise<Row> {
    if (fencing && opts?.fence !== undefined) return (await fencing.insert(values, opts)) as Row
    try {
      return await guardedInsert(
        values as Record<string, unknown>,
        opts?.key as Record<string, unknown> | undefined,
      )
    } catch (error) {
      mysqlStatementError(error, label)
    }
  }

  /**
   * `Store.update`: `UPDATE … SET … WHERE <find's WHERE>`, then, where it matched a row, the row read back
   * with a locking read (MySQL and MariaDB have no `UPDATE … RETURNING`): the row as it is then, this update's
   * or a later one's. Rows matched are read from the server's own count (`Rows matched: n` in the statement's
   * info, whatever the connection's FOUND_ROWS flag): none means no row had the key, even if one is created
   * before the read.
   */
  async function update(key: Partial<Row>, values: Partial<Row>): Promise<Row | undefined> {
    const record = key as Record<string, unknown>
    checkKeyTypes(label, columns, record)
    const set = updateSet(columns, values as Record<string, unknown>)
    if (set) {
      let result: unknown
      try {
        result = await db
          .update(table as MySqlTable)
          .set(set)
          .where(keys.where(record, await keys.casts(record), true))
      } catch (error) {
        mysqlStatementError(error, label)
      }
      if (rowsMatched(result) === 0) return undefined
    }
    return lockingFind(record)
  }

  /**
   * From the kept catalog; where it lacks the table or the key's index, which may have been added since it
   * was read (the strategy asks about a missing index again after a while), from a new read, which then
   * replaces the kept one. So only the check that is failing pays for a read, never another key's finds and
   * inserts.
   */
  async function uniqueness(keyFields: readonly string[]): Promise<Uniqueness> {
    const wanted = keyColumns(keyFields)
    const kept = catalog.kept()
    let known: MySqlCatalog = await catalog.current()
    if (kept && (!known.tableExists || coveringIndexes(known.indexes, wanted).length === 0)) {
      known = await catalog.reread()
    }
    if (!known.tableExists) {
      throw new Error(
        `mysqlStore: table ${label} does not exist${schema ? '' : " in the connection's database"}.`,
      )
    }
    return uniquenessOf(known.indexes, wanted)
  }

  /** The table's BEFORE INSERT row triggers: one round trip. */
  const insertTriggers = async () =>
    readMySqlInsertTriggers(db, { schema: (await catalog.current()).tableSchema, table: tableName })
  const batch = mysqlBatch({
    db,
    table: table as MySqlTable,
    columns,
    label,
    keys,
    mapRow: reads.mapRow,
    insertTriggers,
    engine: async () => {
      const { tableSchema } = await catalog.current()
      const [row] = resultRows(
        await db.execute(sql`select engine as engine from information_schema.TABLES
          where table_schema = ${tableSchema} and table_name = ${tableName}`),
      )
      return row?.engine === undefined || row.engine === null ? undefined : String(row.engine)
    },
    inTransaction,
    insertOne: (key, values) => insertIfAbsentAtomically(key as Partial<Row>, values as T['$inferInsert']),
  })

  return {
    name,
    fields,
    inTransaction,
    checksFence: fencing !== undefined,
    ...(fencing && {
      insertIfAbsentFenced: (key: Partial<Row>, values: T['$inferInsert'], fence: Fence) => {
        checkKeyTypes(label, columns, key as Record<string, unknown>)
        return fencing.create(key, values, fence) as Promise<Row | undefined>
      },
    }),
    find: (key, opts) => reads.find(key as Record<string, unknown>, opts) as Promise<Row | undefined>,
    insert: (values, opts) => insert(values, opts),
    update: (key, values) => update(key, values as Partial<Row>),
    checkKey: (key) => checkKeyTypes(label, columns, key as Record<string, unknown>),
    lockIdentity: (key) => keys.lockIdentity(key as Record<string, unknown>),
    insertIfAbsentAtomically,
    insertIfAbsent: insertIfAbsentAtomically, // the name before 0.3 (deprecated, removed in 0.4)
    ...batchMembers<Row, T['$inferInsert']>(label, columns, batch),
    uniqueness,
    uniqueIndexFix: (keyFields) => readMySqlUniqueIndexFix(db, catalog, place, columns, keyFields),
    insertTriggers,
  }
}
