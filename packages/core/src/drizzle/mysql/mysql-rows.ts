import type { Column } from 'drizzle-orm'

/** Rows of a raw mysql2 result (`[rows, fields]`), or of an already unwrapped one. */
export function resultRows(result: unknown): Record<string, unknown>[] {
  if (Array.isArray(result)) {
    if (Array.isArray(result[0])) return result[0] as Record<string, unknown>[]
    if (
      result.length === 0 ||
      (typeof result[0] === 'object' && result[0] !== null && !('affectedRows' in result[0]))
    ) {
      return result as Record<string, unknown>[]
    }
  }
  return []
}

/** `insertId` of a mysql2 INSERT result (`[ResultSetHeader, …]`). */
function insertIdOf(result: unknown): unknown {
  const header = Array.isArray(result) ? result[0] : result
  return (header as { insertId?: unknown } | undefined)?.insertId
}

/** The auto-increment primary key's field, if the table has one. */
function autoIncrementField(columns: Record<string, Column>): string | undefined {
  return Object.entries(columns).find(
    ([, column]) => column.primary && (column as Column & { autoIncrement?: boolean }).autoIncrement === true,
  )?.[0]
}

/**
 * Where to read back a row inserted without `RETURNING` with `values`, decided before the insert (so that a
 * row that could not be read back is never written): by the auto-increment primary key (given, or the
 * INSERT's `insertId`), else by a primary key the values give in full, else by `key`. A function of the
 * INSERT's result; undefined when none of these is known.
 */
export function readBackFor(
  columns: Record<string, Column>,
  values: Record<string, unknown>,
  key: Record<string, unknown> | undefined,
): ((insertResult: unknown) => Record<string, unknown>) | undefined {
  const autoIncrement = autoIncrementField(columns)
  if (autoIncrement) {
    const dataType = (columns[autoIncrement] as Column).dataType
    return (insertResult) => {
      const id = values[autoIncrement] ?? insertIdOf(insertResult)
      return {
        [autoIncrement]: dataType === 'bigint' ? BigInt(String(id)) : dataType === 'number' ? Number(id) : id,
      }
    }
  }
  const primary = Object.keys(columns).filter((field) => (columns[field] as Column).primary)
  if (primary.length > 0 && primary.every((field) => values[field] !== undefined)) {
    const byPrimary = Object.fromEntries(primary.map((field) => [field, values[field]]))
    return () => byPrimary
  }
  return key && (() => key)
}

/**
 * How many rows an UPDATE matched, from its result (`[ResultSetHeader, …]`): the server's `Rows matched: n`
 * info, which counts matched rows whatever the connection's FOUND_ROWS flag (its `affectedRows` counts changed
 * rows without it); else `affectedRows`; undefined when the result says neither.
 */
export function rowsMatched(result: unknown): number | undefined {
  const header = (Array.isArray(result) ? result[0] : result) as
    | { info?: unknown; affectedRows?: unknown }
    | undefined
  const matched = typeof header?.info === 'string' ? /Rows matched:\s*(\d+)/i.exec(header.info) : null
  if (matched) return Number(matched[1])
  return typeof header?.affectedRows === 'number' ? header.affectedRows : undefined
}
