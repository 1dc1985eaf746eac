import { type Column, is } from 'drizzle-orm'
import {
  getTableConfig,
  type SQLiteColumn,
  type SQLiteTable,
  SQLiteTransaction,
} from 'drizzle-orm/sqlite-core'
import type { Fence, FindOptions, InsertOptions, UniqueIndexFix, Uniqueness } from '../../types.js'
import { batchMembers } from '../common/batch-claims.js'
import { checkKeyTypes, columnsOf, databaseColumnName, primaryOf } from '../common/columns.js'
import {
  inheritedFields,
  insertParameters,
  updateSet,
  valuesForDrizzle,
} from '../common/insert-parameters.js'
import { keyParams, keyShape, keyWhere } from '../common/key-where.js'
import type { TableStore } from '../common/table-store.js'
import { coveringIndexes, uniquenessOf } from '../common/unique-index-match.js'
import { sqliteBatch } from './sqlite-batch.js'
import {
  readSqliteNamesLike,
  readSqliteNullableColumns,
  readSqliteUniqueIndexes,
  sqliteCollationMismatchOf,
} from './sqlite-catalog.js'
import type { AnySQLiteDatabase } from './sqlite-database.js'
import { sqliteWriteError } from './sqlite-errors.js'
import { sqliteFencing } from './sqlite-fences.js'
import { refuseChangedKey, sqliteLockIdentity } from './sqlite-lock-identity.js'
import { readSqliteTableFacts, type SqliteTableFacts } from './sqlite-table-facts.js'
import {
  sqliteCollationMismatchFix,
  sqliteIndexName,
  sqliteUniqueIndexFix,
} from './sqlite-unique-index-fix.js'

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
 *   another connection wrote since: that is a `SerializationConflictError` (its cause the driver's error); run
 *   the whole transaction again. Any other error, `SQLITE_BUSY` after the timeout included, is rethrown unchanged.
 * - `uniqueness`: `PRAGMA index_list` / `index_xinfo` (partial indexes excluded) and the INTEGER PRIMARY KEY;
 *   SQLite unique indexes treat NULLs as distinct, so `'nulls-distinct'` unless every key column is NOT NULL;
 *   `'not-enforced'` where the covering index compares under another collation than its column.
 * - `lockIdentity`: from the live table's facts (its file, affinities and collations; two statements, read
 *   once per store), computed in JavaScript: see {@link sqliteLockIdentity}.
 * - With `fences`, it checks fencing tokens: see {@link sqliteFencing}.
 * - `findMany` and `insertManyIfAbsentAtomically` (getOrCreateMany in three statements) for a table with a
 *   declared primary key: see {@link sqliteBatch}.
 * - A key with text or a bigint in it reads those facts before its first insert too: an integer beyond ±2^53
 *   for a REAL column is refused (`InvalidKeyError`, see {@link refuseChangedKey}) before any write.
 */
