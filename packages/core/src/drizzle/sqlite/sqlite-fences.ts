import { type Column, is, lt, lte, sql } from 'drizzle-orm'
import { SQLiteTable, SQLiteTransaction } from 'drizzle-orm/sqlite-core'
import { LockLostError } from '../../errors.js'
import type { Fence } from '../../types.js'
import { checkFence, checkFencesTable, type StoreFencing } from '../common/fences.js'
import { inheritedFields, insertParameters, valuesForDrizzle } from '../common/insert-parameters.js'
import { keyParams, keyShape, keyWhere } from '../common/key-where.js'
import type { AnySQLiteDatabase } from './sqlite-database.js'
import { sqliteWriteError } from './sqlite-errors.js'
import { SQLITE_NOW_MS, type SQLiteFencesTable } from './sqlite-fences-table.js'

/** What {@link sqliteFencing} needs of its store. */
export interface SqliteFencingContext {
  readonly db: AnySQLiteDatabase
  readonly table: SQLiteTable
  readonly columns: Record<string, unknown>
  /** The table's name, for messages. */
  readonly tableName: string
  /** The store's checks of a key before a write (InvalidKeyError), as its unfenced create makes them. */
  readonly checkKey: (key: Record<string, unknown>) => Promise<void>
}

/** A drizzle SQLite prepared statement on a synchronous driver: `all` returns the rows. */
interface SyncPrepared {
  all(placeholders?: Record<string, unknown>): unknown[]
}

/** A synchronous drizzle transaction (better-sqlite3, bun:sqlite): the callback's value is returned. */
type SyncTransaction = (run: () => unknown, config: { behavior: 'immediate' }) => unknown

/**
 * Fenced writes through `fences` (a fences table) for the store of `context`. SQLite has no data-modifying
 * CTE, so a fenced create is a read of the key (a row found ends it: a read needs no lock, and a create that
 * finds its row takes no turn at the database's one writer), then a transaction of three statements, run
 * synchronously in one `db.transaction(…, { behavior: 'immediate' })`:
 *
 * ```sql
 * select … from t where key limit 1;  -- found: return undefined, nothing written (no fence raised, none checked)
 * begin immediate;                    -- the database's write lock, waited for (busy_timeout), then newest data
 * insert into fences (lock_key, token) values (?, ?)
 *   on conflict (lock_key) do update set token = excluded.token, prev_token = fences.token, updated_at = now_ms
 *   where fences.token <= excluded.token returning token;        -- no row: a newer owner (LockLostError)
 * select … from t where key limit 1;                               -- found: commit, return undefined
 * insert into t (…) values (…) returning *;
 * commit;
 * ```
 *
 * SQLite runs one writer at a time, and `BEGIN IMMEDIATE` takes the write lock before the transaction reads,
 * so its reads see every commit before it and none can come after until it commits: the fence comparison and
 * the read of the key are current, with no retry needed. The same token is accepted (`<=`: tokens are unique
 * to one owner's write). The transaction is synchronous (better-sqlite3's driver takes no async callback):
 * nothing else runs on the connection meanwhile. Refused with a `TypeError`: a store bound to a transaction
 * (its create could not open its own `BEGIN IMMEDIATE`, and would commit only with the caller's transaction),
 * and asynchronous drivers.
 */
