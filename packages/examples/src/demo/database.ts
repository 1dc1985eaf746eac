/**
 * The demo's database, opened and proven to answer before anything is printed; when it cannot be used, one
 * line that says what failed and what to do.
 */
import { type Database, openDatabase } from '../database.js'

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
 * Open the demo's database (`url`, else embedded PGlite) with a pool of `pool`, and prove it answers (one
 * `select 1`).
 * @throws DemoDatabaseError with one line that says what failed and what to do.
 */
export async function openDemoDatabase(url: string | undefined, pool: number): Promise<Database> {
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

/** Rows per slug in `table`: more than one is a duplicate the race created. */
export async function rowsPerKey(database: Database, table: string): Promise<Map<string, number>> {
  const rows = await database.rows<{ slug: string; n: number }>(
    `select slug, count(*)::int as n from ${table} group by slug`,
  )
  return new Map(rows.map((row) => [row.slug, Number(row.n)]))
}
