import { setTimeout as delay } from 'node:timers/promises'
import { type Column, type SQL, sql } from 'drizzle-orm'
import { LockInTransactionError, LockUnavailableError } from '../../errors.js'
import { MAX_LOCK_TIMEOUT_MS } from '../../store-types.js'
import type { AdvisoryLock, GetOrCreateResult } from '../../types.js'
import { inheritedFields, insertParameters, valuesForDrizzle } from '../common/insert-parameters.js'
import { keyParams, keyShape, keyWhere } from '../common/key-where.js'
import { rowsOf } from './pg-catalog.js'
import type { AnyPgDatabase } from './pg-database.js'
import { pgDriverError } from './pg-errors.js'
import { insertUnlessFoundQuery, type PgInserterContext } from './pg-insert.js'
import { keyRewrittenOf, rowSkipped } from './pg-key-check.js'
import { directly, type Prepared, type RawPreparer, rawPreparer, statementName } from './pg-session.js'

/** What {@link pgAdvisoryLock} needs of its store. */
export interface PgAdvisoryLockContext extends PgInserterContext {
  /** The table's fields, in the order `mapRows` expects its columns. */
  readonly fields: readonly string[]
  /** Rows as arrays of every column in `fields` order → rows. */
  readonly mapRows: (rows: unknown[][]) => unknown[]
  /** The table as messages name it. */
  readonly label: string
  /** Whether the store's `db` is a transaction (the caller's): then the lock is taken in it. */
  readonly inTransaction: boolean
}

/** The find-or-insert statement of one shape, rendered once, prepared on whichever session runs it. */
interface Rendered {
  readonly sql: string
  readonly params: unknown[]
  readonly name: string
}

/** The isolation levels under which each statement takes a new snapshot (Postgres runs READ UNCOMMITTED as READ COMMITTED). */
const READ_COMMITTED = new Set(['read committed', 'read uncommitted'])

/** Thrown inside our own transaction when it is not READ COMMITTED: roll back, and open one that is. */
class NotReadCommitted extends Error {}

/** The first wait between two tries of the lock inside a caller's transaction, in milliseconds. */
const FIRST_RETRY_MS = 2
/** The longest wait between two tries. */
const LAST_RETRY_MS = 50

/**
 * `Store.findOrInsertUnderAdvisoryLock` for a Postgres store. In a transaction of its own (READ COMMITTED: see
 * inOwnTransaction for a database whose default is not):
 *
 * ```sql
 * begin
 * select current_setting('transaction_isolation')
 *   from (select pg_advisory_xact_lock($id) from (select set_config('lock_timeout', '<ms>ms', true)) as s) as l
 * with created as (insert into t (…) select $1, … where not exists (select 1 from t where key)
 *     and <read committed> returning …)
 *   select 1, created.* from created union all (select 0, …, null from t where key limit 1)
 * commit
 * ```
 *
 * The lock statement waits in Postgres's lock queue (first come, first served) and fails with 55P03 once
 * `lock_timeout` passes: `LockUnavailableError`, the transaction rolled back. The find-or-insert is a new
 * statement, so under READ COMMITTED a new snapshot, taken after the lock was granted: the lock's previous
 * holder released it after its commit became visible, so its row is seen. Both halves of the union read that
 * one snapshot: a row found, or the row inserted, never both.
 *
 * In a caller's transaction (the store bound to one) there is no `BEGIN` nor `COMMIT`: the lock is held to that
 * transaction's end, which is what makes the created row safe from a second creator until it commits. A
 * failed statement would abort the caller's transaction, so the lock is not waited for in Postgres: the
 * statement is `pg_try_advisory_xact_lock`, retried with a growing pause (2 ms up to 50 ms) until
 * `timeoutMs`, then `LockUnavailableError` with the transaction intact. The same statement reads the
 * transaction's isolation level, and takes no lock unless it is READ COMMITTED: under REPEATABLE READ or
 * SERIALIZABLE the snapshot was taken before the lock (at the transaction's first statement), and could hide
 * the row another creator committed since; that is refused with `LockInTransactionError`.
 */
