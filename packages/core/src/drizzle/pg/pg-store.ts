import { type Column, is } from 'drizzle-orm'
import { getTableConfig, type PgColumn, type PgTable, PgTransaction } from 'drizzle-orm/pg-core'
import { onlyField } from '../../key.js'
import type { Fence, FindOptions, InsertOptions, UniqueIndexFix, Uniqueness } from '../../types.js'
import { batchMembers } from '../common/batch-claims.js'
import { checkKeyTypes, columnsOf, databaseColumnName } from '../common/columns.js'
import { insertParameters, updateSet } from '../common/insert-parameters.js'
import { keyParams, keyShape, keyWhere } from '../common/key-where.js'
import type { TableStore } from '../common/table-store.js'
import { uniquenessOf } from '../common/unique-index-match.js'
import { pgAdvisoryLock } from './pg-advisory-lock.js'
import { pgBatch } from './pg-batch.js'
import { collationMismatchOf, readPgTableFacts, readPgUniqueIndexes } from './pg-catalog.js'
import { castFor, mayRound, type PgRelationFacts, readPgRelationFacts } from './pg-columns.js'
import type { AnyPgDatabase } from './pg-database.js'
import { pgInsertError, pgUpdateError } from './pg-errors.js'
import { pgFencing } from './pg-fences.js'
import { insertUnlessFoundQuery, pgInserter } from './pg-insert.js'
import { keyRewrittenOf, readPgInsertTriggers, rowSkipped } from './pg-key-check.js'
import { pgLockIdentity } from './pg-lock-identity.js'
import {
  directly,
  type Prepared,
  prepareMapped,
  type RawPreparer,
  rawPreparer,
  rowMapper,
  statementName,
} from './pg-session.js'
import { pgCollationMismatchFix, pgUniqueIndexFix, quoteIdent } from './pg-unique-index-fix.js'

/** A read's row: the first of the rows its statement returned, or undefined. */
function firstRow(rows: unknown): unknown {
  return (rows as unknown[])[0]
}

