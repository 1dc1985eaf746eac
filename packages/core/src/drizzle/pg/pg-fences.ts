import { type Column, is, lte, type SQL, sql } from 'drizzle-orm'
import { PgTable } from 'drizzle-orm/pg-core'
import { LockLostError } from '../../errors.js'
import type { Fence } from '../../types.js'
import { checkFence, checkFencesTable, type StoreFencing } from '../common/fences.js'
import { inheritedFields, insertParameters, valuesForDrizzle } from '../common/insert-parameters.js'
import { keyParams, keyShape, keyWhere } from '../common/key-where.js'
import type { AnyPgDatabase } from './pg-database.js'
import { sqlState } from './pg-errors.js'
import type { PgFencesTable } from './pg-fences-table.js'
import { insertWhereQuery, type PgInserterContext } from './pg-insert.js'
import { keyRewrittenOf } from './pg-key-check.js'
import { type Prepared, prepareMapped, rawPreparer } from './pg-session.js'

/** What {@link pgFencing} needs of its store. */
export interface PgFencingContext extends PgInserterContext {
  /** The table's fields, in the order `mapRows` expects its columns. */
  readonly fields: readonly string[]
  /** Rows as arrays of every column in `fields` order → rows. */
  readonly mapRows: (rows: unknown[][]) => unknown[]
  /** The table as messages name it. */
  readonly label: string
}

/** What the fenced create's statement answers, before its row is mapped. */
interface FencedOutcome {
  /** The statement's snapshot has a row with the key: nothing was written, the fence not raised. */
  readonly found: boolean
  /** The fence was raised to (or already held) this token. */
  readonly raised: boolean
  /** No other write moved the fence between this statement's snapshot and its raise: its read is current. */
  readonly fresh: boolean
  /** The new row's columns, in `fields` order, when it inserted one. */
  readonly row: unknown[] | undefined
}

/** How many times a fenced create runs again when another write moved the fence after its snapshot. */
const STALE_ATTEMPTS = 3

/**
 * Fenced writes through `fences` (a fences table) for the store of `context`. A fenced create is one
 * statement, so one round trip and no transaction to open:
 *
 * ```sql
 * with raised as (insert into fences as fence (lock_key, token)
 *        select $lk, $tk where not exists (select 1 from t where key)   -- as of the statement's snapshot
 *        on conflict (lock_key) do update set token = excluded.token, prev_token = fence.token, updated_at = now()
 *        where fence.token <= excluded.token returning fence.prev_token as prev),
 *      fresh as (select 1 from raised                                   -- the token the snapshot sees
 *        where prev is not distinct from (select token from fences where lock_key = $lk)),
 *      created as (insert into t (…) select … where exists (select 1 from fresh) returning …)
 * select case when exists (select 1 from raised) then 0                 -- found: read only if nothing raised
 *          when exists (select 1 from t where key) then 1 else 0 end,
 *        exists (select 1 from raised), exists (select 1 from fresh), exists (select 1 from created), created.*
 * from (select 1) one left join created on true
 * ```
 *
 * The key is read once on the way to a create (in the raise's `where`); the insert needs no read of its own,
 * as a raise that is fresh ran in a snapshot without the row. An empty raise is told apart (found, or a newer
 * owner's token) by a second read in the same snapshot, which Postgres runs only then (an init plan of the
 * `case`). One read fewer than reading first in a CTE of its own: about a tenth of the statement's time here.
 *
 * A key whose row the snapshot sees is found, and nothing is written: no fence raised, none checked (a read
 * needs no lock, and a paused holder that finds the row writes nothing a newer owner could be fenced from).
 * So a create that finds its row costs a read, not a write: a lock strategy may try the create before any
 * read for a key it guesses new, and a wrong guess takes no row lock and leaves no dead tuple.
 *
 * Otherwise the raise takes the fence row's lock (every writer of the lock key waits for it) and compares
 * with the newest committed token, whatever the snapshot: no row back means a newer owner: `LockLostError`.
 * The read of the key uses the statement's snapshot, taken before that wait; `fresh` says whether it can be
 * trusted: every fenced create of the key moves the fence in the statement that inserts, so if the token the
 * raise replaced is the one the snapshot sees, no fenced row of the key was committed after the snapshot.
 * Else the statement inserts nothing (its raise stands), and runs again: a new snapshot, and the same token,
 * which the raise accepts (`<=`: tokens are unique to one owner's write, so an equal one is this write's
 * own).
 */
