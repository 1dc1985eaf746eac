import { type Column, is, lt, sql } from 'drizzle-orm'
import { bigint, PgTable, pgSchema, pgTable, text, timestamp } from 'drizzle-orm/pg-core'
import { LockLostError } from '../../errors.js'
import type { Fence } from '../../types.js'
import { checkFence, checkFencesTable, DEFAULT_FENCES_TABLE } from '../common/fences.js'
import { inheritedFields, insertParameters, valuesForDrizzle } from '../common/insert-parameters.js'
import { keyParams, keyWhere } from '../common/key-where.js'
import type { AnyPgDatabase } from './pg-database.js'
import { insertUnlessFoundQuery, type PgInserterContext } from './pg-insert.js'
import { keyRewrittenOf } from './pg-key-check.js'
import { prepareMapped, rawPreparer } from './pg-session.js'
import { quoteIdent } from './pg-unique-index-fix.js'

/** The columns of a Postgres fences table. */
function fenceColumns() {
  return {
    /** The lock key (the Redis key of the lock) whose owners' tokens the row keeps. */
    lockKey: text('lock_key').primaryKey(),
    /** The largest token a fenced write of this lock key has committed with. */
    token: bigint('token', { mode: 'number' }).notNull(),
    /** When a write last raised it: what {@link pruneFences} goes by. */
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  }
}

/**
 * The drizzle definition of the fences table on Postgres, for `drizzleStore(db, table, { fences })`: put it
 * in your schema so that drizzle-kit creates it, or run {@link pgFencesSql}'s statement. One table serves
 * every store of the database.
 *
 * @param name - the table's name, `getorcreate_fences` by default.
 * @param schema - its schema; by default the one `search_path` resolves, as for any `pgTable`.
 */
export function pgFencesTable(name: string = DEFAULT_FENCES_TABLE, schema?: string) {
  return schema === undefined ? pgTable(name, fenceColumns()) : pgSchema(schema).table(name, fenceColumns())
}

/** A Postgres fences table, as {@link pgFencesTable} defines it. */
export type PgFencesTable = ReturnType<typeof pgFencesTable>

/**
 * The statement that creates the fences table on Postgres, for a migration; the same table as
 * {@link pgFencesTable}.
 */
export function pgFencesSql(name: string = DEFAULT_FENCES_TABLE, schema?: string): string {
  const table = schema === undefined ? quoteIdent(name) : `${quoteIdent(schema)}.${quoteIdent(name)}`
  return (
    `create table if not exists ${table} (\n` +
    '  lock_key text primary key,\n' +
    '  token bigint not null,\n' +
    '  updated_at timestamptz not null default now()\n' +
    ')'
  )
}

/** What {@link pgFencing} needs of its store. */
export interface PgFencingContext extends PgInserterContext {
  /** The table's fields, in the order `mapRows` expects its columns. */
  readonly fields: readonly string[]
  /** Rows as arrays of every column in `fields` order → rows. */
  readonly mapRows: (rows: unknown[][]) => unknown[]
  /** The table as messages name it. */
  readonly label: string
}

/** Fenced writes of one store through one fences table. */
export interface PgFencing {
  /**
   * The fenced create: in one READ COMMITTED transaction, raise the fence of `fence.lockKey` to `fence.token`
   * (`INSERT … ON CONFLICT (lock_key) DO UPDATE … WHERE token < excluded.token RETURNING`), and insert the row
   * unless a read of the key finds one and unless the fence holds another token than ours
   * ({@link insertUnlessFoundQuery}). The two statements are sent together (postgres.js pipelines them: one
   * round trip between BEGIN and COMMIT); Postgres runs them in order, and the insert's snapshot is taken
   * after the fence row's lock was granted, so its read sees every row the earlier holders committed. No
   * fence row back: `LockLostError`, and the transaction rolls back. Returns the new row, or `undefined`.
   */
  create<Row>(
    key: Record<string, unknown>,
    values: Record<string, unknown>,
    fence: Fence,
  ): Promise<Row | undefined>
  /** An unconditional insert under the fence: the fence raised, then the insert, in one transaction. */
  insert<Row>(values: Record<string, unknown>, fence: Fence): Promise<Row>
}