export function pgAdvisoryLock(context: PgAdvisoryLockContext) {
  const { db, table, columns, label, mapRows, fields, casts } = context
  const inherited = inheritedFields(columns)
  const column = (field: string) => columns[field] as Column
  const ownPreparer = rawPreparer(db)
  const rendered = new Map<string, Rendered | null>()
  // In a caller's transaction the store's own db is that transaction: its statements are prepared once.
  const prepared = new Map<string, Prepared>()

  /** Rows of the find-or-insert → `{ row, created }`; `undefined` when no row came back. */
  const outcome = (rows: unknown[][]): (GetOrCreateResult<unknown> | undefined)[] =>
    rows.map((row) => ({
      created: Number(row[0]) === 1,
      row: mapRows([row.slice(1, 1 + fields.length)])[0],
    }))

  /** The find-or-insert of this shape; `null` where none can be prepared (no column takes a value). */
  function renderedFor(
    key: Record<string, unknown>,
    parameters: NonNullable<ReturnType<typeof insertParameters>>,
    raw: RawPreparer,
  ): Rendered | null {
    const id = `${parameters.shape}|${keyShape(key).shape}`
    let statement = rendered.get(id)
    if (statement === undefined) {
      // Nothing is inserted outside READ COMMITTED, whose new snapshot per statement is what makes the lock
      // enough: both paths check the level before sending this statement, and this guard holds regardless.
      const created = insertUnlessFoundQuery(
        context,
        key,
        parameters,
        sql`current_setting('transaction_isolation') in ('read committed', 'read uncommitted')`,
      )
      statement = null
      if (created) {
        const found = sql`select 0, ${sql.join(
          fields.map((field) => column(field)),
          sql`, `,
        )}, null::int from ${table} where ${keyWhere(column, key, { cast: casts, prefix: 'key:' })} limit 1`
        const query: SQL = sql`with created as (${created}) select 1, created.* from created union all (${found})`
        const text = raw.dialect.sqlToQuery(query)
        statement = { ...text, name: statementName(text.sql) }
      }
      rendered.set(id, statement)
    }
    return statement
  }

  /** The find-or-insert on `on` (our transaction, or the caller's), prepared; undefined where none can be. */
  function findOrInsertStatement(
    on: AnyPgDatabase,
    key: Record<string, unknown>,
    parameters: ReturnType<typeof insertParameters>,
  ): Prepared | undefined {
    const raw = on === db ? ownPreparer : rawPreparer(on)
    const text = raw && parameters && renderedFor(key, parameters, raw)
    if (!raw || !text) return undefined
    let statement = on === db ? prepared.get(text.name) : undefined
    if (!statement) {
      const metadata = { type: 'insert' as const, tables: [label] }
      statement = directly(raw._.session.prepareQuery(text, undefined, text.name, true, outcome, metadata))
      if (on === db) prepared.set(text.name, statement)
    }
    return statement
  }

  /** The lock statement, rendered once: `lock:id` (a bigint as text) and `lock:timeout` (`'<ms>ms'`). */
  let lockText: Rendered | undefined

  /**
   * `pg_advisory_xact_lock`, with `lock_timeout` set for the transaction first (the subqueries hold volatile
   * functions, so Postgres runs them in this order), answering the transaction's isolation level.
   */
  function lockStatement(on: AnyPgDatabase): Prepared {
    const raw = rawPreparer(on)
    if (!raw) {
      return {
        execute: async (params = {}) =>
          rowsOf(
            await on.execute(
              sql`select current_setting('transaction_isolation') as isolation from (select pg_advisory_xact_lock(${params['lock:id']}::bigint) from (select set_config('lock_timeout', ${params['lock:timeout']}, true)) as s) as l`,
            ),
          ).map((row) => [row.isolation]),
      }
    }
    if (!lockText) {
      const text = raw.dialect.sqlToQuery(
        sql`select current_setting('transaction_isolation') from (select pg_advisory_xact_lock(${sql.placeholder('lock:id')}::bigint) from (select set_config('lock_timeout', ${sql.placeholder('lock:timeout')}, true)) as s) as l`,
      )
      lockText = { ...text, name: statementName(text.sql) }
    }
    return directly(raw._.session.prepareQuery(lockText, undefined, lockText.name, true, (rows) => rows))
  }

  /** The answer of the find-or-insert statement, or its error in our terms. */
  async function answerOf<Row>(
    running: Promise<unknown>,
    key: Record<string, unknown>,
  ): Promise<GetOrCreateResult<Row>> {
    let answer: GetOrCreateResult<Row> | undefined
    try {
      ;[answer] = (await running) as (GetOrCreateResult<Row> | undefined)[]
    } catch (error) {
      throw keyRewrittenOf(error, context.store, key) ?? error
    }
    if (!answer) throw rowSkipped(label, context.store)
    return answer
  }

  /** A read, then an insert unless found: where no statement can be prepared (a `$defaultFn` made SQL). */
  async function readThenInsert<Row>(
    on: AnyPgDatabase,
    key: Record<string, unknown>,
    values: Record<string, unknown>,
  ): Promise<GetOrCreateResult<Row>> {
    const [found] = await on
      .select()
      .from(table)
      .where(keyWhere(column, key, { cast: casts, inline: true }))
      .limit(1)
    if (found !== undefined) return { row: found as Row, created: false }
    const [row] = await on.insert(table).values(valuesForDrizzle(values, inherited)).returning()
    if (row === undefined) throw rowSkipped(label, context.store)
    return { row: row as Row, created: true }
  }

  const unavailable = (lock: AdvisoryLock, where: string, cause?: unknown) =>
    new LockUnavailableError(
      `Could not take the advisory lock ${lock.id} (pg_advisory_xact_lock) on ${label} within ${lock.timeoutMs} ` +
        `ms: another transaction creating this key (or one whose key hashes alike) held it all that time. ` +
        `Nothing was written${where}; the call may be retried.`,
      cause === undefined ? undefined : { cause },
    )

  /**
   * Whether a transaction opened without options is READ COMMITTED here (the database's, role's or
   * connection's `default_transaction_isolation`): assumed until a lock statement says otherwise, since asking
   * for it costs a round trip on postgres.js (a `SET TRANSACTION` of its own).
   */
  let readCommittedByDefault = true

  /**
   * In a transaction of our own: the lock, waiting in Postgres's lock queue bounded by `lock_timeout`, then,
   * once it has returned, the find-or-insert: a new statement, so a snapshot taken with the lock held. The lock
   * statement also says which isolation level the transaction has: one that is not READ COMMITTED (a database
   * whose default is REPEATABLE READ) is rolled back and run again as READ COMMITTED, which this store's later
   * calls then ask for at once (not by default: on postgres.js that is a `SET TRANSACTION`, one round trip
   * more). The find-or-insert inserts nothing outside READ COMMITTED besides.
   */
  async function inOwnTransaction<Row>(
    key: Record<string, unknown>,
    values: Record<string, unknown>,
    lock: AdvisoryLock,
  ): Promise<GetOrCreateResult<Row>> {
    const parameters = insertParameters(columns, values)
    const lockParams = { 'lock:id': String(lock.id), 'lock:timeout': `${lock.timeoutMs}ms` }
    for (let attempt = 1; ; attempt++) {
      const config = readCommittedByDefault ? undefined : ({ isolationLevel: 'read committed' } as const)
      try {
        return await db.transaction(async (tx) => {
          const on = tx as unknown as AnyPgDatabase
          let isolation: unknown
          try {
            isolation = ((await lockStatement(on).execute(lockParams)) as unknown[][])[0]?.[0]
          } catch (error) {
            const driver = pgDriverError(error)
            if (driver?.code === '55P03') throw unavailable(lock, '', driver)
            throw error
          }
          if (!READ_COMMITTED.has(String(isolation))) throw new NotReadCommitted()
          const statement = findOrInsertStatement(on, key, parameters)
          if (!statement) return readThenInsert<Row>(on, key, values)
          return answerOf<Row>(
            statement.execute({ ...parameters?.params, ...keyParams(column, key, 'key:') }),
            key,
          )
        }, config)
      } catch (error) {
        if (!(error instanceof NotReadCommitted) || attempt > 1) throw error
        readCommittedByDefault = false
      }
    }
  }

  /** In the caller's transaction: try, pause, try again until `timeoutMs`; never a failed statement. */
  async function lockInCallers(lock: AdvisoryLock): Promise<void> {
    const deadline = performance.now() + lock.timeoutMs
    let pause = FIRST_RETRY_MS
    for (;;) {
      const result = await db.execute(
        sql`select case when current_setting('transaction_isolation') in ('read committed', 'read uncommitted') then pg_try_advisory_xact_lock(${String(lock.id)}::bigint)::int end as locked`,
      )
      const locked = lockedOf(result)
      if (locked === true) return
      if (locked === null) {
        throw new LockInTransactionError(
          `${context.store} is bound to a transaction at REPEATABLE READ or SERIALIZABLE: its snapshot was taken ` +
            'before the advisory lock, and could hide the row another creator of the key committed since, so ' +
            'the lock would not keep a second row out. Nothing was written and no lock was taken; the ' +
            'transaction is intact. Run the call in a READ COMMITTED transaction, or with a store over the ' +
            'database itself (drizzleStore(db, table)), whose transaction the strategy opens.',
        )
      }
      const left = deadline - performance.now()
      if (left <= 0) throw unavailable(lock, ' and the transaction is intact')
      await delay(Math.min(left, pause * (0.5 + Math.random())))
      pause = Math.min(LAST_RETRY_MS, pause * 2)
    }
  }

  return async function findOrInsertUnderAdvisoryLock<Row>(
    key: Record<string, unknown>,
    values: Record<string, unknown>,
    lock: AdvisoryLock,
  ): Promise<GetOrCreateResult<Row>> {
    checkLock(lock)
    const reading = context.factsFor(key)
    if (reading) await reading
    if (!context.inTransaction) return inOwnTransaction<Row>(key, values, lock)
    await lockInCallers(lock)
    const parameters = insertParameters(columns, values)
    const statement = findOrInsertStatement(db, key, parameters)
    if (!statement) return readThenInsert<Row>(db, key, values)
    return answerOf<Row>(statement.execute({ ...parameters?.params, ...keyParams(column, key, 'key:') }), key)
  }
}

/** What the try statement answered: `true` (taken), `false` (busy), `null` (not READ COMMITTED: not tried). */
function lockedOf(result: unknown): boolean | null {
  const value = rowsOf(result)[0]?.locked
  return value === null || value === undefined ? null : Number(value) === 1
}

/** @throws TypeError for a lock that is not a 64-bit id and a positive whole number of milliseconds. */
function checkLock(lock: AdvisoryLock): void {
  const { id, timeoutMs } = lock ?? {}
  if (typeof id !== 'bigint' || id < -(2n ** 63n) || id >= 2n ** 63n) {
    throw new TypeError('findOrInsertUnderAdvisoryLock: lock.id must be a signed 64-bit bigint.')
  }
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_LOCK_TIMEOUT_MS) {
    throw new TypeError(
      `findOrInsertUnderAdvisoryLock: lock.timeoutMs must be a whole number of milliseconds from 1 to ${MAX_LOCK_TIMEOUT_MS}.`,
    )
  }
}
