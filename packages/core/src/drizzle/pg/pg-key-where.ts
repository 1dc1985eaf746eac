import { and, type Column, eq, isNull, type SQL, sql } from 'drizzle-orm'
import { keyShape } from '../common/key-where.js'
import type { castFor } from './pg-columns.js'

/**
 * `WHERE` for a key on Postgres: `column IS NULL` for a NULL field, else `column = $n`, with `$n` written as
 * `casts(field)` says (see {@link castFor}) so that it compares the way the column stores: a `Date` with
 * milliseconds finds the row a `timestamp(0)` column rounded it to. `prefix` names the placeholders.
 */
export function pgKeyWhere(
  column: (field: string) => Column,
  key: Record<string, unknown>,
  casts: (field: string) => ReturnType<typeof castFor>,
  prefix = '',
): SQL | undefined {
  const { names } = keyShape(key)
  return and(
    ...names.map((name): SQL => {
      if (key[name] === null) return isNull(column(name))
      const placeholder = sql.placeholder(`${prefix}${name}`)
      const cast = casts(name)
      return cast ? sql`${column(name)} = ${cast(placeholder)}` : eq(column(name), placeholder)
    }),
  )
}
