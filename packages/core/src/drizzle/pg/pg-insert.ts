import type { Column, SQL } from 'drizzle-orm'
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core'
import { inheritedFields, insertParameters, valuesForDrizzle } from '../common/insert-parameters.js'
import { keyParams, keyShape } from '../common/key-where.js'
import type { castFor } from './pg-columns.js'
import type { AnyPgDatabase } from './pg-database.js'
import { KEY_CHECK_FIELD, keyRewrittenOf, pgKeyCheck } from './pg-key-check.js'
import { type Prepared, statementName } from './pg-session.js'

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
          statement = query.prepare(statementName(query.toSQL().sql)) as Prepared
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