export function sqliteStore<T extends SQLiteTable>(
  db: AnySQLiteDatabase,
  table: T,
  options: { readonly fences?: unknown } = {},
): TableStore<T> {
  type Row = T['$inferSelect']
  const { name: tableName } = getTableConfig(table)
  const columns = columnsOf(table)
  const fields = Object.freeze(Object.keys(columns))
  const inherited = inheritedFields(columns)
  const statements = new Map<string, Prepared>()

  function column(field: string): Column {
    return columns[field] as Column
  }

  /** The live table's facts (file, affinities, collations): read on their first use, then kept. */
  let facts: Promise<SqliteTableFacts> | undefined
  function tableFacts(): Promise<SqliteTableFacts> {
    facts ??= readSqliteTableFacts(db, tableName).then((found) => {
      if (!found) throw new Error(`sqliteStore: table ${tableName} does not exist.`)
      return found
    })
    facts.catch(() => {
      facts = undefined // not kept: the next call asks again
    })
    return facts
  }

  async function find(key: Partial<Row>, _opts?: FindOptions): Promise<Row | undefined> {
    const record = key as Record<string, unknown>
    checkKeyTypes(tableName, columns, record)
    const id = `find:${keyShape(record).shape}`
    let statement = statements.get(id)
    if (!statement) {
      // On the primary (never a replica, which may lag behind the row just created) and past drizzle's query
      // cache: a find must see the database.
      statement = primaryOf(db)
        .select()
        .from(table as SQLiteTable)
        .where(keyWhere(column, record))
        .limit(1)
        .$withCache(false)
        .prepare() as Prepared
      statements.set(id, statement)
    }
    const rows = (await statement.all(keyParams(column, record))) as Row[]
    return rows[0]
  }

  /** Number text or a bigint may be an integer that a REAL column would store as another number: refused. */
  async function refuseStoredAsOther(record: Record<string, unknown>): Promise<void> {
    if (Object.values(record).some((value) => typeof value === 'string' || typeof value === 'bigint')) {
      refuseChangedKey(await tableFacts(), tableName, record, column, (col) => databaseColumnName(db, col))
    }
  }

  // getOrCreateMany's three statements (a read of every key, one insert, a read back), for a table with a
  // declared primary key.
  const batch = sqliteBatch({
    db,
    table,
    columns,
    tableName,
    find: (key) => find(key as Partial<Row>),
    checkBeforeWrite: refuseStoredAsOther,
  })

  const fencing =
    options.fences === undefined
      ? undefined
      : sqliteFencing({ db, table, columns, tableName, checkKey: refuseStoredAsOther }, options.fences)

  /** `Store.update`: `UPDATE … SET … WHERE <find's WHERE> RETURNING *`, one statement. */
  async function update(key: Partial<Row>, values: Partial<Row>): Promise<Row | undefined> {
    const record = key as Record<string, unknown>
    checkKeyTypes(tableName, columns, record)
    await refuseStoredAsOther(record)
    const set = updateSet(columns, values as Record<string, unknown>)
    if (!set) return find(key)
    const rows = (await db
      .update(table as SQLiteTable)
      .set(set)
      .where(keyWhere(column, record, { inline: true }))
      .returning()
      .all()) as Row[]
    return rows[0]
  }

  async function insertIfAbsentAtomically(
    key: Partial<Row>,
    values: T['$inferInsert'],
  ): Promise<Row | undefined> {
    const record = key as Record<string, unknown>
    await refuseStoredAsOther(record)
    const target = Object.keys(record).map(column) as SQLiteColumn[]
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

  async function insert(values: T['$inferInsert'], opts?: InsertOptions): Promise<Row> {
    if (fencing && opts?.fence !== undefined) {
      const fence = { token: opts.fence, lockKey: opts.lockKey } as Fence
      return fencing.insert<Row>(values as Record<string, unknown>, fence)
    }
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

  /** Covering indexes whose collation is not their column's, by key fields (see uniqueness), for the fix. */
  const mismatched = new Map<string, string>()

  /**
   * From the live catalog. A covering index whose collation is not its column's makes the key not enforced:
   * `ON CONFLICT` would let that index arbitrate while `find` compares as the column does.
   */
  async function uniqueness(keyFields: readonly string[]): Promise<Uniqueness> {
    const indexes = await readSqliteUniqueIndexes(db, tableName)
    if (!indexes) throw new Error(`sqliteStore: table ${tableName} does not exist.`)
    const names = keyFields.map((field) => databaseColumnName(db, column(field)).toLowerCase())
    // The columns' collations (two statements) only where an index covers the key: else nothing to compare.
    const live =
      coveringIndexes(indexes, names).length > 0 ? await readSqliteTableFacts(db, tableName) : undefined
    const mismatch = live && sqliteCollationMismatchOf(indexes, names, live)
    const id = [...keyFields].sort().join(',')
    if (mismatch === undefined) mismatched.delete(id)
    else mismatched.set(id, mismatch)
    return mismatch === undefined ? uniquenessOf(indexes, names) : 'not-enforced'
  }

  /**
   * See {@link sqliteUniqueIndexFix}: the names in use and the nullable columns, read from the database; for
   * a covering index under another collation, {@link sqliteCollationMismatchFix}.
   */
  async function uniqueIndexFix(keyFields: readonly string[]): Promise<UniqueIndexFix> {
    const names = keyFields.map((field) => databaseColumnName(db, column(field)))
    const mismatch = mismatched.get([...keyFields].sort().join(','))
    if (mismatch !== undefined) return sqliteCollationMismatchFix(tableName, names, mismatch)
    const taken = await readSqliteNamesLike(db, sqliteIndexName(tableName, names))
    return sqliteUniqueIndexFix(tableName, names, taken, await readSqliteNullableColumns(db, tableName))
  }

  return {
    name: `sqlite:${tableName}`,
    fields,
    checksFence: fencing !== undefined,
    inTransaction: is(db, SQLiteTransaction),
    find,
    insert: (values, opts) => insert(values, opts),
    update: (key, values) => update(key, values as Partial<Row>),
    checkKey: (key) => checkKeyTypes(tableName, columns, key as Record<string, unknown>),
    insertIfAbsentAtomically,
    ...(fencing && {
      insertIfAbsentFenced: async (key: Partial<Row>, values: T['$inferInsert'], fence: Fence) => {
        const record = key as Record<string, unknown>
        checkKeyTypes(tableName, columns, record)
        return fencing.create<Row>(record, values as Record<string, unknown>, fence)
      },
    }),
    ...(batch && batchMembers<Row, T['$inferInsert']>(tableName, columns, batch)),
    insertIfAbsent: insertIfAbsentAtomically, // the name before 0.3 (deprecated, removed in 0.4)
    uniqueness,
    uniqueIndexFix,
    lockIdentity: async (key) => {
      const record = key as Record<string, unknown>
      checkKeyTypes(tableName, columns, record)
      const known = await tableFacts()
      return sqliteLockIdentity(known, tableName, record, column, (col) => databaseColumnName(db, col))
    },
  }
}
