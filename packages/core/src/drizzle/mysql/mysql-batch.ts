import { type Column, getTableName, SQL, sql } from 'drizzle-orm'
import type { MySqlTable } from 'drizzle-orm/mysql-core'
import { entriesInKeyOrder } from '../common/batch-claims.js'
import { databaseColumnName } from '../common/columns.js'
import { inheritedFields, valuesForDrizzle, valuesTuples } from '../common/insert-parameters.js'
import type { AnyMySqlDatabase } from './mysql-database.js'
import { mysqlError, mysqlStatementError } from './mysql-errors.js'
import type { MySqlKeyEquality } from './mysql-key-equality.js'
import { resultRows } from './mysql-rows.js'
import { inSavepoint } from './mysql-savepoint.js'

/** What {@link mysqlBatch} needs of its store. */
export interface MySqlBatchContext {
  readonly db: AnyMySqlDatabase
  readonly table: MySqlTable
  readonly columns: Record<string, Column>
  /** The table as messages name it. */
  readonly label: string
  /** How keys compare as the server stores them: `find`'s own `WHERE` and casts. */
  readonly keys: MySqlKeyEquality
  /** A raw row (database column names) as the table's select model. */
  readonly mapRow: (raw: Record<string, unknown>) => Record<string, unknown>
  /** The table's `BEFORE INSERT` row triggers, by name. */
  readonly insertTriggers: () => Promise<readonly string[]>
  /** The table's storage engine (`InnoDB`, `MyISAM`, `Aria`…), as `information_schema.TABLES` says. */
  readonly engine: () => Promise<string | undefined>
  /** Whether the store is bound to a transaction: the insert then runs in a savepoint. */
  readonly inTransaction: boolean
  /** The store's `insertIfAbsentAtomically`: the row it inserted, `undefined` where the key's row exists. */
  readonly insertOne: (key: Record<string, unknown>, values: Record<string, unknown>) => Promise<unknown>
}

/** A statement's text and its parameters. */
interface Rendered {
  readonly sql: string
  readonly params: unknown[]
}

/** What {@link mysqlBatch} uses of a drizzle mysql2 session: run text with parameters as `execute` does. */
interface RawSession {
  prepareQuery(
    query: Rendered,
    fields: undefined,
    customResultMapper?: undefined,
    generatedIds?: undefined,
    returningIds?: undefined,
    queryMetadata?: { type: 'insert'; tables: string[] },
  ): { execute(): Promise<unknown> }
}

/** What {@link mysqlBatch} uses of a drizzle MySQL dialect: render SQL as the database does. */
interface RawDialect {
  sqlToQuery(query: SQL): Rendered
}

/** Keys per read: one row of the derived table (or one `UNION ALL` branch) each, a parameter per field. */
const READ_CHUNK = 1000

/** Rows per insert: far under the 65,535 placeholders of one statement for any table. */
const MAX_PARAMETERS = 30_000

/** Errors after which nothing of the statement was written, and the keys are settled one by one instead. */
const SETTLE_ONE_BY_ONE: ReadonlySet<number> = new Set([
  1062, // ER_DUP_ENTRY: a key (or another unique value) exists; the statement wrote nothing
  1213, // ER_LOCK_DEADLOCK (outside a transaction: that statement alone rolled back)
])

/** How long the answer "the table is InnoDB and has no BEFORE INSERT trigger" is trusted, in milliseconds. */
const VERDICT_RECHECK_MS = 1000

/**
 * `findMany` and `insertManyIfAbsentAtomically` for a MySQL / MariaDB store. MySQL has no
 * `INSERT … ON CONFLICT (key) DO NOTHING` (`INSERT IGNORE` turns data errors into warnings, `ON DUPLICATE KEY
 * UPDATE` fires on any unique key), so the batch insert is optimistic: one plain multi-row `INSERT` of the
 * keys that missed, which InnoDB writes whole or not at all (a table of another engine is settled key by key). Written: every key was created by this call, and
 * its row is read back. Refused with a duplicate (a racer created one of the keys, two keys the server treats as
 * equal, or another unique value clashes) or a deadlock outside a transaction: nothing was written, and the
 * keys of that statement are inserted one at a time, in order, as `insertIfAbsentAtomically` inserts one.
 */
