/**
 * `pnpm demo`: the race, and its cure, in a table.
 *
 * The same concurrent load (every key asked for by several callers at once) is fired at:
 * - naive find-then-insert on a table without a unique index, the code most people write first;
 * - the same inside a transaction (on a Postgres server), to show that a transaction does not help;
 * - `getOrCreate` with the default constraint strategy, on a table with a unique index;
 * - `getOrCreate` with the Redis-lock strategy, on a table without one, whenever a Redis answers (REDIS_URL,
 *   else redis://127.0.0.1:6379).
 *
 * With no configuration it runs on embedded PGlite; with DATABASE_URL on that Postgres. It exits non-zero if
 * `getOrCreate` ever produced a duplicate row, a second `created: true` or two ids for one key.
 */
import { pathToFileURL } from 'node:url'
import { getOrCreate } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { redisLockStrategy } from '@getorcreate/redis-lock'
import { eq } from 'drizzle-orm'
import { type Database, openDatabase, uniqueName } from './database.js'
import { type LoadSummary, runLoad, shuffledCalls, summarize } from './load.js'
import { connectRedis, LOCK_CONNECTION } from './redis.js'
import { createTagsTableSql, type SlugIndex, tagsTable } from './tags.js'

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** A postgres:// URL; undefined runs on embedded PGlite. */
  readonly databaseUrl?: string | undefined
  /** A redis:// URL for the Redis-lock part; it is left out, with a note, when nothing answers there. */
  readonly redisUrl?: string | undefined
  /** Distinct keys. Default is `200`. */
  readonly keys?: number
  /** Callers per key. Default is `10`. */
  readonly callersPerKey?: number
  /** Calls in flight at once (and the pool size). Default is `50`. */
  readonly concurrency?: number
  /** Where progress and the table go. Default is `console.log`. */
  readonly print?: (line: string) => void
}

/** One row of the demo's table. */
export interface DemoRow extends LoadSummary {
  readonly approach: string
  /** True for our strategies: any duplicate, extra created flag or split id is a failure. */
  readonly mustBeExact: boolean
}

async function rowsPerKey(database: Database, table: string): Promise<Map<string, number>> {
  const rows = await database.rows<{ slug: string; n: number }>(
    `select slug, count(*)::int as n from ${table} group by slug`,
  )
  return new Map(rows.map((row) => [row.slug, Number(row.n)]))
}

/**
 * The demo could not open its database: a `DATABASE_URL` that does not answer (or refuses the login), or an
 * embedded PGlite that would not start. The message is one line that says which, and what to do.
 */
export class DemoDatabaseError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'DemoDatabaseError'
  }
}

/** A URL as it may be printed: no password. */
function shownUrl(url: URL): string {
  const shown = new URL(url.href)
  if (shown.password) shown.password = '***'
  return shown.href
}

/** The driver's one-line reason: `connect ECONNREFUSED 127.0.0.1:5432`, `role "x" does not exist`. */
function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  const code = (error as { code?: unknown } | undefined)?.code
  const first = message.split('\n')[0] || String(code ?? 'unknown error')
  return typeof code === 'string' && !first.includes(code) ? `${first} (${code})` : first
}

/**
 * Open the demo's database and prove it answers (one `select 1`) before anything is printed.
 * @throws DemoDatabaseError with one line that says what failed and what to do.
 */
async function openDemoDatabase(url: string | undefined, pool: number): Promise<Database> {
  let parsed: URL | undefined
  if (url) {
    try {
      parsed = new URL(url)
    } catch (error) {
      throw new DemoDatabaseError(
        'pnpm demo: DATABASE_URL is not a URL (expected postgres://user@host:port/db). Fix it, or unset it ' +
          'to run the demo on embedded PGlite.',
        { cause: error },
      )
    }
  }
  let database: Database | undefined
  try {
    database = await openDatabase(url, pool)
    await database.rows('select 1')
    return database
  } catch (error) {
    await database?.close().catch(() => undefined)
    throw new DemoDatabaseError(
      parsed
        ? `pnpm demo: cannot use the Postgres at DATABASE_URL=${shownUrl(parsed)}: ${reasonOf(error)}. Start ` +
            'Postgres there, or fix DATABASE_URL, or unset it to run the demo on embedded PGlite.'
        : `pnpm demo: cannot start embedded PGlite: ${reasonOf(error)}. Reinstall (pnpm install), or set ` +
            'DATABASE_URL=postgres://user@host:port/db to run the demo on a Postgres server.',
      { cause: error },
    )
  }
}

