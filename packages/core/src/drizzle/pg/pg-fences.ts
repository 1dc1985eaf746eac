import { lt, sql } from 'drizzle-orm'
import { bigint, type PgTable, pgSchema, pgTable, text, timestamp } from 'drizzle-orm/pg-core'
import { LockLostError } from '../../errors.js'
import type { Fence } from '../../types.js'
import { checkFence, DEFAULT_FENCES_TABLE } from '../common/fences.js'
import type { AnyPgDatabase } from './pg-database.js'
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

/** Fenced writes on one Postgres database through one fences table. */
export interface PgFencing {
  /**
   * In one READ COMMITTED transaction: raise the fence of `fence.lockKey` to `fence.token` (`INSERT … ON
   * CONFLICT (lock_key) DO UPDATE … WHERE token < excluded.token RETURNING`), or throw `LockLostError` when it
   * holds that token or a larger one; then `write(tx)`, while the fence row's lock (held to the commit) makes
   * every other writer of the lock key wait. Each of `write`'s statements takes a new snapshot, after that
   * wait: it sees every row the previous fence holders committed.
   */
  run<T>(fence: Fence, write: (tx: AnyPgDatabase) => Promise<T>): Promise<T>
}

/** {@link PgFencing} over `fences` (checked to be a fences table) on `db`, for the store labelled `label`. */
export function pgFencing(db: AnyPgDatabase, fences: PgTable, label: string): PgFencing {
  const table = fences as PgFencesTable
  return {
    run(fence, write) {
      const { token, lockKey } = checkFence(fence)
      return db.transaction(
        async (tx) => {
          const raised = await tx
            .insert(table)
            .values({ lockKey, token })
            .onConflictDoUpdate({
              target: table.lockKey,
              set: { token: sql`excluded.token`, updatedAt: sql`now()` },
              setWhere: lt(table.token, sql`excluded.token`),
            })
            .returning({ token: table.token })
          if (raised.length === 0) {
            throw new LockLostError(
              `The fence of lock ${lockKey} holds a token at least as large as this writer's (${token}): the lock ` +
                `expired while this writer was paused and a newer owner took it. Nothing was written to ${label}.`,
            )
          }
          return write(tx as unknown as AnyPgDatabase)
        },
        { isolationLevel: 'read committed' },
      )
    },
  }
}