/** {@link PgFencing} over `fences` (a fences table) for the store of `context`. */
export function pgFencing(context: PgFencingContext, fences: unknown): PgFencing {
  if (!is(fences, PgTable)) {
    throw new TypeError(
      'drizzleStore: options.fences must be a pg-core table, as pgFencesTable() defines it.',
    )
  }
  checkFencesTable(fences, 'pg')
  const { db, table, columns, label } = context
  const ledger = fences as PgFencesTable
  const inherited = inheritedFields(columns)
  const ours = sql`exists (select 1 from ${ledger} where ${ledger.lockKey} = ${sql.placeholder('fence:lockKey')} and ${ledger.token} = ${sql.placeholder('fence:token')})`

  /** The fence raised and `write` sent at once in one transaction; `write`'s rows, or LockLostError. */
  function underFence<T>(fence: Fence, write: (tx: AnyPgDatabase) => Promise<T>): Promise<T> {
    const { token, lockKey } = checkFence(fence)
    return db.transaction(
      async (tx) => {
        const raising = tx
          .insert(ledger)
          .values({ lockKey, token })
          .onConflictDoUpdate({
            target: ledger.lockKey,
            set: { token: sql`excluded.token`, updatedAt: sql`now()` },
            setWhere: lt(ledger.token, sql`excluded.token`),
          })
          .returning({ token: ledger.token })
          .execute()
        const writing = write(tx as unknown as AnyPgDatabase)
        const [raised, written] = await Promise.allSettled([raising, writing])
        if (raised.status === 'rejected') throw raised.reason
        if (raised.value.length === 0) {
          throw new LockLostError(
            `The fence of lock ${lockKey} holds a token at least as large as this writer's (${token}): the ` +
              `lock expired while this writer was paused and a newer owner took it. Nothing was written to ${label}.`,
          )
        }
        if (written.status === 'rejected') throw written.reason
        return written.value
      },
      { isolationLevel: 'read committed' },
    )
  }

  return {
    async create<Row>(key: Record<string, unknown>, values: Record<string, unknown>, fence: Fence) {
      const reading = context.factsFor(key)
      if (reading) await reading
      const parameters = insertParameters(columns, values)
      const query = parameters && insertUnlessFoundQuery(context, key, parameters, ours)
      try {
        return await underFence(fence, async (tx) => {
          const preparer = rawPreparer(tx)
          if (query && preparer && parameters) {
            const statement = prepareMapped(preparer, query, context.mapRows, label)
            const params = {
              ...parameters.params,
              ...keyParams((field) => columns[field] as Column, key, 'key:'),
              'fence:lockKey': fence.lockKey,
              'fence:token': fence.token,
            }
            return ((await statement.execute(params)) as Row[])[0]
          }
          // A `$defaultFn` returned SQL, or no column takes a value: the read, then the insert, after the fence.
          const found = await tx
            .select({ one: sql<number>`1` })
            .from(table)
            .where(keyWhere((field) => columns[field] as Column, key, { cast: context.casts, inline: true }))
            .limit(1)
          if (found.length > 0) return undefined
          const rows = await tx.insert(table).values(valuesForDrizzle(values, inherited)).returning()
          return rows[0] as Row
        })
      } catch (error) {
        throw keyRewrittenOf(error, context.store, key) ?? error
      }
    },

    insert<Row>(values: Record<string, unknown>, fence: Fence) {
      return underFence(fence, async (tx) => {
        const rows = await tx.insert(table).values(valuesForDrizzle(values, inherited)).returning()
        return rows[0] as Row
      })
    },
  }
}
