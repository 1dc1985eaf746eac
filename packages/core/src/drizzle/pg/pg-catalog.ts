import { sql } from 'drizzle-orm'
import type { CatalogIndex } from '../common/unique-index-match.js'
import type { AnyPgDatabase } from './pg-database.js'
import type { PgTableFacts } from './pg-unique-index-fix.js'

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
 * What `pgUniqueIndexFix` needs of a table, in one query: its schema and name, the server's version, its
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

/** Rows of a raw `db.execute()` result, whatever the driver's result shape. */
function rowsOf(result: unknown): Record<string, unknown>[] {
  if (Array.isArray(result)) return result as Record<string, unknown>[]
  const rows = (result as { rows?: unknown } | undefined)?.rows
  return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : []
}

/** Booleans from raw queries: true, or 't' where a driver returns text. */
function isTrue(value: unknown): boolean {
  return value === true || value === 't'
}

/** The unique indexes of `relation` (a quoted, maybe schema-qualified name), read anew on every call. */
export async function readPgUniqueIndexes(db: AnyPgDatabase, relation: string): Promise<CatalogIndex[]> {
  const rows = rowsOf(await db.execute(UNIQUE_INDEXES(relation)))
  return rows.map(
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
    nullable: (found?.nullable as string[] | null | undefined) ?? [],
    partitionKey: (found?.partition_key as string[] | null | undefined) ?? [],
  }
}
