import { type Column, SQL, sql } from 'drizzle-orm'
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core'
import {
  claimCreators,
  entriesInKeyOrder,
  keyOrder,
  primaryKeyFields,
  rowIdentity,
} from '../common/batch-claims.js'
import { databaseColumnName } from '../common/columns.js'
import {
  inheritedFields,
  insertDisabled,
  insertParameters,
  valuesForDrizzle,
  valuesTuples,
} from '../common/insert-parameters.js'
import { keyParams, keyShape, keyWhere } from '../common/key-where.js'
import type { castFor, PgRelationFacts } from './pg-columns.js'
import type { AnyPgDatabase } from './pg-database.js'
import { pgInsertError, sqlState } from './pg-errors.js'
import { findOrInsertQuery } from './pg-insert.js'
import { readPgAllInsertTriggers } from './pg-key-check.js'
import { directly, type Prepared, prepareMapped, type RawPreparer, statementName } from './pg-session.js'

/** What {@link pgBatch} needs of its store. */
export interface PgBatchContext {
  readonly db: AnyPgDatabase
  readonly preparer: RawPreparer
  readonly table: PgTable
  /** The table as SQL names it (quoted, maybe schema-qualified), for the catalog. */
  readonly relation: string
  readonly columns: Record<string, Column>
  /** The table's fields, in the order `mapRows` expects its columns. */
  readonly fields: readonly string[]
  /** Rows as arrays of every column in `fields` order → rows. */
  readonly mapRows: (rows: unknown[][]) => unknown[]
  /** How each key field's parameter is cast to compare as its column stores. */
  readonly casts: (field: string) => ReturnType<typeof castFor>
  /** Resolves once `key` can be compared as its columns store, if need be. */
  readonly factsFor: (key: Record<string, unknown>) => Promise<unknown> | undefined
  /** The live table's facts (its columns' types), read once. */
  readonly liveFacts: () => Promise<PgRelationFacts>
  /** The table as messages name it. */
  readonly label: string
  /** Whether the store is bound to a transaction (a deadlock then aborts it: no statement is retried). */
  readonly inTransaction: boolean
}

/** How many times a batch insert that lost a deadlock runs again (outside a transaction). */
const DEADLOCK_ATTEMPTS = 3

/** A statement's text and its parameters, as drizzle renders one. */
interface Rendered {
  readonly sql: string
  readonly params: unknown[]
}

/**
 * Type categories (`pg_type.typcategory`) whose values an array parameter does not carry one by one as a
 * plain parameter would: arrays (unnest flattens an array of arrays), composites and pseudo-types.
 */
const ELEMENTWISE_UNSAFE: ReadonlySet<string> = new Set(['A', 'C', 'P'])

/** The most parameters one statement gets: far under Postgres's 65,535 (a 16-bit count). */
const MAX_PARAMETERS = 30_000

/**
 * How long an answer "the table has no trigger that runs before each inserted row" is trusted, in
 * milliseconds (as a missing index is, see `MISSING_INDEX_RECHECK_MS`): the batch insert checks no key, so
 * a table with such a trigger is settled one key at a time, where each insert checks its key.
 */
const TRIGGERS_RECHECK_MS = 1000

/**
 * How long the statement that reads and inserts is not sent after the database refused an INSERT on this
 * connection (read-only, no INSERT right), in milliseconds: then the keys are read first.
 */
const REFUSED_RECHECK_MS = 1000

/**
 * `findMany` and `insertManyIfAbsentAtomically` for a Postgres store, or `undefined` for a table without a
 * primary key (an inserted row is told from a found one by it). Each key is compared exactly as `find`
 * compares it: a `VALUES` list of the keys joined to `find`'s own `WHERE … LIMIT 1` probe with the same casts
 * (a key with a NULL: `find`'s statement itself, one `UNION ALL` branch per key), so the database's equality
 * (collations, rounding on write) decides which row is a key's, never JavaScript's.
 */