export function sqliteFencing(context: SqliteFencingContext, fences: unknown): StoreFencing {
  const { db, table, columns, tableName, checkKey } = context
  if (!is(fences, SQLiteTable)) {
    throw new TypeError(
      'drizzleStore: options.fences must be a sqlite-core table, as sqliteFencesTable() defines it.',
    )
  }
  checkFencesTable(fences, 'sqlite')
  if (is(db, SQLiteTransaction)) {
    throw new TypeError(
      'drizzleStore: options.fences on SQLite needs the database, not a transaction: a fenced create runs in a ' +
        'BEGIN IMMEDIATE transaction of its own, which commits before the lock is released.',
    )
  }
  if ((db as unknown as { resultKind?: unknown }).resultKind !== 'sync') {
    throw new TypeError(
      'drizzleStore: options.fences on SQLite needs a synchronous driver (better-sqlite3): a fenced create ' +
        'runs in one synchronous BEGIN IMMEDIATE transaction.',
    )
  }
  const ledger = fences as SQLiteFencesTable
  const inherited = inheritedFields(columns as never)
  const column = (field: string) => columns[field] as Column
  const transaction = db.transaction.bind(db) as unknown as SyncTransaction
  const statements = new Map<string, SyncPrepared>()
  const prepared = (id: string, build: () => SyncPrepared): SyncPrepared => {
    let statement = statements.get(id)
    if (!statement) {
      statement = build()
      statements.set(id, statement)
    }
    return statement
  }
  const raise = db
    .insert(ledger)
    .values({ lockKey: sql.placeholder('lockKey'), token: sql.placeholder('token') })
    .onConflictDoUpdate({
      target: ledger.lockKey,
      set: {
        token: sql`excluded.${sql.identifier(ledger.token.name)}`,
        prevToken: sql`${ledger.token}`,
        updatedAt: SQLITE_NOW_MS,
      },
      setWhere: lte(ledger.token, sql`excluded.${sql.identifier(ledger.token.name)}`),
    })
    .returning({ token: ledger.token })
    .prepare() as unknown as SyncPrepared

  const lost = (fence: Fence) =>
    new LockLostError(
      `The fence of lock ${fence.lockKey} holds a larger token than this writer's (${fence.token}): the lock ` +
        `expired while this writer was paused and a newer owner took it. Nothing was written to ${tableName}.`,
    )

  /** `write` after the fence is raised, in one synchronous BEGIN IMMEDIATE transaction. */
  function underFence<T>(fence: Fence, write: () => T): T {
    try {
      return transaction(
        () => {
          if (raise.all({ lockKey: fence.lockKey, token: fence.token }).length === 0) throw lost(fence)
          return write()
        },
        { behavior: 'immediate' },
      ) as T
    } catch (error) {
      if (error instanceof LockLostError) throw error
      sqliteWriteError(error, tableName)
    }
  }

  /** The insert returning the new row: prepared per shape, or built for this call where none can be. */
  function insertRow<Row>(values: Record<string, unknown>): Row {
    const parameters = insertParameters(columns as never, values)
    if (!parameters) {
      const insert = db.insert(table).values(valuesForDrizzle(values, inherited)).returning()
      return (insert as unknown as SyncPrepared).all()[0] as Row
    }
    const statement = prepared(
      `insert:${parameters.shape}`,
      () =>
        db
          .insert(table)
          .values(valuesForDrizzle(parameters.placeholders, inherited))
          .returning()
          .prepare() as unknown as SyncPrepared,
    )
    return statement.all(parameters.params)[0] as Row
  }

  return {
    async create<Row>(key: Record<string, unknown>, values: Record<string, unknown>, fence: Fence) {
      checkFence(fence)
      await checkKey(key)
      const find = prepared(
        `find:${keyShape(key).shape}`,
        () =>
          db
            .select({ one: sql<number>`1` })
            .from(table)
            .where(keyWhere(column, key))
            .limit(1)
            .prepare() as unknown as SyncPrepared,
      )
      const params = keyParams(column, key)
      // A row found before the write lock writes nothing (no fence raised, none checked): a create that finds
      // its row costs a read, and takes no turn at the database's one writer.
      if (find.all(params).length > 0) return undefined
      return underFence(fence, () => (find.all(params).length > 0 ? undefined : insertRow<Row>(values)))
    },

    async insert<Row>(values: Record<string, unknown>, fence: Fence) {
      checkFence(fence)
      return underFence(fence, () => insertRow<Row>(values))
    },
  }
}

/** `pruneFences` on SQLite: delete the rows of `fences` no write raised for `olderThanMs`; how many went. */
export async function pruneSqliteFences(
  db: AnySQLiteDatabase,
  fences: unknown,
  olderThanMs: number,
): Promise<number> {
  checkFencesTable(fences, 'sqlite')
  const table = fences as SQLiteFencesTable
  const deleted = await db
    .delete(table)
    .where(lt(table.updatedAt, sql`${SQLITE_NOW_MS} - ${Math.ceil(olderThanMs)}`))
    .returning({ lockKey: table.lockKey })
  return deleted.length
}
