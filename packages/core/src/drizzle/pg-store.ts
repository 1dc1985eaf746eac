import { type Column, is, type SQL, sql } from 'drizzle-orm'
import {
  getTableConfig,
  type PgColumn,
  type PgDatabase,
  type PgQueryResultHKT,
  type PgTable,
  PgTransaction,
} from 'drizzle-orm/pg-core'
import { SerializationConflictError } from '../errors.js'
import type { FindOptions, UniqueIndexFix, Uniqueness } from '../types.js'
import { sqlState } from './db-error.js'
import {
  checkKeyTypes,
  columnsOf,
  type DrizzleStore,
  databaseColumnName,
  insertParameters,
  rowsOf,
  statementName,
} from './drizzle-store.js'
import { keyParams, keyShape, keyWhere } from './shared/key-where.js'
import { type CatalogIndex, uniquenessOf } from './shared/unique-index-match.js'

/** A drizzle Postgres database or transaction, whatever its driver (postgres.js, node-postgres, PGlite) and schema. */
// biome-ignore lint/suspicious/noExplicitAny: drizzle's schema generics are invariant; any schema is accepted.
export type AnyPgDatabase = PgDatabase<PgQueryResultHKT, any>

interface Prepared {
  execute(placeholders?: Record<string, unknown>): Promise<unknown>
}

/**
 * What the store needs of a drizzle Postgres database beyond its query builders: its session (public,
 * `db._.session`) to prepare a statement with our own row mapper, or one the builders cannot express
 * (`insertUnlessFound`), and its dialect to render it (with the database's `casing`). On an unexpected drizzle
 * it is absent: finds then go through the builder's own `prepare`, and `insertUnlessFound` falls back to a read
 * then an insert.
 */
interface RawPreparer {
  readonly _: {
    readonly session: {
      prepareQuery(
        query: { sql: string; params: unknown[] },
        fields: undefined,
        name: string,
        isResponseInArrayMode: boolean,
        customResultMapper: (rows: unknown[][]) => unknown,
        queryMetadata?: { type: 'insert'; tables: string[] },
      ): Prepared
    }
  }
  readonly dialect: { sqlToQuery(query: SQL): { sql: string; params: unknown[] } }
}

function rawPreparer(db: unknown): RawPreparer | undefined {
  const candidate = db as Partial<RawPreparer> | undefined
  return typeof candidate?._?.session?.prepareQuery === 'function' &&
    typeof candidate.dialect?.sqlToQuery === 'function'
    ? (candidate as RawPreparer)
    : undefined
}

/**
 * Catalog answer: every unique index that can arbitrate `ON CONFLICT` (valid, immediate) in the shared shape
 * ({@link CatalogIndex}): its key columns apart from its INCLUDE columns, whether it is partial or has
 * expressions, whether it treats NULLs as equal (Postgres 15+; read through to_jsonb so older servers answer
 * false), and whether all its key columns are NOT NULL in the live table. `indnkeyatts` (Postgres 11+) is read
 * the same way: before 11 every column is a key column.
 */
const UNIQUE_INDEXES = (relation: string) => sql`
  with i as (
    select x.*, coalesce((to_jsonb(x) ->> 'indnkeyatts')::int, x.indnatts) as key_count
    from pg_index x
    where x.indrelid = ${relation}::regclass and x.indisunique and x.indisvalid and x.indimmediate
  )
  select i.indexrelid::regclass::text as name,
         array(
           select a.attname::text
           from unnest(i.indkey) with ordinality as k(attnum, n)
           join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
           where k.n <= i.key_count order by k.n
         ) as columns,
         array(
           select a.attname::text
           from unnest(i.indkey) with ordinality as k(attnum, n)
           join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
           where k.n > i.key_count order by k.n
         ) as include,
         i.indpred is not null as partial,
         i.indexprs is not null as expression,
         coalesce((to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false) as nulls_not_distinct,
         not exists (
           select 1
           from unnest(i.indkey) with ordinality as k(attnum, n)
           join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
           where k.n <= i.key_count and not a.attnotnull
         ) as not_null
  from i`

/**
 * What {@link pgUniqueIndexFix} needs of a table, in one query: its schema and name, the server's version, its
 * kind (`'p'`: partitioned), the columns that may hold NULL, and a partitioned table's partition key (`''`
 * for an expression).
 */
