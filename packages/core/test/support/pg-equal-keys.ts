/**
 * Keys that Postgres treats as equal though JavaScript does not (rounding on write, time zone offsets, case,
 * intervals of months and days),
 * as `equalKeys` entries of the conformance suite. One list, run by every Postgres driver under the
 * constraint strategy (packages/core/test/conformance-*.test.ts) and under redisLockStrategy
 * (packages/redis-lock/test/conformance.test.ts), each opening its tables its own way.
 */
import { drizzleStore } from '@getorcreate/core/drizzle'
import type { ConformanceStore, ConformanceTable, EqualKeys } from '@getorcreate/core/testing'
import type { PgColumnBuilderBase, PgDatabase } from 'drizzle-orm/pg-core'
import {
  char,
  customType,
  interval,
  numeric,
  pgTable,
  serial,
  text,
  time,
  timestamp,
  uuid,
  varchar,
} from 'drizzle-orm/pg-core'

/** One key column: its SQL type, its drizzle declaration, and spellings of one key that Postgres equates. */
export interface PgKeyColumn {
  /** For the test's name. */
  readonly name: string
  /** The column's type in `CREATE TABLE` (with a COLLATE clause, if any). */
  readonly sqlType: string
  /** The drizzle column named `k`. */
  readonly column: () => PgColumnBuilderBase
  /** Two or more values of `k` that Postgres compares as equal. */
  readonly spellings: readonly unknown[]
  /** Needs a working ICU collation (PGlite's build compares under it byte for byte). */
  readonly icu?: boolean
  /** `lockIdentity` refuses it (no sound canonical form): not run under a lock strategy. */
  readonly lockRefused?: boolean
  /** SQL to run before the table is created (an extension the type needs). */
  readonly setup?: string
}

/** The citext extension, created if missing (in `public`; a concurrent creator is not an error). */
export const CITEXT_EXTENSION =
  'do $$ begin create extension if not exists citext; ' +
  'exception when unique_violation or duplicate_object then null; end $$'

/** A drizzle `citext` column (drizzle has no builder of its own for the extension's type). */
export const citext = customType<{ data: string }>({ dataType: () => 'citext' })

const UUID = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'

/** The key columns, each with spellings Postgres stores or compares as one value. */
export const PG_KEY_COLUMNS: readonly PgKeyColumn[] = [
  {
    name: 'timestamp(0), Dates rounded to the second on write',
    sqlType: 'timestamp(0)',
    column: () => timestamp('k', { precision: 0, mode: 'date' }),
    spellings: [
      new Date('2024-05-01T10:00:00.000Z'),
      new Date('2024-05-01T10:00:00.400Z'),
      new Date('2024-05-01T09:59:59.600Z'),
    ],
  },
  {
    name: 'timestamptz(0), offsets and milliseconds',
    sqlType: 'timestamptz(0)',
    column: () => timestamp('k', { precision: 0, withTimezone: true, mode: 'string' }),
    spellings: ['2024-05-01T12:00:00+02:00', '2024-05-01T10:00:00Z', '2024-05-01 05:00:00.3-05'],
  },
  {
    name: 'timestamptz, offsets',
    sqlType: 'timestamptz',
    column: () => timestamp('k', { withTimezone: true, mode: 'string' }),
    spellings: ['2024-05-01T12:00:00.25+02:00', '2024-05-01T10:00:00.250Z', '2024-05-01 03:00:00.25-07'],
  },
  {
    name: 'numeric(10,2), scale and rounding on write',
    sqlType: 'numeric(10,2)',
    column: () => numeric('k', { precision: 10, scale: 2 }),
    spellings: ['7', '7.0', '7.001', '6.999', '07.00'],
  },
  {
    name: 'numeric, trailing zeros',
    sqlType: 'numeric',
    column: () => numeric('k'),
    spellings: ['7.5', '7.50', '7.500000', '07.5'],
  },
  {
    name: 'varchar(3), spaces beyond the length dropped on write',
    sqlType: 'varchar(3)',
    column: () => varchar('k', { length: 3 }),
    spellings: ['ab ', 'ab  ', 'ab      '],
  },
  {
    name: 'char(3), trailing spaces insignificant',
    sqlType: 'char(3)',
    column: () => char('k', { length: 3 }),
    spellings: ['ab', 'ab ', 'ab     '],
  },
  {
    name: 'uuid, case and braces',
    sqlType: 'uuid',
    column: () => uuid('k'),
    spellings: [UUID, UUID.toUpperCase(), `{${UUID}}`, UUID.replaceAll('-', '')],
  },
  {
    name: 'timetz(2), rounding on write (the same zone: another zone is another key)',
    sqlType: 'timetz(2)',
    column: () => time('k', { withTimezone: true, precision: 2 }),
    spellings: ['12:00:00+02', '12:00:00.004+02', '11:59:59.996+02:00'],
  },
  {
    name: 'interval, compared as months of 30 days and days of 24 hours',
    sqlType: 'interval',
    column: () => interval('k'),
    spellings: ['1 year', '12 mons', '360 days', '8640 hours', '11 mons 30 days'],
  },
  {
    name: 'interval(0), rounding on write',
    sqlType: 'interval(0)',
    column: () => interval('k', { precision: 0 }),
    spellings: ['1 day 1 second', '1 day 00:00:01.4', '24:00:00.6'],
  },
  {
    name: 'citext, case',
    sqlType: 'citext',
    column: () => citext('k'),
    spellings: ['Bob', 'bob', 'BOB'],
    setup: CITEXT_EXTENSION,
  },
  {
    name: 'text under a case-insensitive ICU collation',
    sqlType: 'text collate goc_ci',
    column: () => text('k'),
    spellings: ['Bob', 'bob', 'BOB'],
    icu: true,
    lockRefused: true,
  },
]