export function mysqlBatch(context: MySqlBatchContext) {
  const { db, table, columns, label, keys, mapRow } = context
  const inherited = inheritedFields(columns)
  const selected = sql.join(
    Object.values(columns).map((col) => sql.identifier(databaseColumnName(db, col))),
    sql`, `,
  )
  /** The texts of {@link findMany}'s join per key shape: they never change with the keys. */
  const joinTexts = new Map<string, { head: string; first: string; next: string; tail: string }>()
  /** Every column, qualified by the table (a join's select list). */
  const qualified = sql.join(
    Object.values(columns).map((col) => sql`${table}.${sql.identifier(databaseColumnName(db, col))}`),
    sql`, `,
  )

  /**
   * The database's session and dialect (public on drizzle's mysql2 database, `internal` in its types), to run
   * a statement written as text; undefined on a drizzle without them.
   */
  const internals = db as unknown as { session?: Partial<RawSession>; dialect?: Partial<RawDialect> }
  const rawSession =
    typeof internals.session?.prepareQuery === 'function' &&
    typeof internals.dialect?.sqlToQuery === 'function'
      ? { session: internals.session as RawSession, dialect: internals.dialect as RawDialect }
      : undefined

  /** SQL that takes no parameter, rendered as this database renders it (its casing). */
  function text(query: SQL, dialect: RawDialect): string {
    const rendered = dialect.sqlToQuery(query)
    if (rendered.params.length > 0) throw new Error('mysqlBatch: a constant fragment took parameters.')
    return rendered.sql
  }

  /**
   * A statement written as text with its parameters, run as `db.execute` runs drizzle SQL (the same session,
   * logger and result), without drizzle rendering a thousand parameters one by one.
   */
  function raw(query: Rendered, writes = false): Promise<unknown> {
    // A write names its table, as drizzle's own insert does, so that drizzle's query cache (if any) drops what
    // it holds of the table.
    const metadata = writes ? { type: 'insert' as const, tables: [getTableName(table)] } : undefined
    return (rawSession as NonNullable<typeof rawSession>).session
      .prepareQuery(query, undefined, undefined, undefined, undefined, metadata)
      .execute()
  }

  /**
   * `select goc_keys.goc_batch_i, t.cols from (select 0 as goc_batch_i, ? as k0 … union all select 1, ? …) as goc_keys
   * join t on <on>`, written as text: drizzle renders a thousand parameters one by one, which took longer than
   * the server took to run the statement. Its constant parts are rendered once per key shape.
   */
  function joinText(
    batch: readonly Record<string, unknown>[],
    part: readonly number[],
    names: readonly string[],
    on: SQL,
    dialect: RawDialect,
  ): Rendered {
    const shape = names.join('\u0000')
    let texts = joinTexts.get(shape)
    if (texts === undefined) {
      texts = {
        head: `select goc_keys.goc_batch_i, ${text(qualified, dialect)} from (select `,
        first: names.map((_, f) => `? as \`k${f}\``).join(', '),
        next: names.map(() => '?').join(', '),
        tail: `) as goc_keys join ${text(sql`${table}`, dialect)} on ${text(on, dialect)}`,
      }
      joinTexts.set(shape, texts)
    }
    const params: unknown[] = []
    const rows: string[] = []
    for (const i of part) {
      const key = batch[i] as Record<string, unknown>
      for (const name of names) params.push((columns[name] as Column).mapToDriverValue(key[name]))
      rows.push(rows.length === 0 ? `${i} as goc_batch_i, ${texts.first}` : `select ${i}, ${texts.next}`)
    }
    return { sql: `${texts.head}${rows.join(' union all ')}${texts.tail}`, params }
  }

  /** {@link joinText}'s statement as drizzle SQL, on a drizzle whose session cannot run text. */
  function joinSql(
    batch: readonly Record<string, unknown>[],
    part: readonly number[],
    names: readonly string[],
    on: SQL,
  ): SQL {
    const rows = part.map((i, r) => {
      const key = batch[i] as Record<string, unknown>
      const cells = names.map((name, f) => {
        const value = sql.param(key[name], columns[name] as Column)
        return r === 0 ? sql`${value} as ${sql.identifier(`k${f}`)}` : value
      })
      return sql`select ${sql.raw(String(i))}${r === 0 ? sql` as goc_batch_i` : sql``}, ${sql.join(cells, sql`, `)}`
    })
    return sql`select goc_keys.goc_batch_i, ${qualified} from (${sql.join(rows, sql` union all `)}) as goc_keys join ${table} on ${on}`
  }

  /**
   * Each key's row, compared as `find` compares it, so the server's own equality (collations, PAD SPACE,
   * rounding casts) decides which row is a key's: keys without a NULL as a derived table joined to the
   * table on {@link MySqlKeyEquality.joinCondition} (`t.col = cast(k.k0 as …)`, `t.col = convert(k.k0 using
   * …) collate …`), one statement per chunk; keys with a NULL as `find`'s own `WHERE … LIMIT 1`, one
   * `UNION ALL` branch per key. Plain reads: inside a REPEATABLE READ transaction, the snapshot's rows.
   */
  async function findMany(batch: readonly Record<string, unknown>[]): Promise<unknown[]> {
    const found: unknown[] = new Array(batch.length).fill(undefined)
    if (batch.length === 0) return found
    const withNull: number[] = []
    const plain: number[] = []
    batch.forEach((key, i) => {
      ;(Object.values(key).includes(null) ? withNull : plain).push(i)
    })
    const queries: (SQL | Rendered)[] = []
    const names = plain.length > 0 ? Object.keys(batch[plain[0] as number] as object).sort() : []
    const condition = plain.length > 0 ? await keys.joinCondition(names) : undefined
    // A text column in another character set than utf8mb4: every key through find's own WHERE.
    if (!condition) withNull.push(...plain.splice(0))
    if (condition) {
      const on = sql.join(
        names.map((name, f) => condition(name, sql`goc_keys.${sql.identifier(`k${f}`)}`)),
        sql` and `,
      )
      for (let from = 0; from < plain.length; from += READ_CHUNK) {
        const part = plain.slice(from, from + READ_CHUNK)
        queries.push(
          rawSession ? joinText(batch, part, names, on, rawSession.dialect) : joinSql(batch, part, names, on),
        )
      }
    }
    for (let from = 0; from < withNull.length; from += READ_CHUNK) {
      const branches: SQL[] = []
      for (const i of withNull.slice(from, from + READ_CHUNK)) {
        const key = batch[i] as Record<string, unknown>
        const where = keys.where(key, await keys.casts(key), true)
        branches.push(
          sql`(select ${sql.raw(String(i))} as goc_batch_i, ${selected} from ${table} where ${where} limit 1)`,
        )
      }
      queries.push(sql.join(branches, sql` union all `))
    }
    for (const query of queries) {
      let rows: Record<string, unknown>[]
      try {
        rows = resultRows(await (query instanceof SQL ? db.execute(query) : raw(query)))
      } catch (error) {
        mysqlStatementError(error, label)
      }
      // A table without a unique key may hold several rows of a key: any one of them, as find's LIMIT 1.
      for (const row of rows) found[Number(row.goc_batch_i)] ??= mapRow(row)
    }
    return found
  }

  let verdict: { readonly until: number; readonly yes: Promise<boolean> } | undefined
  /**
   * Whether a multi-row insert may write the batch: the table is InnoDB (a refused statement writes nothing)
   * and has no `BEFORE INSERT` row trigger. Asked again after a second.
   */
  function batchable(): Promise<boolean> {
    const now = performance.now()
    if (!verdict || now >= verdict.until) {
      const yes = Promise.all([context.insertTriggers(), context.engine()]).then(
        ([names, engine]) => names.length === 0 && engine?.toLowerCase() === 'innodb',
      )
      verdict = { until: now + VERDICT_RECHECK_MS, yes }
      yes.catch(() => {
        verdict = undefined
      })
    }
    return verdict.yes
  }

  /**
   * `insert into t (cols) values (?, default, null, …), …` as text and parameters (drizzle's builder is slow
   * for a thousand rows): each row's given fields, `$defaultFn`s run per row as drizzle's own insert runs
   * them, `default` for a field a row leaves out; generated columns take no value. Undefined where a
   * `$defaultFn` returns SQL, or no column takes a value: drizzle's builder writes those rows.
   */
  function insertText(rows: readonly Record<string, unknown>[]): Rendered | undefined {
    if (!rawSession) return undefined
    const written = valuesTuples(columns, rows, () => '?')
    if (!written) return undefined
    const { dialect } = rawSession
    const list = written.names.map((name) =>
      text(sql`${sql.identifier(databaseColumnName(db, columns[name] as Column))}`, dialect),
    )
    return {
      sql: `insert into ${text(sql`${table}`, dialect)} (${list.join(', ')}) values ${written.tuples.join(', ')}`,
      params: written.params,
    }
  }

  /** One multi-row INSERT of `rows`; false when it wrote nothing for a reason the keys one by one settle. */
  async function insertAll(rows: readonly Record<string, unknown>[]): Promise<boolean> {
    const statement = insertText(rows)
    const insert = () =>
      statement
        ? raw(statement, true)
        : db.insert(table).values(rows.map((values) => valuesForDrizzle(values, inherited)))
    try {
      await (context.inTransaction ? inSavepoint(db, insert) : insert())
      return true
    } catch (error) {
      const errno = mysqlError(error)?.errno
      // A deadlock inside a transaction rolled all of it back: the caller must see it.
      if (errno !== undefined && SETTLE_ONE_BY_ONE.has(errno) && !(errno === 1213 && context.inTransaction)) {
        return false
      }
      mysqlStatementError(error, label)
    }
  }

  async function insertMany(
    entries: readonly { readonly key: Record<string, unknown>; readonly values: Record<string, unknown> }[],
  ): Promise<{ row: unknown; inserted: boolean }[] | undefined> {
    if (entries.length === 0) return []
    // A trigger may rewrite a key: each insert of the one-by-one path checks its key. A table whose engine
    // does not roll a failed statement back (MyISAM, Aria) would keep part of a refused insert.
    if (!(await batchable())) return undefined
    // One order for every batch (by key), so that two batches meet their keys' index records in one order.
    const ordered = entriesInKeyOrder(entries)
    const chunk = Math.max(1, Math.floor(MAX_PARAMETERS / Math.max(1, Object.keys(columns).length)))
    /** Entries this call inserted: their rows are read back. */
    const inserted = new Set<(typeof entries)[number]>()
    /** Per entry settled one by one, the row it inserted (a row that existed is read back). */
    const own = new Map<(typeof entries)[number], unknown>()
    for (let from = 0; from < ordered.length; from += chunk) {
      const part = ordered.slice(from, from + chunk)
      if (await insertAll(part.map((entry) => entry.values))) {
        for (const entry of part) inserted.add(entry)
        continue
      }
      // Refused whole: one key at a time, in order, each insert telling its key's duplicate (the row exists)
      // from another unique index's (thrown), so that of keys the server treats as equal the first inserts.
      for (const entry of part) {
        const row = await context.insertOne(entry.key, entry.values)
        if (row !== undefined) own.set(entry, row)
      }
    }
    const unread = entries.filter((entry) => !own.has(entry))
    const found = await findMany(unread.map((entry) => entry.key))
    const read = new Map(unread.map((entry, i) => [entry, found[i]]))
    return entries.map((entry) => {
      if (own.has(entry)) return { row: own.get(entry), inserted: true }
      const row = read.get(entry)
      return { row, inserted: row !== undefined && inserted.has(entry) }
    })
  }

  return { findMany, insertMany }
}
