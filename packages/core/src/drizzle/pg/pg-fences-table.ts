import { bigint, pgSchema, pgTable, text, timestamp } from 'drizzle-orm/pg-core'
import { DEFAULT_FENCES_TABLE } from '../common/fences.js'
import { quoteIdent } from './pg-unique-index-fix.js'

/** The columns of a Postgres fences table. */
function fenceColumns() {
  return {
    /** The lock key (the Redis key of the lock) whose owners' tokens the row keeps. */
    lockKey: text('lock_key').primaryKey(),
    /** The largest token a fenced write of this lock key has committed with. */
    token: bigint('token', { mode: 'number' }).notNull(),
    /**
     * The token before the last raise (NULL for a new row): how a fenced write tells that the fence moved
     * after its statement's snapshot was taken, so that its read of the key may be stale.
     */
    prevToken: bigint('prev_token', { mode: 'number' }),
    /** When a write last raised it: what `pruneFences` goes by. */
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
    '  prev_token bigint,\n' +
    '  updated_at timestamptz not null default now()\n' +
    ')'
  )
}
