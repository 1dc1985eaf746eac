/** SQL text the tests' own counting and fixture queries share, for every database. */

/** How an identifier is quoted: `"` in Postgres and SQLite, a backtick in MariaDB / MySQL. */
export type IdentifierQuote = '"' | '`'

/** A WHERE clause and its `?` parameters, as {@link whereClause} makes them. */
export interface WhereClause {
  /** `where a = ? and b is null`, or `''` for no condition. */
  readonly clause: string
  /** The values of the `?`s, in order. */
  readonly params: unknown[]
}

/**
 * `where` (column → value, as the conformance suite's `count` takes it) as a WHERE clause with `?`
 * parameters, columns quoted with `quote`; `null` matches NULL.
 */
export function whereClause(where: Record<string, unknown> = {}, quote: IdentifierQuote): WhereClause {
  const parts: string[] = []
  const params: unknown[] = []
  for (const [field, value] of Object.entries(where)) {
    if (value === null) parts.push(`${quote}${field}${quote} is null`)
    else {
      parts.push(`${quote}${field}${quote} = ?`)
      params.push(value)
    }
  }
  return { clause: parts.length > 0 ? `where ${parts.join(' and ')}` : '', params }
}
