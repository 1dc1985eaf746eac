import { type Column, is, SQL, sql } from 'drizzle-orm'
import type { SQLiteColumn, SQLiteTable } from 'drizzle-orm/sqlite-core'
import { claimCreators, entriesInKeyOrder, primaryKeyFields, rowIdentity } from '../common/batch-claims.js'
import { databaseColumnName } from '../common/columns.js'
import { inheritedFields, insertParameters, valuesForDrizzle } from '../common/insert-parameters.js'
import type { AnySQLiteDatabase } from './sqlite-database.js'
import { sqliteWriteError } from './sqlite-errors.js'

/** What {@link sqliteBatch} needs of its store. */
export interface SqliteBatchContext {
  readonly db: AnySQLiteDatabase
  readonly table: SQLiteTable
  readonly columns: Record<string, Column>
  /** The table as messages name it. */
  readonly tableName: string
  /** The store's own `find`: a key with a NULL in it is read by it, one statement each. */
  readonly find: (key: Record<string, unknown>) => Promise<unknown>
  /** The store's check of a key before a write (text or a bigint a REAL column would store as another number). */
  readonly checkBeforeWrite: (key: Record<string, unknown>) => Promise<void>
}

/** A statement's text and its parameters. */
interface Rendered {
  readonly sql: string
  readonly params: unknown[]
}

/** What the batch uses of a drizzle SQLite database besides its builders: its dialect and its session. */
interface RawSqlite {
  readonly dialect: { sqlToQuery(query: SQL): Rendered }
  readonly session: {
    prepareQuery(
      query: Rendered,
      fields: undefined,
      executeMethod: 'all',
      isResponseInArrayMode: boolean,
    ): { values(): unknown }
  }
}

/**
 * The most parameters one statement gets: under SQLite's default limit of 32,766 (`SQLITE_MAX_VARIABLE_NUMBER`
 * since 3.32).
 */
const MAX_PARAMETERS = 30_000

/**
 * `findMany` and `insertManyIfAbsentAtomically` for a SQLite store, or `undefined` for a table without a
 * declared primary key (an inserted row is told from a found one by it).
 *
 * - Read: `with goc_keys(i, k0, …) as (values (?, ?, …), …) select goc_keys.i, t.* from goc_keys join t on
 *   t.col = goc_keys.k0 …`, one statement per chunk of keys of one shape. The table's column is the left
 *   operand, as in `find`'s `t.col = ?`: SQLite then compares with the column's collation and applies its
 *   affinity to the key (a `goc_keys` column has none, as a bound parameter has none), so a key meets the
 *   row `find` meets. A key with a NULL goes through `find` itself.
 * - Insert: one multi-row `INSERT … ON CONFLICT (key) DO NOTHING RETURNING` the primary key, each row filled
 *   as the store's one-key insert fills one (given values, `$defaultFn`s, drizzle defaults, NULL), rows in key
 *   order, then the keys read back.
 * - Both statements are built as text here: for a thousand keys drizzle's builder took longer than SQLite
 *   took to run them.
 */
