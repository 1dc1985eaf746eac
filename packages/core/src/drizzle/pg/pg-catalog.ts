import { sql } from 'drizzle-orm'
import { type CatalogIndex, coveringIndexes } from '../common/unique-index-match.js'
import type { AnyPgDatabase } from './pg-database.js'
import type { PgTableFacts } from './pg-unique-index-fix.js'

/**
 * Catalog answer: every unique index that can arbitrate `ON CONFLICT` (valid, immediate) in the shared shape
 * ({@link CatalogIndex}): its key columns apart from its INCLUDE columns, whether it is partial or has
 * expressions, whether it treats NULLs as equal (Postgres 15+; read through to_jsonb so older servers answer
 * false), where a key column's index collation is not the column's (see {@link PgCatalogIndex}), and whether all its key columns are NOT NULL in the live table. `indnkeyatts` (Postgres 11+) is read
 * the same way: before 11 every column is a key column. Name lists come back as JSON text and booleans as
 * text: the answer does not depend on the driver's type parsing (postgres.js with `fetch_types: false`, or a
 * connection whose type fetch failed, returns a `text[]` as the string `{slug}`).
 */
const UNIQUE_INDEXES = (relation: string) => sql`
  with i as (
    select x.*, coalesce((to_jsonb(x) ->> 'indnkeyatts')::int, x.indnatts) as key_count
    from pg_index x
    where x.indrelid = ${relation}::regclass and x.indisunique and x.indisvalid and x.indimmediate
  )
  select i.indexrelid::regclass::text as name,
         to_json(array(
           select a.attname::text
           from unnest(i.indkey) with ordinality as k(attnum, n)
           join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
           where k.n <= i.key_count order by k.n
         ))::text as columns,
         to_json(array(
           select a.attname::text
           from unnest(i.indkey) with ordinality as k(attnum, n)
           join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
           where k.n > i.key_count order by k.n
         ))::text as include,
         (i.indpred is not null)::text as partial,
         (i.indexprs is not null)::text as expression,
         coalesce((to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false)::text as nulls_not_distinct,
         (not exists (
           select 1
           from unnest(i.indkey) with ordinality as k(attnum, n)
           join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
           where k.n <= i.key_count and not a.attnotnull
         ))::text as not_null,
         to_json(array(
           select format('column "%s": the index compares under collation "%s", the column under collation "%s"',
                         a.attname, coalesce(ic.collname::text, '-'), coalesce(ac.collname::text, '-'))
           from unnest(i.indkey) with ordinality as k(attnum, n)
           join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
           left join pg_collation ic on ic.oid = i.indcollation[k.n - 1]
           left join pg_collation ac on ac.oid = a.attcollation
           where k.n <= i.key_count and i.indcollation[k.n - 1] <> a.attcollation
             and not (coalesce((to_jsonb(ic) ->> 'collisdeterministic')::boolean, true)
                      and coalesce((to_jsonb(ac) ->> 'collisdeterministic')::boolean, true))
         ))::text as collation_mismatch
  from i`

/**
 * What `pgUniqueIndexFix` needs of a table, in one query: its schema and name, the server's version, its
 * kind (`'p'`: partitioned), the columns that may hold NULL, and a partitioned table's partition key (`''`
 * for an expression).
 */
const TABLE_FACTS = (relation: string) => sql`
  select n.nspname::text as schema_name, c.relname::text as table_name, c.relkind::text as relkind,
         current_setting('server_version_num')::int as server_version,
         to_json(array(
           select a.attname::text from pg_attribute a
           where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and not a.attnotnull
         ))::text as nullable,
         to_json(array(
           select coalesce(a.attname::text, '')
           from pg_partitioned_table p
           cross join unnest(p.partattrs) as k(attnum)
           left join pg_attribute a on a.attrelid = p.partrelid and a.attnum = k.attnum
           where p.partrelid = c.oid
         ))::text as partition_key
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where c.oid = ${relation}::regclass`

/** Rows of a raw `db.execute()` result, whatever the driver's result shape. */
export function rowsOf(result: unknown): Record<string, unknown>[] {
  if (Array.isArray(result)) return result as Record<string, unknown>[]
  const rows = (result as { rows?: unknown } | undefined)?.rows
  return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : []
}

/** A boolean the query sent as text (`'true'`); `true` too, should a driver parse it after all. */
function isTrue(value: unknown): boolean {
  return value === true || value === 'true' || value === 't'
}

/** A name list the query sent as JSON text; an array too, should a driver parse it after all. */
function namesOf(value: unknown): string[] {
  const parsed: unknown = typeof value === 'string' ? JSON.parse(value) : value
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string')) {
    throw new TypeError(`Unexpected catalog answer: ${JSON.stringify(value)} is not a list of names.`)
  }
  return parsed
}

/**
 * A unique index as {@link CatalogIndex}, and where its collation differs from its column's on a key column
 * with one of them nondeterministic, what differs (`collationMismatch`, one line per column; else empty):
 * the index and a read of the column would then disagree on which keys are equal.
 */
export interface PgCatalogIndex extends CatalogIndex {
  /** `column "slug": the index compares under collation "ci", the column under collation "default"`, per column. */
  readonly collationMismatch: readonly string[]
}

/** The unique indexes of `relation` (a quoted, maybe schema-qualified name), read anew on every call. */
export async function readPgUniqueIndexes(db: AnyPgDatabase, relation: string): Promise<PgCatalogIndex[]> {
  const rows = rowsOf(await db.execute(UNIQUE_INDEXES(relation)))
  return rows.map(
    (row): PgCatalogIndex => ({
      name: String(row.name),
      columns: namesOf(row.columns),
      include: namesOf(row.include),
      partial: isTrue(row.partial),
      expression: isTrue(row.expression),
      nullsNotDistinct: isTrue(row.nulls_not_distinct),
      notNull: isTrue(row.not_null),
      collationMismatch: namesOf(row.collation_mismatch),
    }),
  )
}

/**
 * What `pgUniqueIndexFix` needs of `relation`, in one round trip; where the catalog does not answer,
 * `declared` (the schema and name the drizzle table declares).
 */
export async function readPgTableFacts(
  db: AnyPgDatabase,
  relation: string,
  declared: { readonly schema: string | undefined; readonly table: string },
): Promise<PgTableFacts> {
  const [found] = rowsOf(await db.execute(TABLE_FACTS(relation)))
  return {
    schema: String(found?.schema_name ?? declared.schema ?? 'public'),
    table: String(found?.table_name ?? declared.table),
    serverVersion: Number(found?.server_version ?? 0),
    relkind: String(found?.relkind ?? 'r'),
    nullable: found ? namesOf(found.nullable) : [],
    partitionKey: found ? namesOf(found.partition_key) : [],
  }
}

/**
 * What differs, where an index that covers exactly `columns` compares a key column under another collation
 * than the column's, one of them nondeterministic (see {@link PgCatalogIndex}); `undefined` where none does.
 */
export function collationMismatchOf(
  indexes: readonly PgCatalogIndex[],
  columns: readonly string[],
): string | undefined {
  const bad = (coveringIndexes(indexes, columns) as PgCatalogIndex[]).filter(
    (index) => index.collationMismatch.length > 0,
  )
  if (bad.length === 0) return undefined
  return bad.map((index) => `unique index ${index.name}: ${index.collationMismatch.join('; ')}`).join('; ')
}
