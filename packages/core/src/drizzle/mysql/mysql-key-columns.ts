import { sql } from 'drizzle-orm'
import type { MySqlTablePlace } from './mysql-catalog.js'
import type { AnyMySqlDatabase } from './mysql-database.js'
import { resultRows } from './mysql-rows.js'

/**
 * How the server compares a key column's values, and so how a key value becomes what it compares:
 * - `exact`: as given (integers, booleans, binary strings, `_bin` NO PAD collations);
 * - `trim`: a `_bin` PAD SPACE collation: trailing spaces do not count, nothing else is folded (no round trip);
 * - `fold`: any other collation: the server's weight string under the column's collation; for a PAD SPACE
 *   collation padded with spaces to the column's length (`WEIGHT_STRING(… AS CHAR(n))`), as the collation
 *   compares (trimming `' '` would not do: under UCA collations a no-break or ideographic space weighs what a
 *   space weighs, so `'bob'` and `'bob\u00a0'` are one key);
 * - `round`: a column that rounds or truncates on write (`datetime`, `timestamp`, `time`, `date`, `decimal`):
 *   the value cast to the column's type, as the server stores it.
 */
export type KeyColumnRule =
  | { readonly kind: 'exact' }
  | { readonly kind: 'trim' }
  | {
      readonly kind: 'fold'
      readonly charset: string
      readonly collation: string
      /** PAD SPACE: the length, in characters, to pad to (the column's, at most {@link PAD_LIMIT}); else 0. */
      readonly padTo: number
    }
  | { readonly kind: 'round'; readonly castType: string; readonly instant: boolean }

/** What the catalog says about the table's columns: its canonical place, and each column's rule. */
export interface KeyColumnFacts {
  /** The database the table is in: its declared schema, else the connection's `DATABASE()`. */
  readonly database: string
  /** The table's name as the catalog spells it. */
  readonly table: string
  /** Each column's rule, by its lower-cased name. */
  readonly columns: ReadonlyMap<string, KeyColumnRule>
  /** Each text column's character set and collation (names safe to write into SQL), by its lower-cased name. */
  readonly text: ReadonlyMap<string, { readonly charset: string; readonly collation: string }>
}

/**
 * The longest PAD SPACE key that is folded whole: keys of `mediumtext` and `longtext` columns are padded (and
 * so compared) up to this many characters only. Weighing 65,535 characters takes the server about 0.15 ms.
 */
const PAD_LIMIT = 65_535

/** A catalog name safe to write into SQL unquoted (charsets, collations). */
const NAME = /^[A-Za-z0-9_]+$/

/** The rule of one `information_schema.COLUMNS` row (with its collation's `PAD_ATTRIBUTE` where MySQL 8 has it). */
export function keyColumnRule(row: Record<string, unknown>): KeyColumnRule {
  const type = String(row.data_type ?? '').toLowerCase()
  const digits = (value: unknown, fallback: number) =>
    value === null || value === undefined || !Number.isInteger(Number(value)) ? fallback : Number(value)
  const fraction = digits(row.datetime_precision, 0)
  switch (type) {
    case 'datetime':
      return { kind: 'round', castType: `datetime(${fraction})`, instant: false }
    case 'timestamp':
      // Stored as an instant: the session's time_zone turns the value into UTC, so compare instants.
      return { kind: 'round', castType: `datetime(${fraction})`, instant: true }
    case 'time':
      return { kind: 'round', castType: `time(${fraction})`, instant: false }
    case 'date':
      return { kind: 'round', castType: 'date', instant: false }
    case 'decimal':
      return {
        kind: 'round',
        castType: `decimal(${digits(row.numeric_precision, 10)},${digits(row.numeric_scale, 0)})`,
        instant: false,
      }
  }
  const collation = row.collation_name == null ? '' : String(row.collation_name)
  const charset = row.character_set_name == null ? '' : String(row.character_set_name)
  if (collation === '' || collation === 'binary' || !NAME.test(collation) || !NAME.test(charset)) {
    return { kind: 'exact' }
  }
  // MariaDB names NO PAD collations `…_nopad_…`; MySQL 8 says so in COLLATIONS.PAD_ATTRIBUTE.
  const padSpace = row.PAD_ATTRIBUTE !== 'NO PAD' && !/_nopad_|_nopad$/i.test(collation)
  if (/_bin$/i.test(collation)) return padSpace ? { kind: 'trim' } : { kind: 'exact' }
  const length = digits(row.character_maximum_length, PAD_LIMIT)
  return { kind: 'fold', charset, collation, padTo: padSpace ? Math.min(Math.max(length, 1), PAD_LIMIT) : 0 }
}

/**
 * The table's columns as the catalog describes them, in one round trip. Undefined when the table does not
 * exist (yet): nothing is kept then, and the next call reads again.
 */
export async function readKeyColumnFacts(
  db: AnyMySqlDatabase,
  { schema, table }: MySqlTablePlace,
): Promise<KeyColumnFacts | undefined> {
  // `co.*`: MySQL 8's COLLATIONS has PAD_ATTRIBUTE, MariaDB's has not; upper-case keys, unlike the aliases.
  const rows = resultRows(
    await db.execute(sql`
      select c.TABLE_SCHEMA as table_schema, c.TABLE_NAME as table_name, c.COLUMN_NAME as column_name,
             c.DATA_TYPE as data_type, c.NUMERIC_PRECISION as numeric_precision,
             c.NUMERIC_SCALE as numeric_scale, c.DATETIME_PRECISION as datetime_precision,
             c.CHARACTER_SET_NAME as character_set_name, c.COLLATION_NAME as collation_name,
             c.CHARACTER_MAXIMUM_LENGTH as character_maximum_length, co.*
      from information_schema.COLUMNS c
      left join information_schema.COLLATIONS co on co.COLLATION_NAME = c.COLLATION_NAME
      where c.TABLE_SCHEMA = coalesce(${schema ?? null}, database()) and c.TABLE_NAME = ${table}`),
  )
  const first = rows[0]
  if (!first) return undefined
  const columns = new Map<string, KeyColumnRule>()
  const text = new Map<string, { charset: string; collation: string }>()
  for (const row of rows) {
    const name = String(row.column_name).toLowerCase()
    columns.set(name, keyColumnRule(row))
    const { collation_name: collation, character_set_name: charset } = row
    if (
      typeof collation === 'string' &&
      typeof charset === 'string' &&
      NAME.test(collation) &&
      NAME.test(charset)
    ) {
      text.set(name, { charset, collation })
    }
  }
  return { database: String(first.table_schema), table: String(first.table_name), columns, text }
}

/** {@link readKeyColumnFacts}, read once per store and kept; a failed or empty read is not kept. */
export function keyColumnFactsKeeper(
  read: () => Promise<KeyColumnFacts | undefined>,
): () => Promise<KeyColumnFacts | undefined> {
  let kept: Promise<KeyColumnFacts | undefined> | undefined
  return () => {
    if (kept) return kept
    const reading = read().then(
      (facts) => {
        if (!facts) kept = undefined
        return facts
      },
      (error: unknown) => {
        kept = undefined
        throw error
      },
    )
    kept = reading
    return reading
  }
}
