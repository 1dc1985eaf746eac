import { PGlite } from '@electric-sql/pglite'
import type { AnyPgDatabase } from '@getorcreate/core/drizzle'
import type { Logger } from 'drizzle-orm'
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { drizzle as drizzlePostgresJs } from 'drizzle-orm/postgres-js'
import pg from 'pg'
import postgres from 'postgres'
import { scratchName } from '../../../../test-support/guest.js'

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
  /** A new table name ({@link uniqueName}); {@link close} drops the table, whatever the test did. */
  table(prefix?: string): string
  /** Drop the tables named by {@link table}, then close the connections. */
  close(): Promise<void>
}

/** One dedicated connection: statements run in order on it, so it can hold a transaction open. */
export interface Session {
  exec(text: string): Promise<void>
  release(): Promise<void>
}

export function databaseUrl(): string {
  const url = process.env.DATABASE_URL
  if (!url)
    throw new Error(
      'DATABASE_URL is not set: the global setup should have set it (test-support/services.ts).',
    )
  return url
}

let sharedPglite: PGlite | undefined

/** One in-process PGlite for the whole test file (each is a whole Postgres; tables are uniquely named). */
function pglite(): PGlite {
  sharedPglite ??= new PGlite()
  return sharedPglite
}

/** Open a drizzle database on `driver` with a pool of `pool` connections (PGlite: one in-process engine). */
export async function openPg(driver: PgDriver, pool = 32): Promise<PgHarness> {
  const opened = await openDriver(driver, pool)
  const tables: string[] = []
  return {
    ...opened,
    table: (prefix) => {
      const name = uniqueName(prefix)
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
 * A table (or schema) name no other test, run or earlier run uses. It carries this run's tag, so the global
 * teardown can tell the tables this run left (test-support/guest.ts); a test drops what it creates.
 */
export function uniqueName(prefix = 't'): string {
  return scratchName(prefix)
}

/** Run `tasks` with at most `concurrency` in flight; results in task order, errors collected, not thrown. */
export async function runConcurrently<T>(
  tasks: readonly (() => Promise<T>)[],
  concurrency: number,
): Promise<{ results: (T | undefined)[]; errors: unknown[] }> {
  const results: (T | undefined)[] = new Array(tasks.length)
  const errors: unknown[] = []
  let next = 0
  const worker = async () => {
    while (next < tasks.length) {
      const index = next++
      try {
        results[index] = await tasks[index]!()
      } catch (error) {
        errors.push(error)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, tasks.length) }, worker))
  return { results, errors }
}

/** Fisher–Yates shuffle with a seeded generator, so a failing order can be replayed. */
export function shuffle<T>(items: T[], seed = 42): T[] {
  let state = seed >>> 0
  const random = () => {
    state = (state * 1664525 + 1013904223) >>> 0
    return state / 2 ** 32
  }
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
  return items
}

/**
 * Every key `callersPerKey` times, in an order for races: the keys shuffled, then cut into blocks of
 * `keysPerBlock` keys whose calls are shuffled within the block. Run a few dozen at a time, a key's callers
 * are in flight together (the race) and later ones find the row (the read path), whatever the list's length.
 */
export function shuffledInBlocks(
  keys: readonly string[],
  callersPerKey: number,
  keysPerBlock: number,
  seed = 42,
): string[] {
  const order = shuffle([...keys], seed)
  const calls: string[] = []
  for (let i = 0; i < order.length; i += keysPerBlock) {
    const block = order.slice(i, i + keysPerBlock)
    calls.push(
      ...shuffle(
        block.flatMap((key) => Array.from({ length: callersPerKey }, () => key)),
        seed + i + 1,
      ),
    )
  }
  return calls
}
