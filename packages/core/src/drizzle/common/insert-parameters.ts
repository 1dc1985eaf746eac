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
    if (value !== undefined && Object.hasOwn(columns, field)) params[field] = value
  }
  for (const [field, column] of Object.entries(columns)) {
    if (Object.hasOwn(params, field)) continue // own only: `in` would see `toString` in every object
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

/**
 * The table's fields that every plain object also has, inherited from `Object.prototype`: `constructor`,
 * `toString`, `valueOf`, `hasOwnProperty`…. drizzle's `values()` copies the values into an object of its own
 * and reads each column's value from it, so such a field the values leave out reads as Object.prototype's
 * function, and its source text (`function toString() { [native code] }`) is written to the column.
 * (`__proto__` is not one: drizzle cannot take a field of that name at all.)
 */
export function inheritedFields(columns: Record<string, Column>): string[] {
  return Object.keys(columns).filter((field) => field !== '__proto__' && field in Object.prototype)
}

/**
 * `values` as drizzle's `values()` must be given them: their own fields, and each field of `inherited` (see
 * {@link inheritedFields}) that they leave out, as `undefined`, which drizzle takes as "not given" (the
 * column's default, or its `$defaultFn`). `values` itself when the table has no such field.
 */
export function valuesForDrizzle<V extends Record<string, unknown>>(
  values: V,
  inherited: readonly string[],
): V {
  if (inherited.length === 0) return values
  const given: Record<string, unknown> = { ...values }
  for (const field of inherited) if (!Object.hasOwn(values, field)) given[field] = undefined
  return given as V
}

/** True for a generated column, to which drizzle's own insert gives no value (`shouldDisableInsert`). */
export function insertDisabled(column: Column): boolean {
  return (column as { shouldDisableInsert?: () => boolean }).shouldDisableInsert?.() === true
}

/** What {@link valuesTuples} gives: the columns written, one `(…)` per row, and their parameters. */
export interface ValuesTuples {
  /** The fields written, sorted: every field some row gives, but generated columns. */
  readonly names: string[]
  /** One `(?, default, null, …)` per row, in the rows' order. */
  readonly tuples: string[]
  /** The parameters, each encoded by its column, in the order the tuples take them. */
  readonly params: unknown[]
}

/**
 * The `VALUES` tuples of a multi-row INSERT written as text: each row's given fields (with `$defaultFn`s run
 * per row as drizzle's own insert runs them, see {@link insertParameters}), `default` for a field a row leaves
 * out, `null` for a null, generated columns left out, as in drizzle's own insert. `placeholder(n)` writes the
 * n-th parameter (`$1`, `?`). Undefined where a `$defaultFn` returns SQL, or no column takes a value.
 */
export function valuesTuples(
  columns: Record<string, Column>,
  rows: readonly Record<string, unknown>[],
  placeholder: (n: number) => string,
): ValuesTuples | undefined {
  const filled: Record<string, unknown>[] = []
  const given = new Set<string>()
  for (const values of rows) {
    const parameters = insertParameters(columns, values)
    if (!parameters) return undefined
    for (const name of parameters.names) given.add(name)
    filled.push(parameters.params)
  }
  const names = [...given].filter((name) => !insertDisabled(columns[name] as Column)).sort()
  if (names.length === 0) return undefined
  const params: unknown[] = []
  const tuples = filled.map((row) => {
    const cells = names.map((name) => {
      if (!Object.hasOwn(row, name)) return 'default'
      const value = row[name]
      if (value === null) return 'null'
      params.push((columns[name] as Column).mapToDriverValue(value))
      return placeholder(params.length)
    })
    return `(${cells.join(', ')})`
  })
  return { names, tuples, params }
}

/**
 * What an UPDATE sets: the own fields of `values` that are the table's, without `undefined` ones (drizzle's
 * "not given") and generated columns (which take no value); undefined when none is left, since an UPDATE must
 * set something. A column named like what every object inherits (`toString`, `constructor`) that `values`
 * leave out is set to itself: drizzle reads each column's value from the object it is given, and would find
 * Object.prototype's function there (see {@link inheritedFields}).
 */
export function updateSet(
  columns: Record<string, Column>,
  values: Record<string, unknown>,
): Record<string, unknown> | undefined {
  const set: Record<string, unknown> = {}
  let any = false
  for (const [field, value] of Object.entries(values)) {
    if (value === undefined || !Object.hasOwn(columns, field)) continue
    if (insertDisabled(columns[field] as Column)) continue
    set[field] = value
    any = true
  }
  if (!any) return undefined
  for (const field of inheritedFields(columns)) {
    if (!Object.hasOwn(set, field)) set[field] = sql`${columns[field] as Column}`
  }
  return set
}
