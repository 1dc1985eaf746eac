import { type Column, type SQL, sql } from 'drizzle-orm'
import { KeyRewrittenError } from '../../errors.js'
import { databaseColumnName } from '../common/columns.js'
import { type KeyCast, keyShape, keyWhere } from '../common/key-where.js'
import { rowsOf } from './pg-catalog.js'
import type { AnyPgDatabase } from './pg-database.js'
import { pgDriverError } from './pg-errors.js'

/** What the check's failure says, so that its error can be told from any other. */
const MARKER = 'getorcreate:KEY_REWRITTEN'

/** The field under which {@link pgKeyCheck} is returned: always `null` when the statement succeeds. */
export const KEY_CHECK_FIELD = '__getorcreate_key_check'

/**
 * An expression for an INSERT's `RETURNING` list that fails the statement (so the insert is undone) unless
 * the row as stored compares equal to `key` as a find compares it ({@link keyWhere} with the find's casts; the
 * values as placeholders `key:<field>`, or `inline`): a trigger that runs before each row may have rewritten
 * a key column. It casts a marker and the stored key columns, as JSON, to integer, an error (22P02) that only
 * a rewritten row reaches; the text depends on the row, so the planner cannot fold it.
 */
export function pgKeyCheck(
  db: AnyPgDatabase,
  column: (field: string) => Column,
  key: Record<string, unknown>,
  casts: (field: string) => KeyCast | undefined,
  inline = false,
): SQL {
  const where = keyWhere(column, key, inline ? { cast: casts, inline } : { cast: casts, prefix: 'key:' })
  const stored = sql.join(
    keyShape(key).names.map((field) => sql`${databaseColumnName(db, column(field))}::text, ${column(field)}`),
    sql`, `,
  )
  return sql`case when ${where ?? sql`true`} then null else (${MARKER} || ' ' || json_build_object(${stored})::text)::int end`
}

/** The error of an `insert` for a key that stored no row: a BEFORE trigger returned NULL. */
export function rowSkipped(label: string, store: string): KeyRewrittenError {
  return new KeyRewrittenError(
    `The insert into ${label} stored no row: a trigger that runs before each insert skipped it. Nothing was ` +
      `written; make the trigger let the row through, or normalize the key as it expects.`,
    { store },
  )
}

/** The `KeyRewrittenError` for `error` when it is {@link pgKeyCheck}'s failure; else `undefined`. */
export function keyRewrittenOf(
  error: unknown,
  store: string,
  key: Record<string, unknown>,
): KeyRewrittenError | undefined {
  // The message of the driver's error (`invalid input syntax for type integer: "<MARKER> {…}"`), not of
  // drizzle's wrapper around it, whose message lists the statement's parameters, the marker among them.
  const driver = pgDriverError(error)
  if (driver?.code !== '22P02') return undefined
  const message = driver.message
  const at = message.indexOf(`${MARKER} `)
  if (at < 0) return undefined
  const stored = message.slice(at + MARKER.length + 1, message.lastIndexOf('"'))
  return new KeyRewrittenError(
    `The row inserted for key ${describe(key)} of ${store} would be stored as ${stored}, which the database does ` +
      `not compare equal to the key: a trigger that runs before each insert rewrites a key column. The insert ` +
      `failed, so nothing was written (inside a transaction, Postgres has aborted it: roll back). Normalize ` +
      `the key before calling, as the trigger does, or make the trigger leave key columns alone.`,
    { store, cause: driver },
  )
}

/** A key for a message: JSON, with Dates and bigints as text. */
function describe(key: Record<string, unknown>): string {
  return JSON.stringify(key, (_field, value: unknown) => (typeof value === 'bigint' ? String(value) : value))
}

/**
 * The enabled, user-defined INSERT triggers of `relation` (`pg_trigger.tgtype`: INSERT 4), whatever their
 * timing and level, each with whether it runs before each row (ROW 1, BEFORE 2): one round trip.
 */
export async function readPgAllInsertTriggers(
  db: AnyPgDatabase,
  relation: string,
): Promise<{ readonly name: string; readonly beforeRow: boolean }[]> {
  const rows = rowsOf(
    await db.execute(sql`select tgname::text as name, tgtype::int & 7 = 7 as before_row from pg_trigger
      where tgrelid = ${relation}::regclass and not tgisinternal and tgenabled <> 'D' and tgtype::int & 4 = 4
      order by tgname`),
  )
  return rows.map((row) => ({
    name: String(row.name),
    beforeRow: row.before_row === true || row.before_row === 't',
  }))
}

/**
 * The enabled, user-defined triggers that run before each row inserted into `relation` (`pg_trigger.tgtype`:
 * ROW 1, BEFORE 2, INSERT 4), by name: one round trip.
 */
export async function readPgInsertTriggers(db: AnyPgDatabase, relation: string): Promise<string[]> {
  const rows = rowsOf(
    await db.execute(sql`select tgname::text as name from pg_trigger where tgrelid = ${relation}::regclass
      and not tgisinternal and tgenabled <> 'D' and tgtype::int & 7 = 7 order by tgname`),
  )
  return rows.map((row) => String(row.name))
}
