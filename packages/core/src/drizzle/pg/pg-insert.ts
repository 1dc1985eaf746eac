import { type Column, type SQL, sql } from 'drizzle-orm'
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core'
import { databaseColumnName } from '../common/columns.js'
import {
  inheritedFields,
  insertDisabled,
  insertParameters,
  valuesForDrizzle,
} from '../common/insert-parameters.js'
import { keyParams, keyShape, keyWhere } from '../common/key-where.js'
import type { castFor } from './pg-columns.js'
import type { AnyPgDatabase } from './pg-database.js'
import { KEY_CHECK_FIELD, keyRewrittenOf, pgKeyCheck } from './pg-key-check.js'
import { directly, type Prepared, statementName } from './pg-session.js'

/** What {@link pgInserter} needs of its store. */
export interface PgInserterContext {
  readonly db: AnyPgDatabase
  readonly table: PgTable
  readonly columns: Record<string, Column>
  /** The store's prepared statements, by id (the inserts' ids start with `insert:`). */
  readonly statements: Map<string, Prepared>
  /** How each key field's parameter is cast to compare as its column stores. */
  readonly casts: (field: string) => ReturnType<typeof castFor>
  /** Resolves once `key` can be compared as its columns store (the live column types read), if need be. */
  readonly factsFor: (key: Record<string, unknown>) => Promise<unknown> | undefined
  /** The store's name, for errors. */
  readonly store: string
}

/**
 * The store's `INSERT … [ON CONFLICT (key) DO NOTHING] RETURNING *`, prepared once per shape (the fields
 * given, the conflict target, the key checked). Built anew only when a column's `$defaultFn` returns SQL,
 * which cannot be a parameter. With `key`, the statement fails, writing nothing, unless the row as stored
 * compares equal to the key ({@link pgKeyCheck}): then it throws `KeyRewrittenError`.
 */
export function pgInserter(context: PgInserterContext) {
  const { db, table, columns, statements, casts, store } = context
  const inherited = inheritedFields(columns)
  const column = (field: string) => columns[field] as Column
  return async function runInsert<Row>(
    values: Record<string, unknown>,
    conflictKey?: readonly string[],
    key?: Record<string, unknown>,
  ): Promise<Row[]> {
    const target = conflictKey?.map(column) as PgColumn[] | undefined
    const build = (row: Record<string, unknown>, check?: SQL) => {
      const query = db.insert(table).values(valuesForDrizzle(row, inherited))
      const conflicted = target ? query.onConflictDoNothing({ target }) : query
      return check
        ? conflicted.returning({ ...(columns as Record<string, PgColumn>), [KEY_CHECK_FIELD]: check })
        : conflicted.returning()
    }
    const reading = key && context.factsFor(key)
    if (reading) await reading
    const parameters = insertParameters(columns, values)
    let rows: Row[]
    try {
      if (!parameters) {
        rows = (await build(values, key && pgKeyCheck(db, column, key, casts, true))) as Row[]
      } else {
        const conflict = conflictKey ? [...conflictKey].sort().join(',') : '-'
        const id = `insert:${parameters.shape}|${conflict}|${key ? keyShape(key).shape : '-'}`
        let statement = statements.get(id)
        if (!statement) {
          const query = build(parameters.placeholders, key && pgKeyCheck(db, column, key, casts))
          statement = directly(query.prepare(statementName(query.toSQL().sql)) as Prepared)
          statements.set(id, statement)
        }
        const params = key ? { ...parameters.params, ...keyParams(column, key, 'key:') } : parameters.params
        rows = (await statement.execute(params)) as Row[]
      }
    } catch (error) {
      throw (key && keyRewrittenOf(error, store, key)) || error
    }
    if (key) for (const row of rows) delete (row as Record<string, unknown>)[KEY_CHECK_FIELD]
    return rows
  }
}

/**
 * `INSERT INTO t (…) SELECT $1, … WHERE NOT EXISTS (SELECT 1 FROM t WHERE key) [AND also] RETURNING <every
 * column in fields order>, <key check>`: the insert and the read of the key in one statement, for a store
 * prepared statement (placeholders: the values' fields, and the key's as `key:<field>`). `undefined` when no
 * column takes a value. Postgres types each parameter from its target column.
 */
