import { type Column, is, type Placeholder, SQL, sql } from 'drizzle-orm'

/** What {@link insertParameters} gives a prepared INSERT. */
export interface InsertParameters {
  /** Names the statement: which fields, which of them NULL. */
  readonly shape: string
  /** The fields given, sorted. */
  readonly names: string[]
  /** What the INSERT's `values()` takes: a placeholder per field, the literal `NULL` for a null. */
  readonly placeholders: Record<string, Placeholder | SQL>
  /** The placeholders' values. */
  readonly params: Record<string, unknown>
}

/**
 * Values for a prepared INSERT: one placeholder per given field, plus the columns whose `$defaultFn` /
 * `$onUpdateFn` must run on every insert (a prepared statement would otherwise freeze their first value). A
 * `null` is written as the literal `NULL`, not a placeholder: drizzle encodes a placeholder's value with its
 * column even when it is null (a jsonb column would store JSON `null`, a custom type would see `null`), where a
 * plain `values()` call writes SQL NULL. Undefined when a default is SQL, which cannot be a parameter.
 */
export function insertParameters(
  columns: Record<string, Column>,
  values: Record<string, unknown>,
): InsertParameters | undefined {
  const params: Record<string, unknown> = {}
  for (const [field, value] of Object.entries(values)) {
    if (value !== undefined && columns[field]) params[field] = value
  }
  for (const [field, column] of Object.entries(columns)) {
    if (field in params) continue
    const make = column.defaultFn ?? column.onUpdateFn
    if (!make) continue
    const value = make()
    if (is(value, SQL)) return undefined
    params[field] = value
  }
  const names = Object.keys(params).sort()
  const placeholders: Record<string, Placeholder | SQL> = {}
  let shape = ''
  for (const field of names) {
    const isNull = params[field] === null
    placeholders[field] = isNull ? sql`null` : sql.placeholder(field)
    if (shape !== '') shape += ','
    shape += isNull ? `${field}:null` : field
  }
  return { shape, names, placeholders, params }
}