export function pgFencing(context: PgFencingContext, fences: unknown): StoreFencing {
  if (!is(fences, PgTable)) {
    throw new TypeError(
      'drizzleStore: options.fences must be a pg-core table, as pgFencesTable() defines it.',
    )
  }
  checkFencesTable(fences, 'pg')
  const { db, table, columns, label } = context
  const ledger = fences as PgFencesTable
  const inherited = inheritedFields(columns)
  const column = (field: string) => columns[field] as Column
  const preparer = rawPreparer(db)
  const statements = new Map<string, Prepared>()
  const name = (col: Column) => sql.identifier(col.name)
  const lockKey = sql.placeholder('fence:lockKey')
  const token = sql.placeholder('fence:token')
  // Only where the statement's snapshot has no row with the key.
  const raise = (
    where: SQL | undefined,
  ) => sql`insert into ${ledger} as fence (${name(ledger.lockKey)}, ${name(ledger.token)})
    select ${lockKey}, ${token} where not exists (select 1 from ${table} where ${where})
    on conflict (${name(ledger.lockKey)}) do update set ${name(ledger.token)} = excluded.${name(ledger.token)},
      ${name(ledger.prevToken)} = fence.${name(ledger.token)}, ${name(ledger.updatedAt)} = now()
    where fence.${name(ledger.token)} <= excluded.${name(ledger.token)}
    returning fence.${name(ledger.prevToken)} as prev`
  const seen = sql`select ${name(ledger.token)} from ${ledger} where ${name(ledger.lockKey)} = ${lockKey}`

  const lost = (fence: Fence) =>
    new LockLostError(
      `The fence of lock ${fence.lockKey} holds a larger token than this writer's (${fence.token}): the lock ` +
        `expired while this writer was paused and a newer owner took it. Nothing was written to ${label}.`,
    )

  /** The one-statement create for this shape, prepared once; undefined where none can be prepared. */
  function createStatement(
    key: Record<string, unknown>,
    parameters: NonNullable<ReturnType<typeof insertParameters>>,
  ): Prepared | undefined {
    if (!preparer) return undefined
    const id = `${parameters.shape}|${keyShape(key).shape}`
    let statement = statements.get(id)
    if (!statement) {
      const created = insertWhereQuery(context, key, parameters, sql`exists (select 1 from fresh)`)
      if (!created) return undefined
      const where = keyWhere(column, key, { cast: context.casts, prefix: 'key:' })
      const query = sql`with raised as (${raise(where)}),
        fresh as (select 1 from raised where prev is not distinct from (${seen})), created as (${created})
        select case when exists (select 1 from raised) then 0
            when exists (select 1 from ${table} where ${where}) then 1 else 0 end,
          (exists (select 1 from raised))::int, (exists (select 1 from fresh))::int,
          (exists (select 1 from created))::int, created.*
        from (select 1) as one left join created on true`
      const outcome = (rows: unknown[][]): FencedOutcome[] =>
        rows.map((row) => ({
          found: Number(row[0]) > 0,
          raised: Number(row[1]) > 0,
          fresh: Number(row[2]) > 0,
          row: Number(row[3]) > 0 ? row.slice(4) : undefined,
        }))
      statement = prepareMapped(preparer, query, outcome, label)
      statements.set(id, statement)
    }
    return statement
  }

  /** The fence raised, then `write`, in one READ COMMITTED transaction; for what one statement cannot do. */
  function underFence<T>(fence: Fence, write: (tx: AnyPgDatabase) => Promise<T>): Promise<T> {
    return db.transaction(
      async (tx) => {
        const raised = await tx
          .insert(ledger)
          .values({ lockKey: fence.lockKey, token: fence.token })
          .onConflictDoUpdate({
            target: ledger.lockKey,
            set: {
              token: sql`excluded.${name(ledger.token)}`,
              prevToken: sql`${ledger.token}`,
              updatedAt: sql`now()`,
            },
            setWhere: lte(ledger.token, sql`excluded.${name(ledger.token)}`),
          })
          .returning({ token: ledger.token })
        if (raised.length === 0) throw lost(fence)
        return write(tx as unknown as AnyPgDatabase)
      },
      { isolationLevel: 'read committed' },
    )
  }

  async function createInTransaction<Row>(
    key: Record<string, unknown>,
    values: Record<string, unknown>,
    fence: Fence,
  ): Promise<Row | undefined> {
    const found = async (conn: AnyPgDatabase) =>
      (
        await conn
          .select({ one: sql<number>`1` })
          .from(table)
          .where(keyWhere(column, key, { cast: context.casts, inline: true }))
          .limit(1)
      ).length > 0
    // A row found writes nothing, as the one statement's `found` (no fence raised, none checked); else the
    // read again under the fence, which a row committed since would show.
    if (await found(db)) return undefined
    return underFence(fence, async (tx) => {
      if (await found(tx)) return undefined
      const rows = await tx.insert(table).values(valuesForDrizzle(values, inherited)).returning()
      return rows[0] as Row
    })
  }

  return {
    async create<Row>(key: Record<string, unknown>, values: Record<string, unknown>, fence: Fence) {
      checkFence(fence)
      const reading = context.factsFor(key)
      if (reading) await reading
      const parameters = insertParameters(columns, values)
      const statement = parameters && createStatement(key, parameters)
      if (!statement || !parameters) return createInTransaction<Row>(key, values, fence)
      const params = {
        ...parameters.params,
        ...keyParams(column, key, 'key:'),
        'fence:lockKey': fence.lockKey,
        'fence:token': fence.token,
      }
      for (let attempt = 1; attempt <= STALE_ATTEMPTS; attempt++) {
        let outcome: FencedOutcome | undefined
        try {
          ;[outcome] = (await statement.execute(params)) as FencedOutcome[]
        } catch (error) {
          // A database whose default isolation is REPEATABLE READ or SERIALIZABLE refuses the raise when
          // another writer moved the fence after this statement's snapshot (40001): the same case as a stale
          // read, and the same cure: a new statement, with a new snapshot.
          if (sqlState(error) === '40001') continue
          throw keyRewrittenOf(error, context.store, key) ?? error
        }
        if (outcome?.found) return undefined
        if (!outcome?.raised) throw lost(fence)
        if (outcome.fresh) return outcome.row && (context.mapRows([outcome.row])[0] as Row)
      }
      throw new LockLostError(
        `The fence of lock ${fence.lockKey} moved under this writer ${STALE_ATTEMPTS} times in a row: other owners ` +
          `keep writing. Nothing was written to ${label}; the call may be retried.`,
      )
    },

    insert<Row>(values: Record<string, unknown>, fence: Fence) {
      checkFence(fence)
      return underFence(fence, async (tx) => {
        const rows = await tx.insert(table).values(valuesForDrizzle(values, inherited)).returning()
        return rows[0] as Row
      })
    },
  }
}