const TABLE_FACTS = (relation: string) => sql`
  select n.nspname::text as schema_name, c.relname::text as table_name, c.relkind::text as relkind,
         current_setting('server_version_num')::int as server_version,
         array(
           select a.attname::text from pg_attribute a
           where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and not a.attnotnull
         ) as nullable,
         array(
           select coalesce(a.attname::text, '')
           from pg_partitioned_table p
           cross join unnest(p.partattrs) as k(attnum)
           left join pg_attribute a on a.attrelid = p.partrelid and a.attnum = k.attnum
           where p.partrelid = c.oid
         ) as partition_key
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where c.oid = ${relation}::regclass`

/** What the catalog says of a table, for {@link pgUniqueIndexFix}. */
export interface PgTableFacts {
  /** The schema the table lives in. */
  readonly schema: string
  /** The table's name in the catalog. */
  readonly table: string
  /** `server_version_num`, e.g. `150020`. */
  readonly serverVersion: number
  /** `pg_class.relkind`: `'r'` a table, `'p'` a partitioned table. */
  readonly relkind: string
  /** The columns that may hold NULL. */
  readonly nullable: readonly string[]
  /** A partitioned table's partition key, one entry per part: a column, or `''` for an expression. */
  readonly partitionKey: readonly string[]
}

/**
 * The statement that adds a unique index on exactly `columns` (the database's names) to the table `facts`
 * describe, as {@link UniqueIndexFix}. A nullable column gets `NULLS NOT DISTINCT` on Postgres 15+, so that
 * a key with a NULL in it is one row once the index exists; before 15 the hint says to make it NOT NULL. A
 * partitioned table takes a unique index only if it includes the whole partition key (columns, not
 * expressions): where the key does not, there is no SQL, and the hint points at the lock strategy. Exported
 * for tests.
 */
export function pgUniqueIndexFix(facts: PgTableFacts, columns: readonly string[]): UniqueIndexFix {
  const table = `${facts.schema}.${facts.table}`
  const list = (names: readonly string[]) => names.join(', ')
  if (facts.relkind === 'p') {
    const lacking = facts.partitionKey.filter((part) => part === '' || !columns.includes(part))
    if (lacking.length > 0 || facts.partitionKey.length === 0) {
      const by = facts.partitionKey.map((part) => part || '(an expression)')
      return {
        table,
        columns: [...columns],
        hint:
          `${table} is partitioned by (${list(by)}), and a unique index on a partitioned table must include ` +
          `the whole partition key (columns, not expressions), which this key (${list(columns)}) does not: no ` +
          `index can enforce it. Use redisLockStrategy from @getorcreate/redis-lock, which makes the key unique ` +
          `with a lock instead`,
      }
    }
  }
  const nullable = columns.filter((name) => facts.nullable.includes(name))
  const nullsNotDistinct = nullable.length > 0 && facts.serverVersion >= 150000
  const target = `${quoteIdent(facts.schema)}.${quoteIdent(facts.table)}`
  return {
    table,
    columns: [...columns],
    sql:
      `CREATE UNIQUE INDEX ON ${target} (${columns.map(quoteIdent).join(', ')})` +
      (nullsNotDistinct ? ' NULLS NOT DISTINCT' : ''),
    ...(nullable.length > 0 && !nullsNotDistinct
      ? {
          hint:
            `${list(nullable)} may hold NULL, and before Postgres 15 a unique index treats NULLs as distinct: for ` +
            `a key with a NULL in it to be one row, make ${list(nullable)} NOT NULL (ALTER TABLE … ALTER COLUMN … ` +
            `SET NOT NULL)`,
        }
      : {}),
  }
}

/** Booleans from raw queries: true, or 't' where a driver returns text. */
function isTrue(value: unknown): boolean {
  return value === true || value === 't'
}

