import { createHash } from 'node:crypto'
import type { Column, SQL } from 'drizzle-orm'

/** A prepared statement, whatever the driver. */
export interface Prepared {
  /** Run it with these placeholder values. */
  execute(placeholders?: Record<string, unknown>): Promise<unknown>
}

/**
 * What the store needs of a drizzle Postgres database beyond its query builders: its session (public,
 * `db._.session`) to prepare a statement with our own row mapper, or one the builders cannot express
 * (`insertIfAbsentUnderLock`), and its dialect to render it (with the database's `casing`). On an unexpected drizzle
 * it is absent: finds then go through the builder's own `prepare`, and `insertIfAbsentUnderLock` falls back to a read
 * then an insert.
 */
export interface RawPreparer {
  /** Drizzle's public internals: the session. */
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
  /** Renders SQL as this database does. */
  readonly dialect: { sqlToQuery(query: SQL): { sql: string; params: unknown[] } }
}

/** `db` as a {@link RawPreparer}, or undefined on a drizzle without the session and dialect it needs. */
export function rawPreparer(db: unknown): RawPreparer | undefined {
  const candidate = db as Partial<RawPreparer> | undefined
  return typeof candidate?._?.session?.prepareQuery === 'function' &&
    typeof candidate.dialect?.sqlToQuery === 'function'
    ? (candidate as RawPreparer)
    : undefined
}

/**
 * A name for a prepared statement derived from its text: the same text gets the same name in every store and
 * process (node-postgres caches named statements per connection and refuses one name for two texts).
 */
export function statementName(text: string): string {
  return `goc_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`
}

/**
 * Rows as arrays of every column in `fields` order → objects, each value decoded by its column, as drizzle's
 * own mapping does for a single-table select, without its per-row, per-column lookups.
 */
export function rowMapper<Row>(
  fields: readonly string[],
  columns: Record<string, Column>,
): (rows: unknown[][]) => Row[] {
  const decoders = fields.map((field) => columns[field] as Column)
  return (rows) => {
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
}

/**
 * Prepare `query`, which must return every column in the order `mapRows` expects. A write names its table
 * (`writes`), as drizzle's own insert does, so that drizzle's query cache (if any) drops what it holds of the
 * table. Reads carry no metadata: drizzle never serves them from its cache, since a find must see the newest
 * row.
 */
export function prepareMapped(
  raw: RawPreparer,
  query: SQL,
  mapRows: (rows: unknown[][]) => unknown,
  writes?: string,
): Prepared {
  const rendered = raw.dialect.sqlToQuery(query)
  const metadata = writes === undefined ? undefined : { type: 'insert' as const, tables: [writes] }
  return raw._.session.prepareQuery(rendered, undefined, statementName(rendered.sql), true, mapRows, metadata)
}
