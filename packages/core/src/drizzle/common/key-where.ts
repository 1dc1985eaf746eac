import { and, type Column, eq, isNull, type SQL, sql } from 'drizzle-orm'

/**
 * A key's fields, sorted, and its shape: the fields, marking those that are NULL. Statements are prepared
 * once per shape, since `IS NULL` and `= $1` are different statements.
 */
export function keyShape(key: Record<string, unknown>): { names: string[]; shape: string } {
  const names = Object.keys(key)
  if (names.length > 1) names.sort()
  let shape = ''
  for (const name of names) {
    if (shape !== '') shape += ','
    shape += key[name] === null ? `${name}:null` : name
  }
  return { names, shape }
}

/** How a key field's value is written in a `WHERE`, so that it compares the way its column stores. */
export type KeyCast = (value: SQL) => SQL

/**
 * `WHERE` for a key, the one builder every dialect uses: `column IS NULL` for a NULL field, else
 * `column = value`, where `value` is a placeholder (`sql.placeholder(prefix + field)`, for a prepared statement)
 * or, with `inline`, the key's own value bound as its column encodes it. Where `cast(field)` gives a cast, the
 * value is written through it (`$1::numeric(10,2)` on Postgres, `CAST(? AS DATETIME(0))` on MySQL), so that a
 * key finds the row its column rounded it to.
 */
export function keyWhere(
  column: (field: string) => Column,
  key: Record<string, unknown>,
  options: {
    readonly prefix?: string
    readonly inline?: boolean
    readonly cast?: (field: string) => KeyCast | undefined
  } = {},
): SQL | undefined {
  const { names } = keyShape(key)
  const prefix = options.prefix ?? ''
  return and(
    ...names.map((name): SQL => {
      const col = column(name)
      if (key[name] === null) return isNull(col)
      const cast = options.cast?.(name)
      if (!cast) return eq(col, options.inline ? key[name] : sql.placeholder(`${prefix}${name}`))
      const value = options.inline ? sql.param(key[name], col) : sql.placeholder(`${prefix}${name}`)
      return sql`${col} = ${cast(sql`${value}`)}`
    }),
  )
}

/**
 * The values for {@link keyWhere}'s placeholders: each non-NULL field, under `prefix + field`, encoded as
 * drizzle encodes a bound parameter of its column (a placeholder's value is not mapped by drizzle).
 */
export function keyParams(
  column: (field: string) => Column,
  key: Record<string, unknown>,
  prefix = '',
): Record<string, unknown> {
  const params: Record<string, unknown> = {}
  for (const name of Object.keys(key)) {
    const value = key[name]
    if (value !== null) params[prefix === '' ? name : prefix + name] = column(name).mapToDriverValue(value)
  }
  return params
}
