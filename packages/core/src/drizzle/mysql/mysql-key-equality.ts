import { type Column, type SQL, sql } from 'drizzle-orm'
import type { LockIdentity } from '../../types.js'
import { databaseColumnName } from '../common/columns.js'
import { keyWhere } from '../common/key-where.js'
import type { MySqlTablePlace } from './mysql-catalog.js'
import type { AnyMySqlDatabase } from './mysql-database.js'
import {
  type KeyColumnFacts,
  type KeyColumnRule,
  keyColumnFactsKeeper,
  readKeyColumnFacts,
} from './mysql-key-columns.js'
import { resultRows } from './mysql-rows.js'

/** Drizzle SQL types whose columns round or truncate on write: their key values are compared cast. */
const ROUNDING = /^(datetime|timestamp|time|date|decimal|numeric)\b/i

/** Each key field's cast (`datetime(0)`, `decimal(10,2)`): the column's live type, for fields that round. */
type KeyCasts = ReadonlyMap<string, string>

/** How a MySQL store compares keys as the server does: the casts of its `WHERE`s, and its lock identity. */
export interface MySqlKeyEquality {
  /**
   * The casts `key` needs: none without a read when no key column is declared with a type that rounds
   * (`datetime`, `timestamp`, `time`, `date`, `decimal`); else from the column facts (read once, kept).
   */
  casts(key: Record<string, unknown>): Promise<KeyCasts | undefined>
  /**
   * `WHERE` for a key, comparing as the column stores: `column IS NULL`, `column = value` or, for a field
   * with a cast, `column = CAST(value AS type)`. `value` is a placeholder (`sql.placeholder(field)`) or, with
   * `inline`, the key's own value encoded by its column.
   */
  where(key: Record<string, unknown>, casts: KeyCasts | undefined, inline?: boolean): SQL | undefined
  /** {@link Store.lockIdentity}: at most one round trip (none for exact types and `_bin` collations). */
  lockIdentity(key: Record<string, unknown>): Promise<LockIdentity>
  /**
   * For a join of the table with derived values (`… join (select ? as k0 …) k on …`): per field, the condition
   * that the column equals `value` exactly as `where`'s `column = ?` compares it, the value cast as the column
   * rounds (`cast(value as decimal(10,2))`) or, for a text column, converted to its character set under its
   * collation (a derived column is not coerced to the column's collation as a parameter is). Undefined when a
   * field's column is text in a character set other than utf8mb4: the conversion would replace what that set
   * cannot hold with `?` (so `'a😀'` would find `'a?'`), where `find`'s comparison fails or finds nothing.
   */
  joinCondition(fields: readonly string[]): Promise<((field: string, value: SQL) => SQL) | undefined>
}

/** A key value as plain JSON-like data, for an exact column. */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Date) return value.toISOString()
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex')
  return value
}

/** The server expression giving what `rule` compares of the bound `value`, as text. */
function canonicalSql(rule: KeyColumnRule, value: SQL): SQL | undefined {
  if (rule.kind === 'fold') {
    // PAD SPACE: padded to the column's length, so trailing spaces (and what weighs as one) count for nothing;
    // hashed, since a padded weight string can run to hundreds of kilobytes.
    const pad = rule.padTo > 0 ? sql.raw(` as char(${rule.padTo})`) : sql``
    const collated = sql`convert(${value} using ${sql.raw(rule.charset)}) collate ${sql.raw(rule.collation)}`
    return sql`sha2(weight_string(${collated}${pad}), 256)`
  }
  if (rule.kind === 'round') {
    const cast = sql`cast(${value} as ${sql.raw(rule.castType)})`
    // A timestamp is an instant: the session's time_zone maps the value to it, as on write.
    return rule.instant ? sql`cast(unix_timestamp(${cast}) as char)` : sql`cast(${cast} as char)`
  }
  return undefined
}

/** {@link MySqlKeyEquality} of a table's `columns` at `place`. */
export function mysqlKeyEquality(
  db: AnyMySqlDatabase,
  place: MySqlTablePlace,
  columns: Record<string, Column>,
  label: string,
): MySqlKeyEquality {
  const facts = keyColumnFactsKeeper(() => readKeyColumnFacts(db, place))
  const column = (field: string) => columns[field] as Column
  const rounds = (field: string) =>
    ROUNDING.test((column(field) as { getSQLType?: () => string } | undefined)?.getSQLType?.() ?? '')
  const ruleOf = (known: KeyColumnFacts, field: string): KeyColumnRule =>
    known.columns.get(databaseColumnName(db, column(field)).toLowerCase()) ?? { kind: 'exact' }

  async function known(): Promise<KeyColumnFacts> {
    const answer = await facts()
    if (!answer) {
      throw new Error(
        `mysqlStore: table ${label} does not exist${place.schema ? '' : " in the connection's database"}.`,
      )
    }
    return answer
  }

  return {
    async casts(key) {
      const fields = Object.keys(key).filter((field) => key[field] !== null && rounds(field))
      if (fields.length === 0) return undefined
      const answer = await known()
      const casts = new Map<string, string>()
      for (const field of fields) {
        const rule = ruleOf(answer, field)
        if (rule.kind === 'round') casts.set(field, rule.castType)
      }
      return casts
    },

    where(key, casts, inline = false) {
      return keyWhere(column, key, {
        inline,
        cast: (field) => {
          const type = casts?.get(field)
          return type === undefined ? undefined : (value) => sql`cast(${value} as ${sql.raw(type)})`
        },
      })
    },

    async joinCondition(fields) {
      const answer = await known()
      let lossy = false
      const conditions = new Map(
        fields.map((field): [string, (value: SQL) => SQL] => {
          const col = column(field)
          const rule = ruleOf(answer, field)
          // As `casts` decides: a cast for a field declared with a type that rounds, whose column does.
          if (rule.kind === 'round' && rounds(field)) {
            return [field, (value) => sql`${col} = cast(${value} as ${sql.raw(rule.castType)})`]
          }
          const text = answer.text.get(databaseColumnName(db, col).toLowerCase())
          if (text && text.charset.toLowerCase() !== 'utf8mb4') lossy = true
          if (text) {
            const { charset, collation } = text
            return [
              field,
              (value) =>
                sql`${col} = convert(${value} using ${sql.raw(charset)}) collate ${sql.raw(collation)}`,
            ]
          }
          return [field, (value) => sql`${col} = ${value}`]
        }),
      )
      if (lossy) return undefined
      return (field, value) => (conditions.get(field) as (value: SQL) => SQL)(value)
    },

    async lockIdentity(key) {
      const answer = await known()
      const identity: Record<string, unknown> = {}
      const asked: [string, SQL][] = []
      for (const [field, value] of Object.entries(key)) {
        const rule = ruleOf(answer, field)
        if (value === null || value === undefined) identity[field] = null
        else if (rule.kind === 'trim') identity[field] = String(value).replace(/ +$/, '')
        else {
          const expression = canonicalSql(rule, sql`${sql.param(value, column(field))}`)
          if (expression) asked.push([field, expression])
          else identity[field] = plain(value)
        }
      }
      if (asked.length > 0) {
        const selection = sql.join(
          asked.map(([, expression], i) => sql`${expression} as ${sql.identifier(`k${i}`)}`),
          sql`, `,
        )
        const [row] = resultRows(await db.execute(sql`select ${selection}`))
        asked.forEach(([field], i) => {
          identity[field] = row?.[`k${i}`] ?? null
        })
      }
      return { table: `mysql:${answer.database}.${answer.table}`, key: identity }
    },
  }
}
