import { createHash } from 'node:crypto'
import * as drizzleOrm from 'drizzle-orm'
import { type Column, DrizzleQueryError, entityKind, is, Param, Placeholder, type SQL } from 'drizzle-orm'

/** How drizzle maps a builder's row of arrays to its fields (exported by drizzle-orm, not in its types). */
type MapResultRow = (fields: unknown[], row: unknown[], joinsNotNullableMap: unknown) => unknown

/** drizzle's own row mapper, where this drizzle exports it. */
const mapResultRow = (drizzleOrm as unknown as { mapResultRow?: MapResultRow }).mapResultRow

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
  return directly(
    raw._.session.prepareQuery(rendered, undefined, statementName(rendered.sql), true, mapRows, metadata),
  )
}

/** What {@link directPostgresJs} reads of drizzle's postgres.js prepared query (drizzle 0.44 and 0.45). */
interface PostgresJsPrepared {
  readonly client: {
    unsafe(
      text: string,
      params: unknown[],
      options: { prepare: boolean },
    ): PromiseLike<unknown> & { values(): Promise<unknown[][]> }
  }
  readonly queryString: string
  readonly params: readonly unknown[]
  readonly prepare: boolean
  readonly logger: { logQuery(query: string, params: unknown[]): void }
  readonly cache: object | undefined
  readonly queryMetadata: object | undefined
  readonly queryWithCache: unknown
  /** The builder's fields, whose columns map a row (a builder's own prepared statement), or undefined. */
  readonly fields: unknown[] | undefined
  readonly joinsNotNullableMap: Record<string, boolean> | undefined
  /** Rows as arrays → the result (ours), or undefined. */
  readonly customResultMapper: ((rows: unknown[][]) => unknown) | undefined
}

/** How one parameter of a prepared statement gets its value on each run (drizzle's `fillPlaceholders`). */
type Filler =
  | { readonly name: string; readonly encode: ((value: unknown) => unknown) | undefined }
  | { readonly value: unknown }

/**
 * `prepared` (drizzle's own, on postgres.js) run straight on the driver: what drizzle's `execute` does for it,
 * without the four `async` layers it does it in (its tracing span, which is a pass-through without
 * OpenTelemetry; its query cache, which a read, or a write without a cache, skips; its closure around the
 * driver's call). The same statement, prepared by the same name, with the same parameters (each placeholder
 * filled as drizzle's `fillPlaceholders` fills it, worked out once per statement), logged to the same logger,
 * its rows mapped as drizzle maps them (the statement's own mapper, or its builder's fields), a failure wrapped
 * in the same `DrizzleQueryError`. A hit's statement is most of a call: those layers were about a twentieth of
 * its CPU time. `prepared` itself (drizzle's own `execute`) for any other driver, a drizzle that does not look
 * as described, or a write on a database with a query cache, which drizzle tells of the write.
 */
export function directly(prepared: Prepared): Prepared {
  return directPostgresJs(prepared) ?? prepared
}

/** The drizzle class an object is an instance of (its constructor's `entityKind`), or undefined. */
function kindOf(value: object): unknown {
  return (value.constructor as { [entityKind]?: unknown } | undefined)?.[entityKind]
}

/** {@link directly}'s statement, or undefined where drizzle's own `execute` must run it. */
function directPostgresJs(prepared: Prepared): Prepared | undefined {
  const query = prepared as unknown as Partial<PostgresJsPrepared>
  if (kindOf(prepared) !== 'PostgresJsPreparedQuery' || typeof query.queryWithCache !== 'function') {
    return undefined
  }
  const { client, queryString, params, logger, cache, queryMetadata, fields, customResultMapper } = query
  if (
    typeof client?.unsafe !== 'function' ||
    typeof queryString !== 'string' ||
    !Array.isArray(params) ||
    typeof logger?.logQuery !== 'function' ||
    typeof query.prepare !== 'boolean' ||
    (customResultMapper !== undefined && typeof customResultMapper !== 'function') ||
    (fields !== undefined && (!Array.isArray(fields) || typeof mapResultRow !== 'function'))
  ) {
    return undefined
  }
  // drizzle's own branch without its cache: no cache, the no-op one, or a statement without metadata (a read).
  if (cache !== undefined && kindOf(cache) !== 'NoopCache' && queryMetadata !== undefined) return undefined
  const fillers: Filler[] = params.map((param: unknown): Filler => {
    if (is(param, Placeholder)) return { name: param.name, encode: undefined }
    if (is(param, Param) && is(param.value, Placeholder)) {
      const encoder = param.encoder
      return { name: param.value.name, encode: (value) => encoder.mapToDriverValue(value) }
    }
    return { value: param }
  })
  const fill = (values: Record<string, unknown>): unknown[] => {
    const filled: unknown[] = new Array(fillers.length)
    for (let i = 0; i < fillers.length; i++) {
      const filler = fillers[i] as Filler
      if ('value' in filler) {
        filled[i] = filler.value
        continue
      }
      if (!(filler.name in values)) throw new Error(`No value for placeholder "${filler.name}" was provided`)
      const value = values[filler.name]
      filled[i] = filler.encode ? filler.encode(value) : value
    }
    return filled
  }
  const options = { prepare: query.prepare }
  // As drizzle maps: the statement's mapper, else its builder's fields, else the driver's rows as objects.
  const mapRows: ((rows: unknown[][]) => unknown) | undefined =
    customResultMapper ??
    (fields && mapResultRow
      ? (rows) => rows.map((row) => mapResultRow(fields, row, query.joinsNotNullableMap))
      : undefined)
  return {
    execute(placeholders: Record<string, unknown> = {}): Promise<unknown> {
      let filled: unknown[]
      try {
        filled = fill(placeholders)
        logger.logQuery(queryString, filled)
      } catch (error) {
        // drizzle's execute is async: what it throws comes as a rejection.
        return Promise.reject(error)
      }
      const failed = (error: unknown): never => {
        throw new DrizzleQueryError(queryString, filled, error as Error)
      }
      try {
        const sent = client.unsafe(queryString, filled, options)
        return mapRows ? sent.values().then(mapRows, failed) : Promise.resolve(sent).then(undefined, failed)
      } catch (error) {
        return Promise.reject(new DrizzleQueryError(queryString, filled, error as Error))
      }
    },
  }
}
