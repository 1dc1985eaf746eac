import { type Column, type SQL, sql } from 'drizzle-orm'
import { InvalidKeyError } from '../../errors.js'
import type { LockIdentity } from '../../types.js'
import type { PgColumnFacts, PgRelationFacts } from './pg-columns.js'
import type { AnyPgDatabase } from './pg-database.js'
import { type Prepared, prepareMapped, type RawPreparer } from './pg-session.js'

/** A key field's canonical value, known at once (`exact`), or to ask Postgres for (`ask`, an expression). */
type Canonical =
  | { readonly exact: unknown }
  | { readonly ask: (value: SQL) => SQL; readonly numeric?: boolean }

/** Strings compared byte for byte (under a deterministic collation). */
const STRINGS = new Set(['text', 'varchar', 'bpchar', 'name'])
const INTEGERS = new Set(['int2', 'int4', 'int8'])
/** Types whose text output depends on no setting (TimeZone, DateStyle), or that are cast to one that does not. */
const EPOCH = new Set(['timestamp', 'timestamptz', 'date', 'time'])

/** `'A0EEBC99…'`, `'{a0eebc99…}'`, without hyphens: the form Postgres prints (lower case, hyphenated). */
function uuidOf(value: string): string | undefined {
  const hex = value
    .replace(/^\{(.*)\}$/, '$1')
    .replaceAll('-', '')
    .toLowerCase()
  if (!/^[0-9a-f]{32}$/.test(hex)) return undefined
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** `varchar(n)`'s write: excess spaces beyond n dropped (any other excess fails the insert: kept as is). */
function cut(value: string, typmod: number): string {
  if (typmod < 0) return value
  const chars = [...value]
  const length = typmod - 4
  return chars.length > length && chars.slice(length).every((char) => char === ' ')
    ? chars.slice(0, length).join('')
    : value
}

/** NAMEDATALEN - 1: the bytes a `name` keeps. */
const NAME_BYTES = 63

/** `name`'s write: cut to 63 bytes of UTF-8, at a character boundary (Postgres's namein). */
function nameOf(value: string): string {
  if (value.length * 3 <= NAME_BYTES) return value
  let bytes = 0
  let kept = ''
  for (const char of value) {
    bytes += Buffer.byteLength(char, 'utf8')
    if (bytes > NAME_BYTES) return kept
    kept += char
  }
  return kept
}

/** The exact value of a finite double: `mantissa × 2^exponent`. */
function exactOf(x: number): { mantissa: bigint; exponent: number } {
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, x)
  const bits = view.getBigUint64(0)
  const biased = Number((bits >> 52n) & 0x7ffn)
  const fraction = bits & 0xfffffffffffffn
  return biased === 0
    ? { mantissa: fraction, exponent: -1074 }
    : { mantissa: fraction | (1n << 52n), exponent: biased - 1075 }
}

/** The sign of `decimal - x` (both positive, exact): the decimal text a driver sends for x, against x itself. */
function decimalAgainst(decimal: string, x: number): number {
  const [digits = '0', power = '0'] = decimal.toLowerCase().split('e')
  const [whole = '', fraction = ''] = digits.split('.')
  const d = BigInt(whole + fraction)
  const k = Number(power) - fraction.length
  const { mantissa, exponent } = exactOf(x)
  const left = d * 10n ** BigInt(Math.max(k, 0)) * 2n ** BigInt(Math.max(-exponent, 0))
  const right = mantissa * 2n ** BigInt(Math.max(exponent, 0)) * 10n ** BigInt(Math.max(-k, 0))
  return left === right ? 0 : left > right ? 1 : -1
}

/**
 * The float4 Postgres stores for the JS number `x`: drivers send `String(x)`, which Postgres rounds to the
 * nearest float4 itself. `Math.fround(x)` rounds `x` instead, which differs where `x` is exactly halfway
 * between two float4s and its shortest decimal is not (1 + 2^-24 is sent as 1.0000000596046448, above the
 * midpoint: Postgres stores 1 + 2^-23, fround gives 1).
 */
