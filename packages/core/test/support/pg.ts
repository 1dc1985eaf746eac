import { PGlite } from '@electric-sql/pglite'
import { citext } from '@electric-sql/pglite/contrib/citext'
import { type AnyPgDatabase, drizzleStore } from '@getorcreate/core/drizzle'
import { databaseUrl, scratchName } from '@getorcreate/test-support'
import type { Logger } from 'drizzle-orm'
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { drizzle as drizzlePostgresJs } from 'drizzle-orm/postgres-js'
import pg from 'pg'
import postgres from 'postgres'
import { itemsDdl, itemsTable } from './tables.js'

/** The Postgres drivers drizzle users run, each tested against the same suite. */
export const PG_DRIVERS = ['postgres.js', 'node-postgres', 'pglite'] as const
export type PgDriver = (typeof PG_DRIVERS)[number]

/** A drizzle database on one driver, with the statements it ran, for tests. */
export interface PgHarness {
  readonly driver: PgDriver
  readonly db: AnyPgDatabase
  /** Every statement drizzle sent, in order (its logger's view). */
  readonly queries: string[]
  /** Run raw SQL (DDL, fixtures) outside drizzle's logger. */
  exec(text: string): Promise<void>
  /** Run a raw query and return its rows, outside drizzle's logger. */
  rows(text: string): Promise<Record<string, unknown>[]>
  /** A dedicated second connection (a concurrent session); undefined on PGlite, which has one session. */
  readonly session: (() => Promise<Session>) | undefined
  /** A new table name (`scratchName`, tagged with the run); {@link close} drops the table, whatever the test did. */
  table(prefix?: string): string
  /** Drop the tables named by {@link table}, then close the connections. */
  close(): Promise<void>
}

/** One dedicated connection: statements run in order on it, so it can hold a transaction open. */
interface Session {
  exec(text: string): Promise<void>
  release(): Promise<void>
}

let sharedPglite: PGlite | undefined

/**
 * One in-process PGlite for the whole test file (each is a whole Postgres; tables are uniquely named), with
 * the citext extension available (`CREATE EXTENSION citext` as on a server).
 */
function pglite(): PGlite {
  sharedPglite ??= new PGlite({ extensions: { citext } })
  return sharedPglite
}

/**
 * How many of the statements `h` sent since `from` (an index into `h.queries`) read or wrote `table`: reads
 * (`SELECT`) and inserts (`INSERT`, or a `WITH` whose statement inserts, as the one that reads and inserts).
 */
export function statementsOn(h: PgHarness, table: string, from: number): { reads: number; inserts: number } {
  const sent = h.queries.slice(from).filter((query) => query.includes(`"${table}"`))
  return {
    reads: sent.filter((query) => /^\s*select/i.test(query)).length,
    inserts: sent.filter((query) => /^\s*(insert|with)/i.test(query)).length,
  }
}

/**
 * How many of the statements `h` sent since `from` read and inserted at once: the constraint strategy's one
 * statement for a fresh key (`findOrInsertManyAtomically` with one entry, `WITH goc_found …`).
 */
export function oneStatementsSince(h: PgHarness, from: number): number {
  return h.queries.slice(from).filter((query) => query.startsWith('with goc_found')).length
}

/** A new `items` table of `h` with a unique index on `slug` (dropped by `h.close()`), and a store over it. */
export async function uniqueItems(h: PgHarness) {
  const name = h.table()
  await h.exec(itemsDdl(name, `create unique index on ${name} (slug)`))
  const table = itemsTable(name)
  return { name, table, store: drizzleStore(h.db, table) }
}

/** Open a drizzle database on `driver` with a pool of `pool` connections (PGlite: one in-process engine). */
export async function openPg(driver: PgDriver, pool = 32): Promise<PgHarness> {
  const opened = await openDriver(driver, pool)
  const tables: string[] = []
  return {
    ...opened,
    table: (prefix) => {
      const name = scratchName(prefix)
      tables.push(name)
      return name
    },
    close: async () => {
      try {
        if (tables.length > 0)
          await opened.exec(`drop table if exists ${tables.splice(0).join(', ')} cascade`)
      } finally {
        await opened.close()
      }
    },
  }
}

async function openDriver(driver: PgDriver, pool: number): Promise<Omit<PgHarness, 'table'>> {
  const queries: string[] = []
  const logger: Logger = { logQuery: (query) => void queries.push(query) }
  switch (driver) {
    case 'postgres.js': {
      const client = postgres(databaseUrl(), { max: pool, onnotice: () => {} })
      const raw = postgres(databaseUrl(), { max: 2, onnotice: () => {} })
      return {
        driver,
        db: drizzlePostgresJs(client, { logger }),
        queries,
        exec: async (text) => void (await raw.unsafe(text)),
        rows: async (text) => [...(await raw.unsafe(text))] as Record<string, unknown>[],
        session: async () => {
          const reserved = await raw.reserve()
          return {
            exec: async (text) => void (await reserved.unsafe(text)),
            release: async () => reserved.release(),
          }
        },
        close: async () => {
          await client.end({ timeout: 5 })
          await raw.end({ timeout: 5 })
        },
      }
    }
    case 'node-postgres': {
      const client = new pg.Pool({ connectionString: databaseUrl(), max: pool })
      return {
        driver,
        db: drizzleNodePg(client, { logger }),
        queries,
        exec: async (text) => void (await client.query(text)),
        rows: async (text) => (await client.query(text)).rows as Record<string, unknown>[],
        session: async () => {
          const connection = await client.connect()
          return {
            exec: async (text) => void (await connection.query(text)),
            release: async () => connection.release(),
          }
        },
        close: () => client.end(),
      }
    }
    case 'pglite': {
      const client = pglite()
      return {
        driver,
        db: drizzlePglite(client, { logger }),
        queries,
        exec: async (text) => void (await client.exec(text)),
        rows: async (text) => (await client.query<Record<string, unknown>>(text)).rows,
        session: undefined,
        close: async () => {},
      }
    }
  }
}

/**
 * Resolves once a statement whose text matches `pattern` (a `LIKE` pattern) waits for a lock another session
 * holds, polling `pg_stat_activity` every 10 ms; throws `never` after `tries` polls.
 */
export async function untilLockWait(
  h: PgHarness,
  pattern: string,
  tries: number,
  never: string,
): Promise<void> {
  for (let n = 0; ; n++) {
    const rows = await h.rows(
      `select 1 from pg_stat_activity where wait_event_type = 'Lock' and query like '${pattern}'`,
    )
    if (rows.length > 0) return
    if (n > tries) throw new Error(never)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