export function insertUnlessFoundQuery(
  context: InsertQueryContext,
  key: Record<string, unknown>,
  parameters: NonNullable<ReturnType<typeof insertParameters>>,
  also?: SQL,
): SQL | undefined {
  const { table } = context
  const { where } = insertSelectParts(context, key, parameters)
  const unfound = sql`not exists (select 1 from ${table} where ${where})`
  return insertWhereQuery(context, key, parameters, also ? sql`${unfound} and ${also}` : unfound)
}

/**
 * `INSERT INTO t (…) SELECT $1, … WHERE condition RETURNING <every column in fields order>, <key check>`, as
 * {@link insertUnlessFoundQuery} without its read of the key: for a statement that read it already, in the
 * same snapshot (the fenced create's). `undefined` when no column takes a value.
 */
export function insertWhereQuery(
  context: InsertQueryContext,
  key: Record<string, unknown>,
  parameters: NonNullable<ReturnType<typeof insertParameters>>,
  condition: SQL,
): SQL | undefined {
  const { db, table, columns, casts, fields } = context
  const column = (field: string) => columns[field] as Column
  const { given, identifier, values } = insertSelectParts(context, key, parameters)
  if (given.length === 0) return undefined
  return sql`insert into ${table} (${sql.join(given.map(identifier), sql`, `)}) select ${sql.join(values, sql`, `)} where ${condition} returning ${sql.join(
    fields.map(identifier),
    sql`, `,
  )}, ${pgKeyCheck(db, column, key, casts)}`
}

/** What the insert statements built here need of their store. */
type InsertQueryContext = Pick<PgInserterContext, 'db' | 'table' | 'columns' | 'casts'> & {
  readonly fields: readonly string[]
}

/**
 * `WITH goc_found AS (SELECT <every column> FROM t WHERE key LIMIT 1), goc_ins AS (INSERT INTO t (…) SELECT $1, …
 * WHERE NOT EXISTS (SELECT FROM goc_found) ON CONFLICT (key) DO NOTHING RETURNING <every column>) SELECT
 * <every column>, 1 FROM goc_found UNION ALL SELECT <every column>, 0 FROM goc_ins`: one key read, and inserted
 * where the statement's snapshot has no row for it, in one round trip, for a store prepared statement
 * (placeholders: the values' fields, and the key's as `key:<field>`). A row with `1` is the one found, with `0`
 * the one inserted; none when a row committed after the snapshot blocked the insert. The read compares as
 * `find` does (the same casts). `undefined` when the insert would not write every key column (a
 * generated one).
 */
export function findOrInsertQuery(
  context: InsertQueryContext,
  key: Record<string, unknown>,
  parameters: NonNullable<ReturnType<typeof insertParameters>>,
): SQL | undefined {
  const { table, fields } = context
  const { given, identifier, where, values } = insertSelectParts(context, key, parameters)
  const keyFields = Object.keys(key).sort()
  // A key column the insert does not write (generated) would not be the key of the row it inserts.
  if (keyFields.some((field) => !given.includes(field))) return undefined
  const every = sql.join(fields.map(identifier), sql`, `)
  const target = sql.join(keyFields.map(identifier), sql`, `)
  return sql`with goc_found as (select ${every} from ${table} where ${where} limit 1), goc_ins as (insert into ${table} (${sql.join(given.map(identifier), sql`, `)}) select ${sql.join(values, sql`, `)} where not exists (select from goc_found) on conflict (${target}) do nothing returning ${every}) select ${every}, 1 from goc_found union all select ${every}, 0 from goc_ins`
}

/**
 * What an `INSERT INTO t (given) SELECT values WHERE …` needs for a store prepared statement: the fields the
 * insert writes (generated columns take no value, as in drizzle's own insert), their columns' names, the
 * placeholders of their values (a null as SQL `null`), and `find`'s probe of `key` (placeholders `key:<field>`).
 */
function insertSelectParts(
  context: Pick<PgInserterContext, 'db' | 'columns' | 'casts'>,
  key: Record<string, unknown>,
  parameters: NonNullable<ReturnType<typeof insertParameters>>,
) {
  const { db, columns, casts } = context
  const column = (field: string) => columns[field] as Column
  const given = parameters.names.filter((field) => !insertDisabled(column(field)))
  return {
    given,
    identifier: (field: string) => sql.identifier(databaseColumnName(db, column(field))),
    where: keyWhere(column, key, { cast: casts, prefix: 'key:' }),
    values: given.map((field) =>
      parameters.params[field] === null ? sql`null` : sql.param(sql.placeholder(field), column(field)),
    ),
  }
}
