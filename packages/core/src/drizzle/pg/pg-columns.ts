import { type Column, sql } from 'drizzle-orm'
import type { KeyCast } from '../common/key-where.js'
import { rowsOf } from './pg-catalog.js'
import type { AnyPgDatabase } from './pg-database.js'

/** A column as the live catalog describes it (a domain read as its base type, with the domain's typmod). */
export interface PgColumnFacts {
  /** The column's name in the database. */
  readonly name: string
  /** Its full SQL type with its typmod, as `format_type` prints it: `'timestamp(0) without time zone'`. */
  readonly type: string
  /**
   * The same type without a typmod, as `format_type(oid, -1)` prints it (`'numeric'`, `'bpchar'`, `'"bit"'`,
   * `'character varying'`): what a value compared with the column is typed as, for a cast that cuts nothing.
   */
  readonly untyped: string
  /** The base type's name in `pg_type` (`'timestamptz'`, `'numeric'`, `'varchar'`, `'bpchar'`, `'citext'`). */
  readonly base: string
  /** The typmod (`-1`: none): a precision, a scale, a length, which writes round or cut the value to. */
  readonly typmod: number
  /** The base type's `typcategory` (`'E'`: an enum). */
  readonly category: string
  /** The column's collation (`''`: not collatable), and whether it compares bytes (`deterministic`). */
  readonly collation: string
  /** False for an ICU `deterministic = false` collation: equal strings may differ in bytes. */
  readonly deterministic: boolean
}

/** The table as the catalog resolves it (through `search_path` for a table declared without a schema). */
export interface PgRelationFacts {
  /** The schema the table lives in. */
  readonly schema: string
  /** The table's name in the catalog. */
  readonly table: string
  /** Its columns, by their names in the database. */
  readonly columns: ReadonlyMap<string, PgColumnFacts>
}

/**
 * One query: the schema the name resolves to, and every column's type with its typmod and its collation
 * (`collisdeterministic` read through to_jsonb: before Postgres 12 every collation is deterministic). The
 * column list comes back as JSON text, whatever the driver's type parsing.
 */
const RELATION_FACTS = (relation: string) => sql`
  select n.nspname::text as schema_name, c.relname::text as table_name,
    coalesce((
      select json_agg(json_build_object(
        'name', a.attname::text,
        'type', format_type(b.oid, case when t.typtype = 'd' then t.typtypmod else a.atttypmod end),
        'untyped', format_type(b.oid, -1),
        'base', b.typname::text,
        'typmod', case when t.typtype = 'd' then t.typtypmod else a.atttypmod end,
        'category', b.typcategory::text,
        'collation', coalesce(co.collname::text, ''),
        'deterministic', coalesce((to_jsonb(co) ->> 'collisdeterministic')::boolean, true)
      ) order by a.attnum)
      from pg_attribute a
      join pg_type t on t.oid = a.atttypid
      join pg_type b on b.oid = case when t.typtype = 'd' then t.typbasetype else t.oid end
      left join pg_collation co on co.oid = a.attcollation
      where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
    ), '[]')::text as columns
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where c.oid = ${relation}::regclass`

/** The facts of `relation` (a quoted, maybe schema-qualified name), in one round trip. */
export async function readPgRelationFacts(db: AnyPgDatabase, relation: string): Promise<PgRelationFacts> {
  const [row] = rowsOf(await db.execute(RELATION_FACTS(relation)))
  if (!row) throw new Error(`Postgres catalog: no relation ${relation}`)
  const parsed = JSON.parse(String(row.columns)) as PgColumnFacts[]
  return {
    schema: String(row.schema_name),
    table: String(row.table_name),
    columns: new Map(parsed.map((column) => [column.name, { ...column, typmod: Number(column.typmod) }])),
  }
}

/** Declared types whose values Postgres stores as given and compares exactly: no catalog read for them. */
const EXACT_DECLARED =
  /^(text|integer|smallint|bigint|serial|smallserial|bigserial|boolean|uuid|real|double precision)$/

/**
 * Whether a key on `column` may need the live column's facts to compare the way the column stores: every
 * type but those drizzle declares as exact (text, integers, boolean, uuid, floats) and enums. A key on
 * exact columns only never reads the catalog, so its statements are as before.
 */
export function mayRound(column: Column): boolean {
  if (column.columnType === 'PgEnumColumn') return false
  return !EXACT_DECLARED.test(column.getSQLType().toLowerCase())
}

/** Types whose writes round the value to the typmod (a precision or a scale). */
const ROUNDING = new Set(['timestamp', 'timestamptz', 'time', 'timetz', 'interval', 'numeric'])

/**
 * How a key's parameter must be written for `column = parameter` to compare as the column stores: cast to
 * the column's full type where a write rounds (`$1::timestamp(0) without time zone`, `::numeric(10,2)`); for
 * `varchar(n)`, cut to n only where the write would (the excess is spaces), and NULL (no match; the insert
 * then fails as "value too long") where it would refuse. `undefined`: compare with the parameter as it is.
 */
export function castFor(facts: PgColumnFacts | undefined): KeyCast | undefined {
  if (!facts || facts.typmod < 0) return undefined
  const type = sql.raw(facts.type)
  if (ROUNDING.has(facts.base)) return (parameter) => sql`${parameter}::${type}`
  if (facts.base === 'varchar') {
    const length = facts.typmod - 4 // VARHDRSZ
    return (parameter) =>
      sql`(case when rtrim(substr(${parameter}::text, ${sql.raw(String(length + 1))})) = '' then ${parameter}::text::${type} end)`
  }
  return undefined
}