function float4Of(x: number): number {
  const rounded = Math.fround(x)
  if (rounded === x || !Number.isFinite(rounded)) return rounded
  const magnitude = Math.abs(x)
  const near = Math.abs(rounded)
  // The float4 on x's other side, from near's bits: one step up or down in magnitude.
  const bits = new Uint32Array(new Float32Array([near]).buffer)[0] as number
  const far = new Float32Array(new Uint32Array([near < magnitude ? bits + 1 : bits - 1]).buffer)[0] as number
  if ((near + far) / 2 !== magnitude) return rounded // not a midpoint: both roundings agree
  const side = decimalAgainst(String(magnitude), magnitude)
  if (side === 0) return rounded // a true tie: both round to even
  const chosen = side > 0 ? Math.max(near, far) : Math.min(near, far)
  return x < 0 ? -chosen : chosen
}

/** Numeric text as Postgres prints it (no exponent), without the trailing zeros its scale adds. */
function trimScale(text: string): string {
  if (!text.includes('.')) return text === '-0' ? '0' : text
  const trimmed = text.replace(/0+$/, '').replace(/\.$/, '')
  return trimmed === '-0' ? '0' : trimmed
}

/**
 * A field's canonical form. Exact types need no round trip; timestamps, dates and times become their
 * epoch (cast to the column's type first, so rounding applies; timezone-independent), intervals their
 * justified epoch, numerics their value cast to the column's type, text, and trimmed; citext (under the
 * default collation) its `lower()`. Nondeterministic collations and other types are refused.
 */
function canonical(label: string, field: string, facts: PgColumnFacts, value: unknown): Canonical {
  const refuse = (why: string, fix: string): never => {
    throw new InvalidKeyError(
      `Key field "${field}" of ${label} (column "${facts.name}", ${facts.type}) ${why}, so no lock key can stand ` +
        `for every spelling Postgres treats as equal. Fix: ${fix}; or add a unique index on the key and use the ` +
        'constraint strategy (the default), which lets the index decide.',
    )
  }
  const as = (type: string) => (value: SQL) => sql`${value}::text::${sql.raw(type)}`
  if (!facts.deterministic) {
    return refuse(
      `compares under the nondeterministic collation "${facts.collation}"`,
      `give the column a deterministic collation (ALTER TABLE … ALTER COLUMN "${facts.name}" TYPE … COLLATE "C")`,
    )
  }
  if (STRINGS.has(facts.base) && typeof value === 'string') {
    if (facts.base === 'bpchar') return { exact: value.replace(/ +$/, '') }
    if (facts.base === 'name') return { exact: nameOf(value) }
    return { exact: facts.base === 'varchar' ? cut(value, facts.typmod) : value }
  }
  if (facts.category === 'E' && typeof value === 'string') return { exact: value }
  if (INTEGERS.has(facts.base) && (typeof value === 'bigint' || Number.isSafeInteger(value))) {
    return { exact: String(value) }
  }
  if (facts.base === 'bool' && typeof value === 'boolean') return { exact: value }
  if ((facts.base === 'float8' || facts.base === 'float4') && typeof value === 'number') {
    const number = facts.base === 'float4' ? float4Of(value) : value
    return { exact: Number.isFinite(number) ? number + 0 : String(number) } // -0 is 0; NaN equals NaN
  }
  if (facts.base === 'uuid' && typeof value === 'string' && uuidOf(value) !== undefined) {
    return { exact: uuidOf(value) }
  }
  const cast = as(facts.type)
  if (EPOCH.has(facts.base)) return { ask: (v) => sql`extract(epoch from ${cast(v)})::text` }
  // timetz's `=` compares the time and the zone (the same instant in two zones is two values): both.
  if (facts.base === 'timetz') {
    return {
      ask: (v) => sql`extract(epoch from ${cast(v)})::text || ' ' || extract(timezone from ${cast(v)})::text`,
    }
  }
  // interval's `=` counts a month as 30 days and a day as 24 hours; extract(epoch) alone counts a year as
  // 365.25 days ('1 year' = '360 days' would differ, '365 days 6 hours' match): justified first, it does not.
  if (facts.base === 'interval')
    return { ask: (v) => sql`extract(epoch from justify_interval(${cast(v)}))::text` }
  if (facts.base === 'numeric') return { ask: (v) => sql`(${cast(v)})::text`, numeric: true }
  // citext's `=` compares lower() under the database's default collation, byte for byte: so does this.
  if (facts.base === 'citext' && facts.collation === 'default') return { ask: (v) => sql`lower(${v}::text)` }
  if (
    facts.base === 'varchar' ||
    facts.base === 'bpchar' ||
    facts.base === 'uuid' ||
    INTEGERS.has(facts.base)
  ) {
    return { ask: (v) => sql`(${cast(v)})::text` } // a spelling the checks above do not know: Postgres's
  }
  return refuse(
    `is of a type whose equality getOrCreate does not know how to canonicalize`,
    'key on a column of an exact type (text, integers, uuid, boolean), a timestamp or a numeric',
  )
}