export function pgBatch(context: PgBatchContext) {
  const { db, preparer, table, columns, fields, mapRows, casts, label } = context
  const primaryKey = primaryKeyFields(table, columns)
  if (primaryKey.length === 0) return undefined
  const column = (field: string) => columns[field] as Column
  const inherited = inheritedFields(columns)
  const selected = sql.join(
    fields.map((field) => sql.identifier(databaseColumnName(db, column(field)))),
    sql`, `,
  )

  /**
   * Run `query` (drizzle SQL with its values bound, or text and parameters), its rows as arrays. A `named`
   * one (a text that is the same for any number of keys) is a prepared statement, described and planned
   * once per connection; the others are sent as they are.
   */
  async function rowsOf(query: SQL | Rendered, named = false, writes = false): Promise<unknown[][]> {
    const rendered = query instanceof SQL ? preparer.dialect.sqlToQuery(query) : query
    // A write names its table, as drizzle's own insert does, so that drizzle's query cache (if any) drops what
    // it holds of the table.
    const statement = directly(
      preparer._.session.prepareQuery(
        rendered,
        undefined,
        (named ? statementName(rendered.sql) : undefined) as never,
        true,
        (rows) => rows,
        writes ? { type: 'insert', tables: [label] } : undefined,
      ),
    )
    return (await statement.execute()) as unknown[][]
  }

  /** SQL text that takes no parameter (names, casts of column references), rendered once. */
  function text(query: SQL): string {
    const rendered = preparer.dialect.sqlToQuery(query)
    if (rendered.params.length > 0) throw new Error('pgBatch: a constant fragment took parameters.')
    return rendered.sql
  }
  const tableText = text(sql`${table}`)
  const columnText = (field: string) => text(sql`${sql.identifier(databaseColumnName(db, column(field)))}`)

  /** `(select i, cols from t where key limit 1) union all …`: one branch per key, for keys with a NULL. */
  function branchesFor(keys: readonly Record<string, unknown>[], indexes: readonly number[]): SQL {
    return sql.join(
      indexes.map(
        (i) =>
          sql`(select ${sql.raw(String(i))}::int as i, ${selected} from ${table} where ${keyWhere(column, keys[i] as Record<string, unknown>, { cast: casts, inline: true })} limit 1)`,
      ),
      sql` union all `,
    )
  }

  /**
   * `(select cols from t where t.col = <cast>(goc_keys.k0) and … limit 1) as goc_row`: `find`'s probe, with
   * the same casts, for the key fields `names` (sorted) as columns `k0, k1, …` of `goc_keys`.
   */
  function probeText(names: readonly string[]): string {
    const where = sql.join(
      names.map((name, f) => {
        const ref = sql`goc_keys.${sql.identifier(`k${f}`)}`
        const cast = casts(name)
        return sql`${column(name)} = ${cast ? cast(ref) : ref}`
      }),
      sql` and `,
    )
    return `(select ${text(selected)} from ${tableText} where ${text(where)} limit 1) as goc_row`
  }

  /** The constant part of {@link lateralFor}'s statement for a key shape: after the VALUES list. */
  const lateralTails = new Map<string, string>()

  /**
   * `select k.i, t.cols from (values (i, $1::type, …), …) k cross join lateral (select cols from t where
   * t.col = k.field … limit 1) t`, for keys without a NULL: each value typed as its column's type without its
   * typmod (as a parameter compared with the column is) and compared through the same cast `find` uses, so
   * that a key finds what `find` finds; one plan, whatever the number of keys.
   */
  async function lateralFor(
    keys: readonly Record<string, unknown>[],
    indexes: readonly number[],
  ): Promise<Rendered> {
    const facts = await context.liveFacts()
    const names = Object.keys(keys[indexes[0] as number] as object).sort()
    const shape = names.join('\u0000')
    let tail = lateralTails.get(shape)
    if (tail === undefined) {
      const fieldsOfK = names.map((_, f) => `"k${f}"`).join(', ')
      tail = `) as goc_keys(i, ${fieldsOfK}) cross join lateral ${probeText(names)}`
      lateralTails.set(shape, tail)
    }
    // Each value typed as its column's type without a typmod (format_type(oid, -1): 'numeric', 'bpchar',
    // '"bit"'), which cuts nothing, as a parameter compared with the column is typed; the cast in the WHERE
    // then rounds it as `find`'s does.
    const types = names.map((name) => {
      const untyped = facts.columns.get(databaseColumnName(db, column(name)))?.untyped
      return untyped === undefined ? '' : `::${untyped}`
    })
    const params: unknown[] = []
    const rows: string[] = []
    for (const i of indexes) {
      const key = keys[i] as Record<string, unknown>
      let row = `(${i}`
      names.forEach((name, f) => {
        params.push(column(name).mapToDriverValue(key[name]))
        row += `, $${params.length}${types[f]}`
      })
      rows.push(`${row})`)
    }
    const qualified = fields.map((field) => `goc_row.${columnText(field)}`).join(', ')
    return { sql: `select goc_keys.i, ${qualified} from (values ${rows.join(', ')}${tail}`, params }
  }

  /**
   * The live types of the columns of `fields`, for their array parameters; undefined when one of them cannot
   * be one (a type the catalog does not name, or one an array does not carry element by element).
   */
  async function arrayTypes(fields: readonly string[]) {
    const facts = await context.liveFacts()
    const types = fields.map((field) => facts.columns.get(databaseColumnName(db, column(field))))
    if (types.some((type) => type === undefined || ELEMENTWISE_UNSAFE.has(type.category))) return undefined
    return types as NonNullable<(typeof types)[number]>[]
  }

  /** The text of {@link arraysFor}'s statement per key shape: it never changes with the number of keys. */
  const arrayTexts = new Map<string, string | null>()

  /**
   * {@link lateralFor}'s statement with the keys passed as one array per key field instead of a parameter
   * per value: `select k.i, t.cols from unnest($1::int4[], $2::type[], …) as k(i, k0, …) cross join lateral
   * (…) t`. The same types, casts and probe, so the same equality; one text for any number of keys, so
   * Postgres parses and binds a few parameters, not thousands. Undefined for a key column whose type an
   * array cannot carry element by element (an array, a composite, a pseudo-type) or that the catalog does
   * not name: there {@link lateralFor} serves.
   */
  async function arraysFor(
    keys: readonly Record<string, unknown>[],
    indexes: readonly number[],
  ): Promise<Rendered | undefined> {
    const names = Object.keys(keys[indexes[0] as number] as object).sort()
    const shape = names.join('\u0000')
    let statement = arrayTexts.get(shape)
    if (statement === undefined) {
      const types = await arrayTypes(names)
      if (types === undefined) {
        statement = null
      } else {
        const arrays = types.map((type, f) => `$${f + 2}::${type.untyped}[]`).join(', ')
        const fieldsOfK = names.map((_, f) => `"k${f}"`).join(', ')
        const qualified = fields.map((field) => `goc_row.${columnText(field)}`).join(', ')
        statement =
          `select goc_keys.i, ${qualified} from unnest($1::int4[], ${arrays}) as goc_keys(i, ${fieldsOfK}) ` +
          `cross join lateral ${probeText(names)}`
      }
      arrayTexts.set(shape, statement)
    }
    if (statement === null) return undefined
    const params: string[] = [arrayLiteral(indexes) as string]
    for (const name of names) {
      const literal = arrayLiteral(indexes.map((i) => column(name).mapToDriverValue(keys[i]?.[name])))
      if (literal === undefined) return undefined
      params.push(literal)
    }
    return { sql: statement, params }
  }

  async function findMany(keys: readonly Record<string, unknown>[]): Promise<unknown[]> {
    const found: unknown[] = new Array(keys.length).fill(undefined)
    if (keys.length === 0) return found
    for (const key of keys) {
      const reading = context.factsFor(key)
      if (reading) await reading
    }
    const perKey = Math.max(1, Object.keys(keys[0] as object).length)
    const chunk = Math.max(1, Math.floor(MAX_PARAMETERS / perKey))
    const withNull: number[] = []
    const plain: number[] = []
    keys.forEach((key, i) => {
      ;(Object.values(key).includes(null) ? withNull : plain).push(i)
    })
    const queries: (SQL | (Rendered & { readonly named?: boolean }))[] = []
    if (plain.length > 0) {
      const together = await arraysFor(keys, plain)
      if (together) queries.push({ ...together, named: true })
      else {
        for (let from = 0; from < plain.length; from += chunk) {
          queries.push(await lateralFor(keys, plain.slice(from, from + chunk)))
        }
      }
    }
    for (let from = 0; from < withNull.length; from += chunk) {
      queries.push(branchesFor(keys, withNull.slice(from, from + chunk)))
    }
    for (const query of queries) {
      const rows = await rowsOf(query, !(query instanceof SQL) && query.named === true)
      const mapped = mapRows(rows.map((row) => row.slice(1)))
      rows.forEach((row, r) => {
        found[Number(row[0])] = mapped[r]
      })
    }
    return found
  }

  let triggers:
    | { readonly until: number; readonly list: Promise<{ name: string; beforeRow: boolean }[]> }
    | undefined
  /** The table's INSERT triggers (read again after a second). */
  function insertTriggers(): Promise<{ name: string; beforeRow: boolean }[]> {
    const now = performance.now()
    if (!triggers || now >= triggers.until) {
      const list = readPgAllInsertTriggers(db, context.relation)
      triggers = { until: now + TRIGGERS_RECHECK_MS, list }
      list.catch(() => {
        triggers = undefined
      })
    }
    return triggers.list
  }
  /** Whether the table has no trigger that runs before each inserted row (which may rewrite the key). */
  async function noTriggers(): Promise<boolean> {
    return !(await insertTriggers()).some((trigger) => trigger.beforeRow)
  }
  /**
   * Whether the table has no INSERT trigger at all: the one statement that reads and inserts runs an INSERT
   * even when every key is found, which would fire a statement-level trigger on a batch of hits.
   */
  async function noInsertTriggers(): Promise<boolean> {
    return (await insertTriggers()).length === 0
  }

  /**
   * `insert into t (cols) values ($1, default, null, …), … on conflict (key) do nothing returning pk`, as text
   * and parameters (drizzle's builder is slow for a thousand rows): each row's given fields, `$defaultFn`s run
   * per row as drizzle's own insert runs them, `default` for a field a row leaves out. Undefined where a
   * `$defaultFn` returns SQL: then drizzle's builder writes the rows.
   */
  function insertText(
    part: readonly { readonly values: Record<string, unknown> }[],
    targetText: string,
    pkText: string,
  ): Rendered | undefined {
    const written = valuesTuples(
      columns,
      part.map((entry) => entry.values),
      (n) => `$${n}`,
    )
    if (!written) return undefined
    return {
      sql:
        `insert into ${tableText} (${written.names.map(columnText).join(', ')}) values ${written.tuples.join(', ')} ` +
        `on conflict (${targetText}) do nothing returning ${pkText}`,
      params: written.params,
    }
  }

  /** Whether a column has a `$defaultFn` or `$onUpdateFn`, which drizzle's insert runs for every row. */
  const computed = Object.values(columns).some((col) => (col.defaultFn ?? col.onUpdateFn) !== undefined)
  /** The fields an insert writes when given: every column but generated ones. */
  const writable = new Set(Object.keys(columns).filter((field) => !insertDisabled(column(field))))

  /**
   * Each row's values as the insert writes them, and the fields they give (sorted); undefined when two rows
   * give different fields (one would take a column's `default`) or a `$defaultFn` returns SQL. `$defaultFn`s
   * run per row as drizzle's own insert runs them (see `insertParameters`).
   */
  function rowsToWrite(
    part: readonly { readonly values: Record<string, unknown> }[],
  ): { rows: readonly Record<string, unknown>[]; names: string[] } | undefined {
    const given = (values: Record<string, unknown>) =>
      Object.keys(values).filter((field) => values[field] !== undefined && writable.has(field))
    let rows: Record<string, unknown>[]
    if (computed) {
      rows = []
      for (const entry of part) {
        const parameters = insertParameters(columns, entry.values)
        if (!parameters) return undefined
        rows.push(parameters.params)
      }
    } else {
      rows = part.map((entry) => entry.values)
    }
    const names = given(rows[0] as Record<string, unknown>).sort()
    const expected = new Set(names)
    for (let r = 1; r < rows.length; r++) {
      const values = rows[r] as Record<string, unknown>
      // The fields this row gives, each one the first row gives too (`for…in` and `hasOwn`: its own
      // enumerable fields, as Object.keys gives them, without an array per row).
      let count = 0
      for (const field in values) {
        if (!Object.hasOwn(values, field) || values[field] === undefined || !writable.has(field)) continue
        if (!expected.has(field)) return undefined
        count++
      }
      if (count !== names.length) return undefined
    }
    return { rows, names }
  }

  /**
   * The rows of `part` as one array parameter per column (every value encoded by its column, as a parameter
   * would be), with the columns' live types. Undefined where a statement with a parameter per value is
   * needed: a row leaves out a column another gives (its `default`), a `$defaultFn` returns SQL, or a column's
   * type an array cannot carry.
   */
  async function rowArrays(part: readonly { readonly values: Record<string, unknown> }[]) {
    if (part.length === 0) return undefined
    const written = rowsToWrite(part)
    if (written === undefined || written.names.length === 0) return undefined
    const { rows, names } = written
    const types = await arrayTypes(names)
    if (types === undefined) return undefined
    const params: string[] = []
    for (const name of names) {
      const literal = columnLiteral(rows, name, column(name))
      if (literal === undefined) return undefined
      params.push(literal)
    }
    return { names, types, params }
  }

  /**
   * {@link insertText}'s statement with one array parameter per column: `insert into t (cols) select … from
   * unnest($1::type[], …) with ordinality … order by ordinality on conflict (key) do nothing returning pk`,
   * rows in the given order. Undefined where {@link insertText} is needed (see {@link rowArrays}).
   */
  async function insertArrays(
    part: readonly { readonly values: Record<string, unknown> }[],
    targetText: string,
    pkText: string,
  ): Promise<Rendered | undefined> {
    const arrays = await rowArrays(part)
    if (arrays === undefined) return undefined
    const { names, types, params } = arrays
    const cells = names.map((_, n) => `"c${n}"`).join(', ')
    const typed = types.map((type, n) => `$${n + 1}::${type.untyped}[]`).join(', ')
    return {
      sql:
        `insert into ${tableText} (${names.map(columnText).join(', ')}) select ${cells} from ` +
        `unnest(${typed}) with ordinality as goc_rows(${cells}, goc_at) order by goc_at ` +
        `on conflict (${targetText}) do nothing returning ${pkText}`,
      params,
    }
  }

  /**
   * `write()`, run again when it lost a deadlock (it wrote nothing) outside a transaction, up to
   * {@link DEADLOCK_ATTEMPTS} times; its error otherwise, as `pgInsertError` says it.
   */
  async function writing<T>(write: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await write()
      } catch (error) {
        const retry = sqlState(error) === '40P01' && !context.inTransaction && attempt < DEADLOCK_ATTEMPTS
        if (!retry) pgInsertError(error, label)
      }
    }
  }

  /** The text of {@link findOrInsertMany}'s statement per set of columns written and key fields. */
  const findOrInsertTexts = new Map<string, string>()

  /**
   * `findOrInsertManyAtomically`: every key read and the missing ones inserted in one statement, `entries`
   * as one array parameter per column (see {@link rowArrays}):
   *
   * ```sql
   * with goc_rows as (select * from unnest($1::type[], …) with ordinality as goc_rows(goc_c0, …, goc_at)),
   * goc_found as (select goc_rows.*, goc_row.* from goc_rows left join lateral
   *   (select true as goc_hit, cols as goc_r0, … from t where <find's probe> limit 1) as goc_row on true),
   * goc_ins as (insert into t (cols) select goc_c0, … from goc_found where goc_hit is null order by goc_at
   *   on conflict (key) do nothing returning cols)
   * select goc_r0, …, goc_at from goc_found where goc_hit
   * union all select goc_ins.cols, -goc_at from goc_found join goc_ins on <find's probe of goc_ins>
   * ```
   *
   * Every part sees the statement's snapshot: a key's row as it was when the statement began, else the row
   * this statement inserted for it, compared with the same casts as `find` (the database's equality). A key
   * in neither (a row committed by another caller after the snapshot, which the conflict skipped) answers
   * no row. Undefined, nothing written, where the statement cannot be written so (a key with a NULL, which
   * `=` does not find; rows that give different columns; a type an array cannot carry; a key column the
   * insert does not write) or the table has an INSERT trigger (a statement-level one would fire on a batch of hits).
   */
  async function findOrInsertMany(
    entries: readonly { readonly key: Record<string, unknown>; readonly values: Record<string, unknown> }[],
  ): Promise<{ row: unknown; inserted: boolean }[] | undefined> {
    if (entries.length === 0) return []
    const keyNames = Object.keys((entries[0] as (typeof entries)[number]).key).sort()
    // Index loops: this runs once a batch, often before V8 optimizes it, and an unoptimized `for…of`
    // allocates a result object per step.
    for (let e = 0; e < entries.length; e++) {
      const { key } = entries[e] as (typeof entries)[number]
      for (let k = 0; k < keyNames.length; k++) if (key[keyNames[k] as string] === null) return undefined
    }
    if (!(await noInsertTriggers())) return undefined
    if (refusedUntil !== undefined && performance.now() < refusedUntil) return undefined
    for (let e = 0; e < entries.length; e++) {
      const reading = context.factsFor((entries[e] as (typeof entries)[number]).key)
      if (reading) await reading
    }
    if (entries.length === 1) {
      const one = await findOrInsertOne(entries[0] as (typeof entries)[number])
      if (one !== undefined) return [one]
    }
    const order = keyOrder(entries.map((entry) => entry.key))
    const ordered = order.map((i) => entries[i] as (typeof entries)[number])
    let arrays: Awaited<ReturnType<typeof rowArrays>>
    try {
      arrays = await rowArrays(ordered)
    } catch (error) {
      // A value its column cannot encode (a BigInt in json, an invalid Date), before anything is written:
      // a batch of several declines, so that each entry goes alone and only its own caller gets the error.
      if (entries.length > 1) return undefined
      throw error
    }
    if (arrays === undefined) return undefined
    const { names, types, params } = arrays
    const keyCells = keyNames.map((name) => names.indexOf(name))
    if (keyCells.includes(-1)) return undefined
    const shape = `${names.join('\u0000')}\u0001${keyNames.join('\u0000')}`
    let statement = findOrInsertTexts.get(shape)
    if (statement === undefined) {
      const probe = (target: string) =>
        keyNames
          .map((name, k) => {
            const ref = sql.raw(`goc_rows."goc_c${keyCells[k]}"`)
            const cast = casts(name)
            return `${target}${columnText(name)} = ${text(cast ? cast(ref) : ref)}`
          })
          .join(' and ')
      const cells = names.map((_, n) => `"goc_c${n}"`).join(', ')
      const typed = types.map((type, n) => `$${n + 1}::${type.untyped}[]`).join(', ')
      const aliased = fields.map((field, f) => `${columnText(field)} as "goc_r${f}"`).join(', ')
      const found = fields.map((_, f) => `"goc_r${f}"`).join(', ')
      const returned = fields.map((field) => `goc_ins.${columnText(field)}`).join(', ')
      const targetText = keyNames.map(columnText).join(', ')
      statement =
        `with goc_rows as (select * from unnest(${typed}) with ordinality as goc_rows(${cells}, goc_at)), ` +
        `goc_found as (select goc_rows.*, goc_row.* from goc_rows left join lateral ` +
        `(select true as goc_hit, ${aliased} from ${tableText} where ${probe(`${tableText}.`)} limit 1) as goc_row on true), ` +
        `goc_ins as (insert into ${tableText} (${names.map(columnText).join(', ')}) select ${cells} from goc_found ` +
        `where goc_hit is null order by goc_at on conflict (${targetText}) do nothing returning ${text(selected)}) ` +
        `select ${found}, goc_at::int4 from goc_found where goc_hit ` +
        `union all select ${returned}, -goc_rows.goc_at::int4 from goc_found as goc_rows join goc_ins on ${probe('goc_ins.')}`
      findOrInsertTexts.set(shape, statement)
    }
    const query = { sql: statement, params }
    const rows = await unlessRefused(() => writing(() => rowsOf(query, true, true)))
    if (rows === undefined) return undefined
    // Each row's columns in `fields` order, then its position (mapRows reads no further).
    const mapped = mapRows(rows) as Record<string, unknown>[]
    const last = fields.length
    // By position in `ordered`: the row found, else the row inserted for the key (a key the snapshot has
    // was not inserted; should both ever answer, the row found wins).
    const answers: { row: unknown; inserted: boolean }[] = new Array(ordered.length)
    rows.forEach((row, r) => {
      const position = Number(row[last])
      if (position > 0) answers[position - 1] = { row: mapped[r], inserted: false }
    })
    // Keys the database treats as equal meet one inserted row: the first of them in the insert's order wrote it.
    const creators = new Map<unknown, number>()
    const [single] = primaryKey.length === 1 ? primaryKey : []
    rows.forEach((row, r) => {
      const at = -Number(row[last]) - 1
      if (at < 0 || answers[at] !== undefined) return
      const read = mapped[r] as Record<string, unknown>
      answers[at] = { row: read, inserted: false }
      // A one-column key's number or text is its identity as it is (a column has one type).
      const value = single === undefined ? undefined : read[single]
      const id =
        typeof value === 'number' || typeof value === 'string' ? value : rowIdentity(primaryKey, read)
      const first = creators.get(id)
      if (first === undefined || at < first) creators.set(id, at)
    })
    for (const at of creators.values()) (answers[at] as { inserted: boolean }).inserted = true
    const results: { row: unknown; inserted: boolean }[] = new Array(entries.length)
    order.forEach((i, at) => {
      results[i] = answers[at] ?? { row: undefined, inserted: false }
    })
    return results
  }

  /**
   * Until when (`performance.now()`) the statement that reads and inserts is not sent, once the database
   * refused to run an INSERT here outside a transaction (a read-only connection or hot standby, 25006; no
   * INSERT right, 42501): the strategy then reads first, as it does for a batch without it. Tried again after
   * {@link REFUSED_RECHECK_MS}.
   */
  let refusedUntil: number | undefined

  /** `write()`'s rows, or `undefined` where the database refused to run an INSERT (see {@link refusedUntil}). */
  async function unlessRefused<T>(write: () => Promise<T>): Promise<T | undefined> {
    try {
      return await write()
    } catch (error) {
      const state = sqlState(error)
      if ((state === '25006' || state === '42501') && !context.inTransaction) {
        refusedUntil = performance.now() + REFUSED_RECHECK_MS
        return undefined
      }
      throw error
    }
  }

  /** {@link findOrInsertOne}'s statements, by the shape of the values and of the key; `null`: none can be. */
  const findOrInsertOneStatements = new Map<string, Prepared | null>()

  /**
   * {@link findOrInsertMany} for one entry: the prepared statement of {@link findOrInsertQuery}, one parameter
   * per value (so any type a single insert takes), which plans as cheaply as a read and an insert, where the
   * batch's unnest of arrays costs several reads to plan for one key. `undefined` where it cannot be written
   * (a `$defaultFn` that returns SQL; a key column the insert does not write) or the database refused it
   * (see {@link refusedUntil}).
   */
  async function findOrInsertOne(entry: {
    readonly key: Record<string, unknown>
    readonly values: Record<string, unknown>
  }): Promise<{ row: unknown; inserted: boolean } | undefined> {
    const { key, values } = entry
    const parameters = insertParameters(columns, values)
    if (parameters === undefined) return undefined
    const id = `${parameters.shape}|${keyShape(key).shape}`
    let statement = findOrInsertOneStatements.get(id)
    if (statement === undefined) {
      const query = findOrInsertQuery(context, key, parameters)
      statement = query ? prepareMapped(preparer, query, rowsFoundOrInserted, label) : null
      findOrInsertOneStatements.set(id, statement)
    }
    if (statement === null) return undefined
    const params = { ...parameters.params, ...keyParams(column, key, 'key:') }
    const ready = statement
    const answers = await unlessRefused(() =>
      writing(() => ready.execute(params) as Promise<{ row: unknown; inserted: boolean }[]>),
    )
    if (answers === undefined) return undefined
    return answers[0] ?? { row: undefined, inserted: false }
  }

  /** {@link findOrInsertQuery}'s rows (every column, then 1 for a row found, 0 for one inserted), mapped. */
  function rowsFoundOrInserted(rows: unknown[][]): { row: unknown; inserted: boolean }[] {
    const mapped = mapRows(rows)
    const last = fields.length
    return mapped.map((row, r) => ({ row, inserted: Number((rows[r] as unknown[])[last]) === 0 }))
  }

  async function insertMany(
    entries: readonly { readonly key: Record<string, unknown>; readonly values: Record<string, unknown> }[],
  ): Promise<{ row: unknown; inserted: boolean }[] | undefined> {
    if (entries.length === 0) return []
    if (!(await noTriggers())) return undefined
    const target = Object.keys((entries[0] as (typeof entries)[number]).key).map(column) as PgColumn[]
    const returning = Object.fromEntries(primaryKey.map((field) => [field, column(field) as PgColumn]))
    const chunk = Math.max(1, Math.floor(MAX_PARAMETERS / Math.max(1, fields.length)))
    const inserted = new Set<string>()
    // Rows in one order for every batch (by key), so that two batches of overlapping keys take their rows'
    // locks in the same order; where they still deadlock (keys the database equates but JavaScript orders
    // apart), the statement, which wrote nothing, runs again.
    const ordered = entriesInKeyOrder(entries)
    const pkText = primaryKey.map(columnText).join(', ')
    const targetText = Object.keys((entries[0] as (typeof entries)[number]).key)
      .sort()
      .map(columnText)
      .join(', ')
    for (let from = 0; from < ordered.length; from += chunk) {
      const part = ordered.slice(from, from + chunk)
      const arrays = await insertArrays(part, targetText, pkText)
      const statement = arrays ?? insertText(part, targetText, pkText)
      const back = await writing(async () =>
        statement
          ? rowsOf(statement, arrays !== undefined, true)
          : ((
              await db
                .insert(table)
                .values(part.map((entry) => valuesForDrizzle(entry.values, inherited)))
                .onConflictDoNothing({ target })
                .returning(returning)
            ).map((row) =>
              primaryKey.map((field) => (row as Record<string, unknown>)[field]),
            ) as unknown[][]),
      )
      for (const row of back) {
        const pk: Record<string, unknown> = {}
        primaryKey.forEach((field, f) => {
          pk[field] = statement ? column(field).mapFromDriverValue(row[f]) : row[f]
        })
        inserted.add(rowIdentity(primaryKey, pk))
      }
    }
    const found = (await findMany(entries.map((entry) => entry.key))) as (
      | Record<string, unknown>
      | undefined
    )[]
    return claimCreators(entries, ordered, found, inserted, primaryKey)
  }

  return { findMany, insertMany, findOrInsertMany }
}

