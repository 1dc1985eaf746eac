/**
 * The Postgres the examples run on: `DATABASE_URL` when set (postgres.js), else an embedded PGlite, so they run
 * on a machine with no server at all.
 */
import { PGlite } from '@electric-sql/pglite'
import type { AnyPgDatabase } from '@getorcreate/core/drizzle'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'

/** A drizzle database plus raw SQL access for set-up and counting. */
export interface Database {
  /** `'postgres'` (a server, via postgres.js) or `'pglite'` (embedded, in this process). */
  readonly kind: 'postgres' | 'pglite'
  /** What to print: the server's address without credentials, or "embedded PGlite". */
  readonly label: string
  readonly db: AnyPgDatabase
  /** Run raw SQL (DDL, fixtures). */
  exec(text: string): Promise<void>
  /** Run a raw query, return its rows. */
  rows<T = Record<string, unknown>>(text: string): Promise<T[]>
  close(): Promise<void>
}

/** Open `url` (a postgres:// URL) with a pool of `pool` connections, or PGlite when `url` is undefined. */
export async function openDatabase(url: string | undefined, pool = 64): Promise<Database> {
  if (url) {
    const client = postgres(url, { max: pool, onnotice: () => {} })
    const raw = postgres(url, { max: 2, onnotice: () => {} })
    const shown = new URL(url)
    shown.password = ''
    return {
      kind: 'postgres',
      label: `Postgres at ${shown.host}${shown.pathname}`,
      db: drizzlePostgres(client),
      exec: async (text) => void (await raw.unsafe(text)),
      rows: async <T>(text: string) => [...(await raw.unsafe(text))] as T[],
      close: async () => {
        await client.end({ timeout: 5 })
        await raw.end({ timeout: 5 })
      },
    }
  }
  const client = await PGlite.create()
  return {
    kind: 'pglite',
    label: 'embedded PGlite (set DATABASE_URL to use a Postgres server)',
    db: drizzlePglite(client),
    exec: async (text) => void (await client.exec(text)),
    rows: async <T>(text: string) => (await client.query<T>(text)).rows,
    close: () => client.close(),
  }
}

/**
 * A table name no other run uses. Under the tests it carries the test run's tag (GETORCREATE_TEST_RUN, set by
 * their global setup), by which the run's leftover check knows the table is its own.
 */
export function uniqueName(prefix: string): string {
  const run = process.env.GETORCREATE_TEST_RUN
  return `${prefix}${run ? `_run${run}` : ''}_${crypto.randomUUID().replaceAll('-', '').slice(0, 10)}`
}