export function sqliteBatch(context: SqliteBatchContext) {
  const { db, table, columns, tableName, find, checkBeforeWrite } = context
  const primaryKey = primaryKeyFields(table, columns)
  if (primaryKey.length === 0) return undefined
  const raw = db as unknown as RawSqlite
  const fields = Object.keys(columns)
  const column = (field: string) => columns[field] as Column
  const inherited = inheritedFields(columns)

  /** SQL text that takes no parameter (names), rendered once. */
  function text(query: SQL): string {
    const rendered = raw.dialect.sqlToQuery(query)
    if (rendered.params.length > 0) throw new Error('sqliteBatch: a constant fragment took parameters.')
    return rendered.sql
  }
  const nameOf = (field: string) => text(sql`${sql.identifier(databaseColumnName(db, column(field)))}`)
  const tableText = text(sql`${table}`)
  const qualified = (field: string) => `${tableText}.${nameOf(field)}`
  const selectedText = fields.map(qualified).join(', ')
  // The columns an insert writes, as drizzle's own insert writes them: every one but generated columns.
  const insertable = fields.filter(
    (field) => !(column(field) as unknown as { shouldDisableInsert(): boolean }).shouldDisableInsert(),
  )

  /**
   * Run a statement built here (text and parameters, each value as the driver takes it), its rows as arrays.
   * drizzle's builder is left out for a thousand keys: building its query took longer than running it.
   */
  async function rowsOf(query: Rendered): Promise<unknown[][]> {
    return (await raw.session.prepareQuery(query, undefined, 'all', true).values()) as unknown[][]
  }

  /** A value read back decoded as drizzle's select decodes it. */
  const decodeValue = (field: string, value: unknown) =>
    value === null ? null : column(field).mapFromDriverValue(value)
  /** A row read as an array of `fields`. */
  const decode = (values: readonly unknown[]): Record<string, unknown> =>
    Object.fromEntries(fields.map((field, n) => [field, decodeValue(field, values[n])]))

  /** The read of `indexes` of `keys` (one shape, no NULL) in one statement. */
  function readFor(
    keys: readonly Record<string, unknown>[],
    indexes: readonly number[],
    names: string[],
  ): Rendered {
    const params: unknown[] = []
    const rows = indexes.map((i) => {
      const key = keys[i] as Record<string, unknown>
      for (const name of names) params.push(column(name).mapToDriverValue(key[name]))
      return `(${i}${', ?'.repeat(names.length)})`
    })
    const aliases = names.map((_, f) => `"k${f}"`)
    const on = names.map((name, f) => `${qualified(name)} = goc_keys.${aliases[f]}`).join(' and ')
    return {
      sql:
        `with goc_keys(i, ${aliases.join(', ')}) as (values ${rows.join(', ')}) ` +
        `select goc_keys.i, ${selectedText} from goc_keys join ${tableText} on ${on}`,
      params,
    }
  }

  /**
   * `insert into t (every insertable column) values (?, null, …), … on conflict (key) do nothing returning
   * pk`, each cell as the store's one-key insert fills it (`insertParameters`, then drizzle's builder): the
   * value given or a `$defaultFn`'s / `$onUpdateFn`'s, else the column's drizzle default, else
   * NULL; `$defaultFn`s run per row. Undefined where a default is SQL: drizzle's builder then writes the rows.
   */
  function insertText(
    part: readonly { readonly values: Record<string, unknown> }[],
    target: readonly string[],
  ): Rendered | undefined {
    const params: unknown[] = []
    const tuples: string[] = []
    for (const entry of part) {
      const parameters = insertParameters(columns, entry.values)
      if (!parameters) return undefined
      const cells: string[] = []
      for (const field of insertable) {
        const given = Object.hasOwn(parameters.params, field)
        const value = given ? parameters.params[field] : column(field).default
        if (!given && is(value, SQL)) return undefined
        if (value === null || value === undefined) cells.push('null')
        else {
          params.push(column(field).mapToDriverValue(value))
          cells.push('?')
        }
      }
      tuples.push(`(${cells.join(', ')})`)
    }
    return {
      sql:
        `insert into ${tableText} (${insertable.map(nameOf).join(', ')}) values ${tuples.join(', ')} ` +
        `on conflict (${target.map(nameOf).join(', ')}) do nothing returning ${primaryKey.map(nameOf).join(', ')}`,
      params,
    }
  }

  async function findMany(keys: readonly Record<string, unknown>[]): Promise<unknown[]> {
    const found: unknown[] = new Array(keys.length).fill(undefined)
    const shapes = new Map<string, { names: string[]; indexes: number[] }>()
    for (const [i, key] of keys.entries()) {
      if (Object.values(key).includes(null)) {
        found[i] = await find(key)
        continue
      }
      const names = Object.keys(key).sort()
      const shape = names.join('\u0000')
      const group = shapes.get(shape) ?? { names, indexes: [] }
      group.indexes.push(i)
      shapes.set(shape, group)
    }
    for (const { names, indexes } of shapes.values()) {
      const chunk = Math.max(1, Math.floor(MAX_PARAMETERS / (names.length + 1)))
      for (let from = 0; from < indexes.length; from += chunk) {
        const rows = await rowsOf(readFor(keys, indexes.slice(from, from + chunk), names))
        for (const row of rows) {
          const i = Number(row[0])
          // A table where the key is not unique has more than one: `find` too gives any one of them.
          if (found[i] === undefined) found[i] = decode(row.slice(1))
        }
      }
    }
    return found
  }

  async function insertMany(
    entries: readonly { readonly key: Record<string, unknown>; readonly values: Record<string, unknown> }[],
  ): Promise<{ row: unknown; inserted: boolean }[]> {
    if (entries.length === 0) return []
    for (const entry of entries) await checkBeforeWrite(entry.key)
    // Rows in one order for every batch (by key), as on Postgres: the creator among keys the database treats
    // as equal is the first of them in this order.
    const ordered = entriesInKeyOrder(entries)
    const targetFields = Object.keys((entries[0] as (typeof entries)[number]).key).sort()
    const target = targetFields.map(column) as SQLiteColumn[]
    const returning = Object.fromEntries(primaryKey.map((field) => [field, column(field) as SQLiteColumn]))
    const chunk = Math.max(1, Math.floor(MAX_PARAMETERS / Math.max(1, insertable.length)))
    const inserted = new Set<string>()
    for (let from = 0; from < ordered.length; from += chunk) {
      const part = ordered.slice(from, from + chunk)
      try {
        const statement = insertText(part, targetFields)
        if (statement) {
          for (const row of await rowsOf(statement)) {
            const pk = Object.fromEntries(primaryKey.map((field, f) => [field, decodeValue(field, row[f])]))
            inserted.add(rowIdentity(primaryKey, pk))
          }
        } else {
          const back = (await db
            .insert(table)
            .values(part.map((entry) => valuesForDrizzle(entry.values, inherited)))
            .onConflictDoNothing({ target })
            .returning(returning)
            .all()) as Record<string, unknown>[]
          for (const row of back) inserted.add(rowIdentity(primaryKey, row))
        }
      } catch (error) {
        sqliteWriteError(error, tableName)
      }
    }
    const found = (await findMany(entries.map((entry) => entry.key))) as (
      | Record<string, unknown>
      | undefined
    )[]
    return claimCreators(entries, ordered, found, inserted, primaryKey)
  }

  return { findMany, insertMany }
}