/** `drizzleStore` for `pg-core` tables; with `fences`, it checks fencing tokens (see pgFencing). */
export function pgStore<T extends PgTable>(
  db: AnyPgDatabase,
  table: T,
  options: { readonly fences?: unknown } = {},
): TableStore<T> {
  type Row = T['$inferSelect']
  const { name: tableName, schema } = getTableConfig(table)
  const relation = schema ? `${quoteIdent(schema)}.${quoteIdent(tableName)}` : quoteIdent(tableName)
  const label = schema ? `${schema}.${tableName}` : tableName
  const name = `pg:${schema ?? 'public'}.${tableName}`
  const columns = columnsOf(table)
  const fields = Object.freeze(Object.keys(columns))
  const statements = new Map<string, Prepared>()
  const preparer = rawPreparer(db)
  // Every statement prepared with it returns every column in `fields` order.
  const mapRows = rowMapper<Row>(fields, columns)

  function column(field: string): Column {
    return columns[field] as Column
  }

  // The live table's facts (its schema, its columns' types and collations): read once, on the first use of a
  // key on a column whose type may round (see mayRound) and by lockIdentity; a failed read is tried again.
  const rounding = new Set(fields.filter((field) => mayRound(column(field))))
  let relationFacts: PgRelationFacts | undefined
  let readingFacts: Promise<PgRelationFacts> | undefined
  function liveFacts(): Promise<PgRelationFacts> {
    readingFacts ??= readPgRelationFacts(db, relation).then(
      (facts) => (relationFacts = facts),
      (error: unknown) => {
        readingFacts = undefined
        throw error
      },
    )
    return readingFacts
  }
  /** Resolves once `key` can be compared as its columns store (at once, for exact columns or known facts). */
  function factsFor(key: Record<string, unknown>): Promise<unknown> | undefined {
    if (relationFacts || rounding.size === 0) return undefined
    for (const field in key) if (rounding.has(field) && key[field] !== null) return liveFacts()
    return undefined
  }
  const identityContext = {
    db,
    preparer,
    statements: new Map<string, Prepared>(),
    columnName: (column: Column) => databaseColumnName(db, column),
  }
  const casts = (field: string) => castFor(relationFacts?.columns.get(databaseColumnName(db, column(field))))

  /** {@link findStatement}'s statements for keys of one field, not NULL, by the field's name. */
  const findByField = new Map<string, Prepared>()

  /** A read's row from its statement's rows as the driver gives them: the first, mapped, or undefined. */
  const firstMapped = (rows: unknown[][]): Row | undefined =>
    rows.length === 0 ? undefined : mapRows(rows)[0]

  /**
   * SELECT … WHERE key LIMIT 1, prepared once per key shape (its fields, and which of them are NULL); its
   * `execute` resolves to the row, or undefined.
   */
  function findStatement(key: Record<string, unknown>): Prepared {
    // The common key, one field and not NULL: its statement by the field's name, without a shape string a call.
    const only = onlyField(key)
    const single = only !== undefined && key[only] !== null ? only : undefined
    if (single !== undefined) {
      const known = findByField.get(single)
      if (known) return known
    }
    const id = `find:${keyShape(key).shape}`
    let statement = statements.get(id)
    if (!statement) {
      // Every column, in `fields` order, as mapRows expects.
      const query = db
        .select(columns as Record<string, PgColumn>)
        .from(table as PgTable)
        .where(keyWhere(column, key, { cast: casts }))
        .limit(1)
      if (preparer) statement = prepareMapped(preparer, query.getSQL(), firstMapped)
      else {
        const prepared = directly(query.prepare(statementName(query.toSQL().sql)) as Prepared)
        statement = { execute: (params) => prepared.execute(params).then(firstRow) }
      }
      statements.set(id, statement)
    }
    if (single !== undefined) findByField.set(single, statement)
    return statement
  }

  function find(key: Partial<Row>, _opts?: FindOptions): Promise<Row | undefined> {
    // Under READ COMMITTED every statement takes a new snapshot, so a plain read is already `fresh`. Under
    // REPEATABLE READ no read can see a row committed after the snapshot; the insert reports that case (40001).
    // Not `async`: a read is the statement's own promise (its mapper answers the row), not one that awaits it.
    try {
      const record = key as Record<string, unknown>
      checkKeyTypes(label, columns, record)
      const reading = factsFor(record)
      if (reading) return reading.then(() => findNow(record))
      return findNow(record)
    } catch (error) {
      return Promise.reject(error)
    }
  }
  /** {@link find}'s statement, once the key can be compared as its columns store. */
  function findNow(record: Record<string, unknown>): Promise<Row | undefined> {
    return findStatement(record).execute(keyParams(column, record)) as Promise<Row | undefined>
  }

  const insertContext = {
    db,
    table: table as PgTable,
    columns,
    statements,
    casts,
    factsFor,
    store: name,
    fields,
    mapRows: mapRows as (rows: unknown[][]) => unknown[],
    label,
  }
  const runInsert = pgInserter(insertContext)
  const fencing = options.fences === undefined ? undefined : pgFencing(insertContext, options.fences)
  const advisoryLock = pgAdvisoryLock({ ...insertContext, inTransaction: is(db, PgTransaction) })

  async function insertIfAbsentAtomically(
    key: Partial<Row>,
    values: T['$inferInsert'],
  ): Promise<Row | undefined> {
    try {
      const record = key as Record<string, unknown>
      return (await runInsert<Row>(values as Record<string, unknown>, Object.keys(record), record))[0]
    } catch (error) {
      pgInsertError(error, label)
    }
  }

  async function insert(values: T['$inferInsert'], opts?: InsertOptions): Promise<Row> {
    if (fencing && opts?.fence !== undefined) {
      const fence = { token: opts.fence, lockKey: opts.lockKey } as Fence
      return fencing.insert<Row>(values as Record<string, unknown>, fence)
    }
    const key = opts?.key as Record<string, unknown> | undefined
    const [row] = await runInsert<Row>(values as Record<string, unknown>, undefined, key)
    if (row === undefined && key) throw rowSkipped(label, name)
    return row as Row
  }

  /** `Store.update`: `UPDATE … SET … WHERE <find's WHERE> RETURNING *`, one statement. */
  async function update(key: Partial<Row>, values: Partial<Row>): Promise<Row | undefined> {
    const record = key as Record<string, unknown>
    checkKeyTypes(label, columns, record)
    const reading = factsFor(record)
    if (reading) await reading
    const set = updateSet(columns, values as Record<string, unknown>)
    if (!set) return find(key)
    try {
      const rows = await db
        .update(table as PgTable)
        .set(set)
        .where(keyWhere(column, record, { cast: casts, inline: true }))
        .returning()
      return rows[0] as Row | undefined
    } catch (error) {
      pgUpdateError(error, label)
    }
  }

  // getOrCreateMany's batch (one statement that reads and inserts, or a read of every key, one insert and a
  // read back), where it can run.
  const batch =
    preparer &&
    pgBatch({
      db,
      preparer,
      table: table as PgTable,
      relation,
      columns,
      fields,
      mapRows,
      casts,
      factsFor,
      liveFacts: () => (relationFacts ? Promise.resolve(relationFacts) : liveFacts()),
      label,
      inTransaction: is(db, PgTransaction),
    })

  /** insertIfAbsentUnderLock statements by shape; `null` where none can be prepared (then: a read, then an insert). */
  const insertIfAbsentUnderLockStatements = new Map<string, Prepared | null>()

  /**
   * `INSERT INTO t (…) SELECT $1, … WHERE NOT EXISTS (SELECT 1 FROM t WHERE key) RETURNING …`, prepared once
   * per shape: the insert and the fresh read under a lock in one round trip. Postgres types each parameter
   * from its target column. Rows come back mapped as `find` maps them (column → field, driver → JS value).
   */
  async function insertIfAbsentUnderLock(
    key: Partial<Row>,
    values: T['$inferInsert'],
  ): Promise<Row | undefined> {
    const record = key as Record<string, unknown>
    checkKeyTypes(label, columns, record)
    const reading = factsFor(record)
    if (reading) await reading
    const parameters = insertParameters(columns, values as Record<string, unknown>)
    const id = parameters && `${parameters.shape}|${keyShape(record).shape}`
    let statement = id === undefined ? null : insertIfAbsentUnderLockStatements.get(id)
    if (statement === undefined && parameters && id !== undefined) {
      const query = preparer && insertUnlessFoundQuery(insertContext, record, parameters)
      statement = query ? prepareMapped(preparer as RawPreparer, query, mapRows, label) : null
      insertIfAbsentUnderLockStatements.set(id, statement)
    }
    if (!statement || !parameters) {
      // A `$defaultFn` returned SQL (no prepared statement can hold it), or no column takes a value: the same
      // thing in two statements.
      if ((await find(key)) !== undefined) return undefined
      return (await runInsert<Row>(values as Record<string, unknown>, undefined, record))[0]
    }
    const params = { ...parameters.params, ...keyParams(column, record, 'key:') }
    try {
      return ((await statement.execute(params)) as Row[])[0]
    } catch (error) {
      throw keyRewrittenOf(error, name, record) ?? error
    }
  }

  /** Covering indexes whose collation is not their column's, by key fields (see uniqueness), for the fix. */
  const mismatched = new Map<string, string>()

  /**
   * From the live catalog. A covering index whose collation is not its column's (one of them
   * nondeterministic) makes the key not enforced: `ON CONFLICT` would let that index arbitrate while `find`
   * compares as the column does, so a conflict could leave no row to read (ROW_VANISHED), or two rows the
   * read calls one key. The fix then says so instead of printing another index.
   */
  async function uniqueness(keyFields: readonly string[]): Promise<Uniqueness> {
    const indexes = await readPgUniqueIndexes(db, relation)
    const names = keyFields.map((field) => databaseColumnName(db, column(field)))
    const mismatch = collationMismatchOf(indexes, names)
    const id = [...keyFields].sort().join(',')
    if (mismatch === undefined) mismatched.delete(id)
    else mismatched.set(id, mismatch)
    return mismatch === undefined ? uniquenessOf(indexes, names) : 'not-enforced'
  }

  /**
   * `CREATE UNIQUE INDEX ON "schema"."table" ("column", …)`, with the schema the table lives in (read from
   * the catalog: a table declared without one is found through the search path) and the columns' real names;
   * see {@link pgUniqueIndexFix}. One round trip, made only for a `MissingUniqueConstraintError`.
   */
  async function uniqueIndexFix(keyFields: readonly string[]): Promise<UniqueIndexFix> {
    const facts = await readPgTableFacts(db, relation, { schema, table: tableName })
    const names = keyFields.map((field) => databaseColumnName(db, column(field)))
    const mismatch = mismatched.get([...keyFields].sort().join(','))
    return mismatch === undefined
      ? pgUniqueIndexFix(facts, names)
      : pgCollationMismatchFix(facts, names, mismatch)
  }

  return {
    // From the declaration, for messages; lock keys use lockIdentity().table, the schema search_path resolves.
    name,
    fields,
    checksFence: fencing !== undefined,
    inTransaction: is(db, PgTransaction),
    find,
    insert: (values, opts) => insert(values, opts),
    update: (key, values) => update(key, values as Partial<Row>),
    checkKey: (key) => checkKeyTypes(label, columns, key as Record<string, unknown>),
    insertIfAbsentAtomically,
    ...(fencing && {
      insertIfAbsentFenced: async (key: Partial<Row>, values: T['$inferInsert'], fence: Fence) => {
        const record = key as Record<string, unknown>
        checkKeyTypes(label, columns, record)
        return fencing.create<Row>(record, values as Record<string, unknown>, fence)
      },
    }),
    insertIfAbsentUnderLock: (key, values) => insertIfAbsentUnderLock(key, values),
    findOrInsertUnderAdvisoryLock: (key, values, lock) => {
      const record = key as Record<string, unknown>
      checkKeyTypes(label, columns, record)
      return advisoryLock<Row>(record, values as Record<string, unknown>, lock)
    },
    ...(batch && batchMembers<Row, T['$inferInsert']>(label, columns, batch)),
    // The names before 0.3 (deprecated, removed in 0.4).
    insertIfAbsent: insertIfAbsentAtomically,
    insertUnlessFound: (key, values) => insertIfAbsentUnderLock(key, values),
    uniqueness,
    uniqueIndexFix,
    insertTriggers: () => readPgInsertTriggers(db, relation),
    lockIdentity: async (key) => {
      const record = key as Record<string, unknown>
      checkKeyTypes(label, columns, record)
      const facts = relationFacts ?? (await liveFacts())
      return pgLockIdentity(identityContext, label, facts, column, record)
    },
  }
}