/** What {@link pgLockIdentity} runs its statement with: the database, and a cache of prepared statements. */
export interface PgIdentityContext {
  readonly db: AnyPgDatabase
  /** Prepares raw SQL (rows as arrays), where the driver allows; else the statement is sent unprepared. */
  readonly preparer: RawPreparer | undefined
  /** Prepared canonicalizing statements, by their text. */
  readonly statements: Map<string, Prepared>
  /** A column's name in the database (drizzle's `casing`). */
  readonly columnName: (column: Column) => string
}

/**
 * {@link LockIdentity} of `key` (each value encoded as drizzle encodes a parameter of its column) on the relation `facts`
 * describe: `pg:<schema>.<table>` with the schema `search_path` resolved, and each field's canonical value
 * (see {@link canonical}), with one prepared statement for all the fields that need Postgres, none where
 * none does.
 */
export async function pgLockIdentity(
  context: PgIdentityContext,
  label: string,
  facts: PgRelationFacts,
  columnOf: (field: string) => Column,
  values: Record<string, unknown>,
): Promise<LockIdentity> {
  const key: Record<string, unknown> = {}
  const asked: { field: string; value: string; ask: (value: SQL) => SQL; numeric: boolean }[] = []
  for (const [field, value] of Object.entries(values)) {
    if (value === null || value === undefined) {
      key[field] = null
      continue
    }
    const declared = columnOf(field)
    const column = facts.columns.get(context.columnName(declared))
    if (!column)
      throw new InvalidKeyError(`Key field "${field}" of ${label} has no column in the live table.`)
    const encoded = declared.mapToDriverValue(value)
    const form = canonical(label, field, column, encoded)
    if ('exact' in form) key[field] = form.exact
    else asked.push({ field, value: String(encoded), ask: form.ask, numeric: form.numeric === true })
  }
  if (asked.length > 0) {
    const { preparer, statements } = context
    const query = (value: (i: number) => SQL) =>
      sql`select ${sql.join(
        asked.map(({ ask }, i) => ask(value(i))),
        sql`, `,
      )}`
    let row: unknown[]
    if (preparer) {
      const text = preparer.dialect.sqlToQuery(query((i) => sql`${sql.placeholder(`v${i}`)}`)).sql
      let statement = statements.get(text)
      if (!statement) {
        statement = prepareMapped(
          preparer,
          query((i) => sql`${sql.placeholder(`v${i}`)}`),
          (rows) => rows,
        )
        statements.set(text, statement)
      }
      const params = Object.fromEntries(asked.map(({ value }, i) => [`v${i}`, value]))
      row = ((await statement.execute(params)) as unknown[][])[0] ?? []
    } else {
      const result = (await context.db.execute(query((i) => sql`${asked[i]?.value}`))) as unknown
      const rows = Array.isArray(result) ? result : ((result as { rows?: unknown[] }).rows ?? [])
      row = Object.values((rows[0] ?? {}) as Record<string, unknown>)
    }
    asked.forEach(({ field, numeric }, i) => {
      const text = row[i]
      key[field] = typeof text === 'string' && numeric ? trimScale(text) : (text ?? null)
    })
  }
  return { table: `pg:${facts.schema}.${facts.table}`, key }
}