/**
 * `values` as a Postgres array literal (`{"a","b\\"c",NULL}`), which the parameter's cast to `type[]` reads
 * with the element type's own input, as a single parameter of that type would be read; the same text on
 * every driver (postgres.js cannot send arrays of types it does not know, such as `numeric[]`). Undefined
 * when a value is not text, a number, a bigint, a boolean or null as the driver gets it (a Date, bytes, an
 * object: each driver writes those its own way, which the statement with one parameter per value keeps).
 */
function arrayLiteral(values: readonly unknown[]): string | undefined {
  let literal = '{'
  for (let i = 0; i < values.length; i++) {
    const cell = arrayCell(values[i])
    if (cell === undefined) return undefined
    literal += i > 0 ? `,${cell}` : cell
  }
  return `${literal}}`
}

/**
 * {@link arrayLiteral} of the `field` of every row, each value encoded by its column (`mapToDriverValue`) as a
 * parameter would be, a null as SQL NULL; without an array of the values in between.
 */
function columnLiteral(
  rows: readonly Record<string, unknown>[],
  field: string,
  column: Column,
): string | undefined {
  // The cells joined once at the end: fewer intermediate strings than adding each to the literal.
  const cells: string[] = new Array(rows.length)
  for (let i = 0; i < rows.length; i++) {
    const value = (rows[i] as Record<string, unknown>)[field]
    const cell = value === null ? 'NULL' : arrayCell(column.mapToDriverValue(value))
    if (cell === undefined) return undefined
    cells[i] = cell
  }
  return `{${cells.join(',')}}`
}

/** One element of {@link arrayLiteral}; undefined for a value it does not write. */
function arrayCell(value: unknown): string | undefined {
  if (value === null) return 'NULL'
  if (typeof value === 'string')
    return `"${ESCAPED.test(value) ? value.replaceAll('\\', '\\\\').replaceAll('"', '\\"') : value}"`
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return `"${String(value)}"`
  return undefined
}

/** The characters an array literal's quoted element escapes with a backslash. */
const ESCAPED = /["\\]/
