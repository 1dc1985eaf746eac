import { type SQL, sql } from 'drizzle-orm'
import { KeyRewrittenError } from '../../errors.js'
import type { AnyMySqlDatabase } from './mysql-database.js'
import { mysqlError } from './mysql-errors.js'
import { resultRows } from './mysql-rows.js'

/** What the check's failure says, so that its error can be told from any other. */
const MARKER = 'getorcreate:KEY_REWRITTEN'

/** MySQL / MariaDB error number of a value out of range (here: `~0 + 1`). */
const ER_DATA_OUT_OF_RANGE = 1690

/**
 * An expression for MariaDB's `INSERT … RETURNING` that fails the statement (MariaDB undoes it; inside a
 * transaction only the statement) unless the row as stored compares equal to the key under `where` (the
 * find's own WHERE: the same casts): a `BEFORE INSERT` trigger may have rewritten a key column. `~0 + 1`
 * overflows BIGINT UNSIGNED (error 1690), whose message prints the expression, marker included.
 */
export function mysqlKeyCheck(where: SQL | undefined): SQL {
  return sql`~0 + (coalesce(${where ?? sql`true`}, 0) = 0 and ${sql.raw(`'${MARKER}'`)} <> '')`
}

/** The message of a `KeyRewrittenError` for `key` of `store`, with what became of the row. */
function rewritten(key: Record<string, unknown>, store: string, outcome: string): string {
  const shown = JSON.stringify(key, (_field, value: unknown) =>
    typeof value === 'bigint' ? String(value) : value,
  )
  return (
    `The row inserted for key ${shown} of ${store} is not stored with that key (the database does not compare ` +
    `it equal): a BEFORE INSERT trigger rewrites a key column. ${outcome} Normalize the key before calling, ` +
    `as the trigger does, or make the trigger leave key columns alone.`
  )
}

/** The `KeyRewrittenError` for `error` when it is {@link mysqlKeyCheck}'s failure; else `undefined`. */
export function mysqlKeyRewrittenOf(
  error: unknown,
  store: string,
  key: Record<string, unknown>,
): KeyRewrittenError | undefined {
  const cause = mysqlError(error)
  if (cause?.errno !== ER_DATA_OUT_OF_RANGE || !cause.message.includes(MARKER)) return undefined
  return new KeyRewrittenError(rewritten(key, store, 'The insert failed, so nothing was written.'), {
    store,
    cause: cause.error,
  })
}

/**
 * Where the row cannot be checked in the insert's own statement (MySQL: no `RETURNING`) and its read back by
 * key missed: a `KeyRewrittenError` naming the table's BEFORE INSERT triggers when it has any (the row
 * exists, under another key, unless `written` is false: the caller rolls it back), else `undefined` (it was
 * deleted).
 */
export async function writtenUnderAnotherKey(
  db: AnyMySqlDatabase,
  place: { readonly schema: string; readonly table: string },
  store: string,
  key: Record<string, unknown>,
  written = true,
): Promise<KeyRewrittenError | undefined> {
  const triggers = await readMySqlInsertTriggers(db, place)
  if (triggers.length === 0) return undefined
  const outcome = written
    ? `It was written, and it exists under another key (MySQL has no INSERT … RETURNING to undo it).`
    : 'Its transaction was rolled back, so nothing was written.'
  return new KeyRewrittenError(rewritten(key, store, outcome), { store, triggers, written })
}

/** The table's `BEFORE INSERT … FOR EACH ROW` triggers, by name: one round trip. */
export async function readMySqlInsertTriggers(
  db: AnyMySqlDatabase,
  place: { readonly schema: string; readonly table: string },
): Promise<string[]> {
  const rows = resultRows(
    await db.execute(sql`select trigger_name as name from information_schema.triggers
      where event_object_schema = ${place.schema} and event_object_table = ${place.table}
        and event_manipulation = 'INSERT' and action_timing = 'BEFORE' order by trigger_name`),
  )
  return rows.map((row) => String(row.name ?? row.NAME))
}