/** The nondeterministic collation the ICU entry's column uses (created if missing, in `public`). */
export const CASE_INSENSITIVE_COLLATION =
  "do $$ begin create collation if not exists public.goc_ci (provider = icu, locale = 'und-u-ks-level2', " +
  'deterministic = false); exception when unique_violation or duplicate_object then null; end $$'

/** What {@link pgEqualKeys} needs of a connection: raw SQL, rows, a drizzle database, a fresh table name. */
export interface PgEqualKeysConnection {
  exec(text: string): Promise<void>
  rows(text: string): Promise<Record<string, unknown>[]>
  // biome-ignore lint/suspicious/noExplicitAny: any drizzle Postgres database
  readonly db: PgDatabase<any, any, any>
  /** A new table name; the table is dropped by `close`. */
  table(): string
  close(): Promise<void>
}

/**
 * `equalKeys` entries for the conformance suite: each column of `columns` in a fresh table `(id serial, k
 * <type>, title text)`, with a unique index on `k` when `unique` (the constraint strategy needs it; a lock
 * strategy is tested without, so that only the lock keeps one row per key).
 */
export function pgEqualKeys(
  open: () => Promise<PgEqualKeysConnection>,
  options: { readonly unique: boolean; readonly columns?: readonly PgKeyColumn[] },
): EqualKeys[] {
  return (options.columns ?? PG_KEY_COLUMNS).map((spec) => ({
    name: spec.name,
    field: 'k',
    spellings: spec.spellings,
    table: async (): Promise<ConformanceTable> => {
      const connection = await open()
      const name = connection.table()
      if (spec.icu) await connection.exec(CASE_INSENSITIVE_COLLATION)
      if (spec.setup) await connection.exec(spec.setup)
      await connection.exec(
        `create table ${name} (id serial primary key, k ${spec.sqlType}${options.unique ? ' unique' : ''}, title text)`,
      )
      const table = pgTable(name, { id: serial('id').primaryKey(), k: spec.column(), title: text('title') })
      const store = drizzleStore(connection.db, table) as unknown as ConformanceStore
      return {
        store,
        count: async () => Number((await connection.rows(`select count(*)::int as n from ${name}`))[0]?.n),
        insertBehind: async () => {
          throw new Error('not used by the key-equality cases')
        },
        close: () => connection.close(),
      }
    },
  }))
}

/**
 * The optional members of a Postgres `drizzleStore` over a table without fenced writes, as a lock strategy's
 * conformance run lists them (`enforcedBy: 'strategy'`, where `insertIfAbsentAtomically` is optional too).
 */
export const PG_LOCK_MODE_MEMBERS = [
  'insertIfAbsentAtomically',
  'insertIfAbsentUnderLock',
  'uniqueIndexFix',
  'statements',
  'batch',
  'findOrInsertManyAtomically',
  'update',
  'findOrInsertUnderAdvisoryLock',
] as const
