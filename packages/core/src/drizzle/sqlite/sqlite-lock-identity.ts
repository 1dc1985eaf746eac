import type { Column } from 'drizzle-orm'
import { InvalidKeyError } from '../../errors.js'
import type { LockIdentity } from '../../types.js'
import type { SqliteAffinity, SqliteColumnFacts, SqliteTableFacts } from './sqlite-table-facts.js'
import { asciiLower } from './sqlite-table-sql.js'

/**
 * Text that a column with numeric affinity stores as a number (a well-formed integer or real literal, ASCII
 * white space around it allowed): the literal is group 1. `'0x10'`, `'1_000'`, `'7 abc'` stay text.
 */
const NUMBER_TEXT = /^[ \t\n\v\f\r]*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)[ \t\n\v\f\r]*$/
const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

/**
 * The integer a column of numeric affinity (INTEGER, REAL, NUMERIC) converts `value` to for a comparison
 * (number text within 64 bits, or a bigint), where a REAL column would store it as another number: an
 * integer beyond ±2^53 that no double holds. Undefined where it would not.
 */
function changedInReal(value: unknown): bigint | undefined {
  let integer: bigint | undefined
  if (typeof value === 'bigint') integer = value
  const literal = typeof value === 'string' ? NUMBER_TEXT.exec(value)?.[1] : undefined
  if (literal !== undefined && /^[+-]?\d+$/.test(literal)) integer = BigInt(literal)
  if (integer === undefined || integer < INT64_MIN || integer > INT64_MAX) return undefined
  return BigInt(Number(integer)) === integer ? undefined : integer
}

/**
 * What a column of `affinity` compares a bound `value` as: numeric affinities (INTEGER, REAL, NUMERIC) turn
 * number text into an integer (within 64 bits) or a real; other values stay as they are (a TEXT column's
 * number is compared by value below: a field's values share one JavaScript type). A REAL column stores an
 * integer as a real of the same value, except an integer no double holds, which {@link refuseChangedKey}
 * refuses.
 */
function stored(value: unknown, affinity: SqliteAffinity): unknown {
  const numeric = affinity === 'INTEGER' || affinity === 'REAL' || affinity === 'NUMERIC'
  if (typeof value === 'string' && numeric) {
    const literal = NUMBER_TEXT.exec(value)?.[1]
    if (literal === undefined) return value
    if (/^[+-]?\d+$/.test(literal)) {
      const integer = BigInt(literal)
      if (integer >= INT64_MIN && integer <= INT64_MAX) return integer
    }
    return Number(literal)
  }
  return value
}

/**
 * Refuse, with `InvalidKeyError`, a key value that its column would store as another value than a read
 * compares it with, so that no read finds the row written for it: an integer beyond ±2^53 (as number text
 * or a bigint) in a column of REAL affinity, which stores the nearest double while `column = ?` compares
 * with the exact integer. `facts` are the live table's; `columnOf` and `nameOf` as for sqliteLockIdentity.
 */
export function refuseChangedKey(
  facts: SqliteTableFacts,
  label: string,
  key: Record<string, unknown>,
  columnOf: (field: string) => Column,
  nameOf: (column: Column) => string,
): void {
  for (const [field, value] of Object.entries(key)) {
    if (value === null || value === undefined) continue
    const column = columnOf(field)
    const live = facts.columns.get(asciiLower(nameOf(column)))
    if (live?.affinity !== 'REAL') continue
    const integer = changedInReal(column.mapToDriverValue(value))
    if (integer === undefined) continue
    throw new InvalidKeyError(
      `Key field "${field}" of ${label} is ${JSON.stringify(String(value))}: column "${live.name}" has REAL ` +
        `affinity and would store ${integer} as ${Number(integer)}, while a read compares with ${integer} ` +
        'exactly, so no read would find the row. Give the value the column stores, or declare the column ' +
        'INTEGER or NUMERIC.',
    )
  }
}

/** A text value under `collation` as SQLite compares it; throws for a collation the application defines. */
function folded(text: string, field: string, label: string, column: SqliteColumnFacts): string {
  switch (column.collation) {
    case 'BINARY':
      return text
    case 'NOCASE': // SQLite's NOCASE folds A–Z only: 'É' and 'é' differ
      return text.replace(/[A-Z]/g, (letter) => letter.toLowerCase())
    case 'RTRIM': // trailing spaces (U+0020) only
      return text.replace(/ +$/, '')
  }
  throw new InvalidKeyError(
    `Key field "${field}" of ${label}: its column "${column.name}" compares text under collation ` +
      `${column.collation}, which the application defines, so the store cannot tell which spellings it makes ` +
      'equal and cannot take one lock for them. Declare the column COLLATE BINARY, NOCASE or RTRIM, or give ' +
      'it a unique index and use the constraint strategy, which lets the index decide.',
  )
}

/**
 * One key value as SQLite compares it in `column`: the driver's value (drizzle's `mapToDriverValue`: a
 * `timestamp` column's Date in whole seconds), converted by the column's affinity; a number as a string, an
 * integer exactly and a real as JavaScript prints it (`7`, `7.0`, `'7.00'` and `7n` alike, `-0` as `0`),
 * text folded by the collation, bytes in hex. Where two types could meet in one field and give one string (`7` and `'7'` in a
 * column without affinity, which SQLite tells apart) they share a lock: coarser, never wrong.
 */
function canonical(value: unknown, field: string, label: string, db: Column, column: SqliteColumnFacts) {
  if (value === null) return null
  const driver = stored(db.mapToDriverValue(value), column.affinity)
  if (typeof driver === 'number') {
    if (!Number.isFinite(driver)) {
      throw new InvalidKeyError(
        `Key field "${field}" of ${label} is ${JSON.stringify(value)}, which column "${column.name}" would ` +
          'store as an infinite real: not a value a key can lock.',
      )
    }
    return String(driver) // -0 is '0'; an integral double prints exactly as the integer it equals
  }
  if (typeof driver === 'bigint') return driver.toString()
  if (typeof driver === 'string') return folded(driver, field, label, column)
  if (driver instanceof Uint8Array) return Buffer.from(driver).toString('hex')
  return driver
}

/**
 * {@link Store.lockIdentity} of a SQLite table, computed in JavaScript from its `facts` (no round trip):
 * `table` is `sqlite:<database file>:<table>` (`sqlite::memory::<table>` for a database without a file),
 * `key` each value as {@link canonical} says. `columnOf` gives a field's column, `nameOf` its database name.
 *
 * @throws InvalidKeyError for a key value no lock key can stand for (see {@link refuseChangedKey} and
 *   {@link canonical}), or a key field whose column the live table lacks.
 */
export function sqliteLockIdentity(
  facts: SqliteTableFacts,
  label: string,
  key: Record<string, unknown>,
  columnOf: (field: string) => Column,
  nameOf: (column: Column) => string,
): LockIdentity {
  refuseChangedKey(facts, label, key, columnOf, nameOf)
  const identity: Record<string, unknown> = {}
  for (const [field, value] of Object.entries(key)) {
    const column = columnOf(field)
    const live = facts.columns.get(asciiLower(nameOf(column)))
    if (!live) {
      // The declaration names a column the live table lacks: as on Postgres, the key names a column the table
      // does not have.
      throw new InvalidKeyError(
        `Key field "${field}" of ${label} has no column in the live table (no column "${nameOf(column)}" in ` +
          'the database): migrate the table, or leave the field out of the key.',
      )
    }
    identity[field] = canonical(value, field, label, column, live)
  }
  return { table: `sqlite:${facts.file || ':memory:'}:${facts.table}`, key: identity }
}