/** Run the demo and return its table; `main` prints it and sets the exit code. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoRow[]> {
  const print = options.print ?? ((line: string) => console.log(line))
  const keyCount = options.keys ?? 200
  const callersPerKey = options.callersPerKey ?? 10
  const concurrency = options.concurrency ?? 50
  const database = await openDemoDatabase(options.databaseUrl, concurrency)
  const keys = Array.from({ length: keyCount }, (_, i) => `tag-${i}`)
  const calls = shuffledCalls(keys, callersPerKey)
  const table: DemoRow[] = []
  const created: string[] = []
  print(`getorcreate demo on ${database.label}`)
  print(`${keyCount} keys × ${callersPerKey} callers each, shuffled, ${concurrency} at once\n`)

  async function contender(
    approach: string,
    mustBeExact: boolean,
    slugIndex: SlugIndex,
    call: (name: string) => (slug: string) => Promise<{ id: number; created: boolean }>,
  ) {
    const name = uniqueName('demo')
    created.push(name)
    await database.exec(createTagsTableSql(name, slugIndex))
    print(`  running: ${approach} …`)
    const result = await runLoad(calls, concurrency, call(name))
    table.push({ approach, mustBeExact, ...summarize(result, keyCount, await rowsPerKey(database, name)) })
  }

  try {
    await contender('naive find-then-insert', false, 'none', (name) => {
      const tags = tagsTable(name)
      return async (slug) => {
        const [found] = await database.db.select().from(tags).where(eq(tags.slug, slug)).limit(1)
        if (found) return { id: found.id, created: false }
        const [row] = await database.db.insert(tags).values({ slug, label: slug }).returning()
        return { id: row!.id, created: true }
      }
    })

    // PGlite runs one transaction at a time, which hides the race; a server runs them side by side.
    if (database.kind === 'postgres') {
      await contender('naive, inside a transaction', false, 'none', (name) => {
        const tags = tagsTable(name)
        return (slug) =>
          database.db.transaction(async (tx) => {
            const [found] = await tx.select().from(tags).where(eq(tags.slug, slug)).limit(1)
            if (found) return { id: found.id, created: false }
            const [row] = await tx.insert(tags).values({ slug, label: slug }).returning()
            return { id: row!.id, created: true }
          })
      })
    }

    await contender('getOrCreate (unique index)', true, 'unique', (name) => {
      const store = drizzleStore(database.db, tagsTable(name))
      return async (slug) => {
        const { row, created } = await getOrCreate(store, { slug }, { label: slug })
        return { id: row.id, created }
      }
    })

    const redisUrl = options.redisUrl ?? 'redis://127.0.0.1:6379'
    const redis = await connectRedis(redisUrl, LOCK_CONNECTION, 1_000).catch(() => undefined)
    if (redis) {
      try {
        const strategy = redisLockStrategy({ clients: redis })
        await contender('getOrCreate (Redis lock, no unique index)', true, 'none', (name) => {
          const store = drizzleStore(database.db, tagsTable(name))
          return async (slug) => {
            const { row, created } = await getOrCreate(store, { slug }, { label: slug }, strategy)
            return { id: row.id, created }
          }
        })
      } finally {
        redis.disconnect()
      }
    } else {
      print(
        `  (no Redis answers at ${redisUrl}: start one, or set REDIS_URL, to add the Redis-lock strategy)`,
      )
    }
  } finally {
    for (const name of created) await database.exec(`drop table if exists ${name}`)
    await database.close()
  }

  print('')
  for (const line of formatTable(table)) print(line)
  return table
}

/** The table as aligned text lines. */
export function formatTable(rows: readonly DemoRow[]): string[] {
  const header = ['approach', 'calls', 'rows', 'duplicate rows', 'created:true', 'split ids', 'errors', 'ms']
  const body = rows.map((row) => [
    row.approach,
    String(row.calls),
    String(row.rows),
    String(row.duplicateRows),
    `${row.createdFlags} (of ${row.keys} keys)`,
    String(row.keysWithSeveralIds),
    String(row.errors),
    String(Math.round(row.ms)),
  ])
  const widths = header.map((title, i) => Math.max(title.length, ...body.map((cells) => cells[i]!.length)))
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)]
}

/** True when a row that must be exact is not: a duplicate, an extra or missing created flag, a split id, an error. */
export function isWrong(row: DemoRow): boolean {
  return (
    row.duplicateRows > 0 || row.createdFlags !== row.keys || row.keysWithSeveralIds > 0 || row.errors > 0
  )
}

async function main() {
  const rows = await runDemo({ databaseUrl: process.env.DATABASE_URL, redisUrl: process.env.REDIS_URL })
  const naive = rows.filter((row) => !row.mustBeExact)
  const wrong = rows.filter((row) => row.mustBeExact && isWrong(row))
  console.log('')
  if (naive.some((row) => row.duplicateRows > 0)) {
    console.log('The naive code created duplicate rows: two callers both found nothing, then both inserted.')
  }
  if (wrong.length > 0) {
    console.error(
      `FAILED: ${wrong.map((row) => row.approach).join(', ')} produced a duplicate or a wrong answer.`,
    )
    process.exitCode = 1
  } else {
    console.log('getOrCreate: exactly one row, one created:true and one id per key.')
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    // A database that cannot be used is the user's setup, not a bug: one line, no stack.
    console.error(error instanceof DemoDatabaseError ? error.message : error)
    process.exitCode = 1
  })
}