/** True for a generated column, to which drizzle's own insert gives no value (`shouldDisableInsert`). */
function insertDisabled(column: Column): boolean {
  return (column as { shouldDisableInsert?: () => boolean }).shouldDisableInsert?.() === true
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/** `drizzleStore` for `pg-core` tables. */
export function pgStore<T extends PgTable>(db: AnyPgDatabase, table: T): DrizzleStore<T> {
  type Row = T['$inferSelect']
  const { name: tableName, schema } = getTableConfig(table)
  const relation = schema ? `${quoteIdent(schema)}.${quoteIdent(tableName)}` : quoteIdent(tableName)
  const label = schema ? `${schema}.${tableName}` : tableName
  const columns = columnsOf(table)
  const fields = Object.freeze(Object.keys(columns))
  const statements = new Map<string, Prepared>()

  function column(field: string): Column {
    return columns[field] as Column
  }

  const preparer = rawPreparer(db)
  const decoders = fields.map(column)

  /**
   * Rows as arrays of every column in `fields` order → objects, each value decoded by its column, as drizzle's
   * own mapping does for a single-table select, without its per-row, per-column lookups.
   */
  function mapRows(rows: unknown[][]): Row[] {
    const mapped: Row[] = new Array(rows.length)
    for (let r = 0; r < rows.length; r++) {
      const values = rows[r] as unknown[]
      const row: Record<string, unknown> = {}
      for (let i = 0; i < fields.length; i++) {
        const value = values[i]
        row[fields[i] as string] =
          value === null || value === undefined ? null : (decoders[i] as Column).mapFromDriverValue(value)
      }
      mapped[r] = row as Row
    }
    return mapped
  }

  /**
   * Prepare `query`, which must return every column in `fields` order, with {@link mapRows}. A write says so,
   * as drizzle's own insert does, so that drizzle's query cache (if any) drops what it holds of the table.
   * Reads carry no metadata: drizzle never serves them from its cache, since a find must see the newest row.
   */
  function prepareMapped(raw: RawPreparer, query: SQL, writes = false): Prepared {
    const rendered = raw.dialect.sqlToQuery(query)
    const metadata = writes ? { type: 'insert' as const, tables: [label] } : undefined
    return raw._.session.prepareQuery(
      rendered,
      undefined,
      statementName(rendered.sql),
      true,
      mapRows,
      metadata,
    )
  }

  /** SELECT … WHERE key LIMIT 1, prepared once per key shape (its fields, and which of them are NULL). */
  function findStatement(key: Record<string, unknown>): {
    statement: Prepared
    params: Record<string, unknown>
  } {
    const { shape } = keyShape(key)
    const params = keyParams(column, key)
    let statement = statements.get(`find:${shape}`)
    if (!statement) {
      const where = keyWhere(column, key)
      // Every column, in `fields` order, as mapRows expects.
      const query = db
        .select(columns as Record<string, PgColumn>)
        .from(table as PgTable)
        .where(where)
        .limit(1)
      statement = preparer
        ? prepareMapped(preparer, query.getSQL())
        : (query.prepare(statementName(query.toSQL().sql)) as Prepared)
      statements.set(`find:${shape}`, statement)
    }
    return { statement, params }
  }

  async function find(key: Partial<Row>, _opts?: FindOptions): Promise<Row | undefined> {
    // Under READ COMMITTED every statement takes a new snapshot, so a plain read is already `fresh`. Under
    // REPEATABLE READ no read can see a row committed after the snapshot; the insert reports that case (40001).
    const record = key as Record<string, unknown>
    checkKeyTypes(label, columns, record)
    const { statement, params } = findStatement(record)
    const rows = (await statement.execute(params)) as Row[]
    return rows[0]
  }

  /**
   * INSERT … [ON CONFLICT (key) DO NOTHING] RETURNING *, prepared once per shape (the fields given, and the
   * conflict target). Built anew only when a column's `$defaultFn` returns SQL, which cannot be a parameter.
   */
  async function runInsert(values: Record<string, unknown>, conflictKey?: readonly string[]): Promise<Row[]> {
    const target = conflictKey?.map(column) as PgColumn[] | undefined
    const build = (row: Record<string, unknown>) => {
      const query = db.insert(table as PgTable).values(row)
      return (target ? query.onConflictDoNothing({ target }) : query).returning()
    }
    const parameters = insertParameters(columns, values)
    if (!parameters) return (await build(values)) as Row[]
    const id = `insert:${parameters.shape}|${conflictKey ? [...conflictKey].sort().join(',') : '-'}`
    let statement = statements.get(id)
    if (!statement) {
      const query = build(parameters.placeholders)
      statement = query.prepare(statementName(query.toSQL().sql)) as Prepared
      statements.set(id, statement)
    }
    return (await statement.execute(parameters.params)) as Row[]
  }

  async function insertIfAbsent(key: Partial<Row>, values: T['$inferInsert']): Promise<Row | undefined> {
    try {
      const rows = await runInsert(values as Record<string, unknown>, Object.keys(key as object))
      return rows[0]
    } catch (error) {
      if (sqlState(error) === '40001') {
        throw new SerializationConflictError(
          `Another transaction created the row for this key of ${label} after this transaction's snapshot was ` +
            `taken (REPEATABLE READ or SERIALIZABLE): it can neither see that row nor create a second one. Roll ` +
            `back and run the whole transaction again.`,
          { cause: error },
        )
      }
      throw error
    }
  }

  async function insert(values: T['$inferInsert']): Promise<Row> {
    const rows = await runInsert(values as Record<string, unknown>)
    return rows[0] as Row
  }

  /** insertUnlessFound statements by shape; `null` where none can be prepared (then: a read, then an insert). */
  const insertUnlessFoundStatements = new Map<string, Prepared | null>()

  /**
   * `INSERT INTO t (…) SELECT $1, … WHERE NOT EXISTS (SELECT 1 FROM t WHERE key) RETURNING …`, prepared once
   * per shape: the insert and the fresh read under a lock in one round trip. Postgres types each parameter
   * from its target column. Rows come back mapped as `find` maps them (column → field, driver → JS value).
   */
  async function insertUnlessFound(key: Partial<Row>, values: T['$inferInsert']): Promise<Row | undefined> {
    const record = key as Record<string, unknown>
    checkKeyTypes(label, columns, record)
    const parameters = insertParameters(columns, values as Record<string, unknown>)
    const id = parameters && `${parameters.shape}|${keyShape(record).shape}`
    let statement = id === undefined ? null : insertUnlessFoundStatements.get(id)
    if (statement === undefined && parameters && id !== undefined) {
      // Generated columns take no value, as in drizzle's own insert.
      const given = parameters.names.filter((field) => !insertDisabled(column(field)))
      statement = null
      if (preparer && given.length > 0) {
        const identifier = (field: string) => sql.identifier(databaseColumnName(db, column(field)))
        const where = keyWhere(column, record, { prefix: 'key:' })
        statement = prepareMapped(
          preparer,
          sql`insert into ${table} (${sql.join(given.map(identifier), sql`, `)}) select ${sql.join(
            given.map((field) =>
              parameters.params[field] === null
                ? sql`null`
                : sql.param(sql.placeholder(field), column(field)),
            ),
            sql`, `,
          )} where not exists (select 1 from ${table} where ${where}) returning ${sql.join(
            fields.map(identifier),
            sql`, `,
          )}`,
          true,
        )
      }
      insertUnlessFoundStatements.set(id, statement)
    }
    if (!statement || !parameters) {
      // A `$defaultFn` returned SQL (no prepared statement can hold it), or no column takes a value: the same
      // thing in two statements.
      if ((await find(key)) !== undefined) return undefined
      return (await runInsert(values as Record<string, unknown>))[0]
    }
    const params = { ...parameters.params, ...keyParams(column, record, 'key:') }
    const rows = (await statement.execute(params)) as Row[]
    return rows[0]
  }

  async function uniqueness(keyFields: readonly string[]): Promise<Uniqueness> {
    const rows = rowsOf(await db.execute(UNIQUE_INDEXES(relation)))
    const indexes = rows.map(
      (row): CatalogIndex => ({
        name: String(row.name),
        columns: row.columns as string[],
        include: row.include as string[],
        partial: isTrue(row.partial),
        expression: isTrue(row.expression),
        nullsNotDistinct: isTrue(row.nulls_not_distinct),
        notNull: isTrue(row.not_null),
      }),
    )
    return uniquenessOf(
      indexes,
      keyFields.map((field) => databaseColumnName(db, column(field))),
    )
  }

  /**
   * `CREATE UNIQUE INDEX ON "schema"."table" ("column", …)`, with the schema the table lives in (read from
   * the catalog: a table declared without one is found through the search path) and the columns' real names;
   * see {@link pgUniqueIndexFix}. One round trip, made only for a `MissingUniqueConstraintError`.
   */
  async function uniqueIndexFix(keyFields: readonly string[]): Promise<UniqueIndexFix> {
    const [found] = rowsOf(await db.execute(TABLE_FACTS(relation)))
    const names = keyFields.map((field) => databaseColumnName(db, column(field)))
    return pgUniqueIndexFix(
      {
        schema: String(found?.schema_name ?? schema ?? 'public'),
        table: String(found?.table_name ?? tableName),
        serverVersion: Number(found?.server_version ?? 0),
        relkind: String(found?.relkind ?? 'r'),
        nullable: (found?.nullable as string[] | null | undefined) ?? [],
        partitionKey: (found?.partition_key as string[] | null | undefined) ?? [],
      },
      names,
    )
  }

  return {
    name: `pg:${schema ?? 'public'}.${tableName}`,
    fields,
    inTransaction: is(db, PgTransaction),
    find,
    insert: (values) => insert(values),
    insertIfAbsent,
    insertUnlessFound: (key, values) => insertUnlessFound(key, values),
    uniqueness,
    uniqueIndexFix,
  }
}
