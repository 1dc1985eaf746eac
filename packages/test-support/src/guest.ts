/**
 * The test suite as a guest on someone's database (README.md, "Tests"). Each package's global setup calls
 * {@link guestRun}, which:
 * - before any test starts, checks that Postgres (and MariaDB / MySQL) has as many free connections as the
 *   package's tests open at once, and stops the run with one line that gives both figures when it has not;
 * - while the tests run, counts the Postgres connections they hold (every driver tags its connections with
 *   this run's `application_name`, from PGAPPNAME), so a figure declared too low fails the run;
 * - after the tests, fails the run naming every table, schema, Redis key or SQLite directory the run created
 *   (its names carry the run's tag: names.ts) and left behind.
 * A problem found before the tests is printed as the only line of the run (vitest would print "No test files
 * found" first if the setup threw, since no file ran), and the process exits with status 1.
 */
import { readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runTag, SQLITE_DIR_PREFIX, taggedRun } from './names.js'
import {
  provideServices,
  redact,
  type ServiceName,
  ServiceUnavailableError,
  type Teardown,
} from './services.js'

/** A connection to a SQL database for the checks, built by the package's global setup from its own driver. */
export interface SqlProbe {
  /** Rows of `text` (one statement, no parameters). */
  query(text: string): Promise<readonly Record<string, unknown>[]>
  /** Close the connection. */
  close(): Promise<void>
}

/** A connection to Redis for the leftover check. */
export interface RedisProbe {
  /** Every key that has no expiry (a key with a TTL goes away by itself). */
  persistentKeys(): Promise<string[]>
  /** Delete `keys`. */
  remove(keys: readonly string[]): Promise<void>
  /** Close the connection. */
  close(): Promise<void>
}

/** What {@link guestRun} checks, for one package's tests. */
export interface GuestRunOptions {
  /** How the message names these tests, e.g. `the core tests`. */
  readonly suite: string
  /** The services the tests use, provided by {@link provideServices}. */
  readonly services: readonly ServiceName[]
  /** Postgres: the connections the tests hold at most at once, this check's own included. */
  readonly postgres?: {
    /** The most connections the tests hold at once. */
    readonly connections: number
    /** Opens the check's connection (`postgresProbe` of `@getorcreate/test-support/probes`). */
    readonly probe: (url: string, applicationName: string) => SqlProbe
  }
  /** MariaDB / MySQL: the connections the tests hold at most at once, this check's own included. */
  readonly mysql?: {
    /** The most connections the tests hold at once. */
    readonly connections: number
    /** Opens the check's connection (`mysqlProbe` of `@getorcreate/test-support/probes`). */
    readonly probe: (url: string) => SqlProbe
  }
  /** Redis: keys the run leaves without an expiry are reported. */
  readonly redis?: {
    /** Opens the check's connection (`redisProbe` of `@getorcreate/test-support/probes`). */
    readonly probe: (url: string) => RedisProbe
  }
  /**
   * A native addon the tests need, checked before anything else: `open` throws when it is not built (the
   * install never fails on it; scripts/build-native.mjs builds it or says why not).
   */
  readonly native?: {
    /** The package, e.g. `better-sqlite3`. */
    readonly name: string
    /** Loads it (e.g. opens an in-memory database and closes it); throws when the addon does not load. */
    readonly open: () => void
  }
}

/** The `application_name` of this run's Postgres connections (drivers read PGAPPNAME). */
export const APPLICATION_NAME_PREFIX = 'getorcreate-test-'

/** Set by the setup for the run's own processes, not an input of the task (so not in turbo.json). */
const APP_NAME_ENV = 'PGAPPNAME'

/** How many connections a server has for a newcomer. */
export interface ConnectionBudget {
  /** `Postgres` or `MariaDB / MySQL`, as the message names it. */
  readonly server: string
  /** The server's limit (`max_connections`). */
  readonly max: number
  /** Slots only a superuser (or a reserved role) may use. */
  readonly reserved: number
  /** Connections open now, other than the probe's own. */
  readonly inUse: number
  /** `max - reserved - inUse`. */
  readonly free: number
}

function integer(value: unknown, what: string): number {
  const number = Number(value)
  if (!Number.isInteger(number)) throw new Error(`expected an integer for ${what}, got ${String(value)}`)
  return number
}

/**
 * Postgres's free connections: `max_connections` minus the reserved slots (`superuser_reserved_connections`,
 * and `reserved_connections` from Postgres 16) minus the client connections open now (the probe's excepted).
 */
export async function postgresBudget(probe: SqlProbe): Promise<ConnectionBudget> {
  const [row] = await probe.query(`select current_setting('max_connections')::int as max,
      current_setting('superuser_reserved_connections')::int
        + coalesce(current_setting('reserved_connections', true)::int, 0) as reserved,
      (select count(*)::int from pg_stat_activity
        where backend_type = 'client backend' and pid <> pg_backend_pid()) as in_use`)
  return budget('Postgres', row)
}

/** MariaDB / MySQL's free connections: `max_connections` minus the connections open now (the probe's excepted). */
export async function mysqlBudget(probe: SqlProbe): Promise<ConnectionBudget> {
  const [row] = await probe.query(`select @@max_connections as max, 0 as reserved,
      (select count(*) from information_schema.processlist where id <> connection_id()) as in_use`)
  return budget('MariaDB / MySQL', row)
}

function budget(server: string, row: Record<string, unknown> | undefined): ConnectionBudget {
  const max = integer(row?.max, 'max_connections')
  const reserved = integer(row?.reserved, 'reserved connections')
  const inUse = integer(row?.in_use, 'connections in use')
  return { server, max, reserved, inUse, free: max - reserved - inUse }
}

/** The one line that stops the run when `budget` has fewer free connections than `need`, else undefined. */
export function shortfall(
  budget: ConnectionBudget,
  need: number,
  suite: string,
  url: string,
): string | undefined {
  if (budget.free >= need) return undefined
  const reserved = budget.reserved > 0 ? ` - ${budget.reserved} reserved` : ''
  return (
    `${budget.server} at ${redact(url)} has ${Math.max(budget.free, 0)} free connections ` +
    `(max_connections ${budget.max}${reserved} - ${budget.inUse} in use) and ${suite} need ${need}: ` +
    'close some of the other clients or raise max_connections, then run the tests again.'
  )
}

/** A problem found before the tests start: its message is the one line the run prints. */
export class GuestCheckError extends Error {
  /** `GuestCheckError`. */
  override readonly name = 'GuestCheckError'
}

/**
 * Throw a {@link GuestCheckError} when the server behind `probe` has fewer free connections than `need`.
 * Returns the budget it read.
 */
export async function checkConnections(
  probe: SqlProbe,
  kind: 'postgres' | 'mysql',
  need: number,
  suite: string,
  url: string,
): Promise<ConnectionBudget> {
  const read = kind === 'postgres' ? await postgresBudget(probe) : await mysqlBudget(probe)
  const line = shortfall(read, need, suite, url)
  if (line) throw new GuestCheckError(line)
  return read
}

/** Postgres tables (any schema but the system ones), as `schema.table`, quoted where needed. */
export async function postgresTables(probe: SqlProbe): Promise<string[]> {
  const rows = await probe.query(`select quote_ident(n.nspname) || '.' || quote_ident(c.relname) as name
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p', 'v', 'm', 'f')
      and n.nspname not in ('pg_catalog', 'information_schema')
      and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp%'`)
  return rows.map((row) => String(row.name))
}

/** Postgres schemas other than the system ones, quoted where needed. */
export async function postgresSchemas(probe: SqlProbe): Promise<string[]> {
  const rows = await probe.query(`select quote_ident(nspname) as name from pg_namespace
    where nspname not like 'pg\\_%' and nspname <> 'information_schema'`)
  return rows.map((row) => String(row.name))
}

/** Tables of the MariaDB / MySQL connection's database. */
export async function mysqlTables(probe: SqlProbe): Promise<string[]> {
  const rows = await probe.query(
    'select table_name as name from information_schema.tables where table_schema = database()',
  )
  return rows.map((row) => String(row.name))
}

/** The SQLite tests' temporary directories that exist now. */
export function sqliteDirs(): string[] {
  return readdirSync(tmpdir()).filter((name) => name.startsWith(SQLITE_DIR_PREFIX))
}

/** What {@link leftovers} found, sorted. */
export interface Leftovers {
  /** New names with this run's tag: the run made them and left them; safe to remove. */
  readonly ours: string[]
  /** New names with no run's tag: another client's as far as the run can tell; only named. */
  readonly untagged: string[]
}

/**
 * Names in `after` that were not in `before`, less those another run tagged (that run is still going: its
 * own teardown judges them).
 */
export function leftovers(before: ReadonlySet<string>, after: readonly string[], tag: string): Leftovers {
  const ours: string[] = []
  const untagged: string[] = []
  for (const name of after) {
    if (before.has(name)) continue
    const other = taggedRun(name)
    if (other === undefined) untagged.push(name)
    else if (other === tag) ours.push(name)
  }
  return { ours: ours.sort(), untagged: untagged.sort() }
}

/** `count what`, then up to 10 names; `what` is `[one, many]`. */
function listed(what: readonly [string, string], names: readonly string[]): string {
  const shown = names.slice(0, 10).join(', ')
  const noun = names.length === 1 ? what[0] : what[1]
  return `${names.length} ${noun}${names.length > 10 ? ` (the first 10: ${shown})` : `: ${shown}`}`
}

/** Throws a {@link GuestCheckError} with one line that says how to build `native` when it does not load. */
export function checkNative(native: NonNullable<GuestRunOptions['native']>, suite: string): void {
  try {
    native.open()
  } catch (error) {
    const why = (error instanceof Error ? error.message : String(error)).split('\n')[0]
    throw new GuestCheckError(
      `${suite} need ${native.name}'s native addon, which does not load (${why}): run ` +
        '`node scripts/build-native.mjs` from the repository root; it builds the addon or says what is missing.',
    )
  }
}

/** Print `line` as the run's only output and end the run with status 1. */
function stopRun(line: string): never {
  process.stderr.write(`\n${line}\n\n`)
  process.exit(1)
}

/** Samples how many connections carry `applicationName`, every `everyMs`, and keeps the largest count. */
export class PeakSampler {
  #peak = 0
  #timer: ReturnType<typeof setInterval> | undefined
  #running: Promise<void> = Promise.resolve()
  #busy = false
  readonly #probe: SqlProbe
  readonly #sql: string

  constructor(probe: SqlProbe, applicationName: string, everyMs = 50) {
    this.#probe = probe
    this.#sql = `select count(*)::int as n from pg_stat_activity where application_name = '${applicationName}'`
    this.#timer = setInterval(() => {
      // One sample at a time: on a slow server, queued samples would pile up and hold the teardown.
      if (this.#busy) return
      this.#busy = true
      this.#running = this.#sample().finally(() => {
        this.#busy = false
      })
    }, everyMs)
    this.#timer.unref()
  }

  async #sample(): Promise<void> {
    const [row] = await this.#probe.query(this.#sql).catch(() => [])
    this.#peak = Math.max(this.#peak, Number(row?.n ?? 0))
  }

  /** Stop sampling and return the largest count seen. */
  async stop(): Promise<number> {
    clearInterval(this.#timer)
    this.#timer = undefined
    await this.#running
    await this.#sample()
    return this.#peak
  }
}

/**
 * The global setup of a package's tests: provides the services, runs the checks above, and returns the
 * teardown that runs the checks after the tests. Use as `export default guestRun({ ... })`.
 */
export function guestRun(options: GuestRunOptions): () => Promise<Teardown> {
  return async () => {
    const tag = runTag()
    const applicationName = `${APPLICATION_NAME_PREFIX}${tag}`
    let stopServices: Teardown = async () => {}
    const probes: { close(): Promise<void> }[] = []
    const closeAll = async () => {
      for (const probe of probes.splice(0)) await probe.close().catch(() => undefined)
    }
    try {
      if (options.native) checkNative(options.native, options.suite)
      stopServices = await provideServices(options.services)
      const pg = options.postgres && process.env.DATABASE_URL ? options.postgres : undefined
      const my = options.mysql && process.env.MYSQL_URL ? options.mysql : undefined
      const pgProbe = pg?.probe(process.env.DATABASE_URL!, `${APPLICATION_NAME_PREFIX}check`)
      const myProbe = my?.probe(process.env.MYSQL_URL!)
      const redisProbe =
        options.redis && process.env.REDIS_URL ? options.redis.probe(process.env.REDIS_URL) : undefined
      for (const probe of [pgProbe, myProbe, redisProbe]) if (probe) probes.push(probe)
      if (pg && pgProbe) {
        await checkConnections(pgProbe, 'postgres', pg.connections, options.suite, process.env.DATABASE_URL!)
      }
      if (my && myProbe) {
        await checkConnections(myProbe, 'mysql', my.connections, options.suite, process.env.MYSQL_URL!)
      }
      const before = {
        pgTables: new Set(pgProbe ? await postgresTables(pgProbe) : []),
        pgSchemas: new Set(pgProbe ? await postgresSchemas(pgProbe) : []),
        myTables: new Set(myProbe ? await mysqlTables(myProbe) : []),
        redisKeys: new Set(redisProbe ? await redisProbe.persistentKeys() : []),
        dirs: new Set(sqliteDirs()),
      }
      const previousAppName = process.env[APP_NAME_ENV]
      process.env[APP_NAME_ENV] = applicationName
      const sampler = pgProbe ? new PeakSampler(pgProbe, applicationName) : undefined

      return async () => {
        try {
          if (previousAppName === undefined) delete process.env[APP_NAME_ENV]
          else process.env[APP_NAME_ENV] = previousAppName
          const problems: string[] = []
          const peak = sampler ? await sampler.stop() : 0
          if (pg && sampler && peak + 1 > pg.connections) {
            problems.push(
              `${options.suite} held ${peak + 1} Postgres connections at once (${peak} + this check's 1), more ` +
                `than the ${pg.connections} their global setup declares: raise that figure or lower a pool.`,
            )
          }
          const found: {
            what: readonly [string, string]
            left: Leftovers
            remove: (name: string) => Promise<void>
          }[] = []
          if (pgProbe) {
            found.push({
              what: ['Postgres table', 'Postgres tables'],
              left: leftovers(before.pgTables, await postgresTables(pgProbe), tag),
              remove: async (name) => void (await pgProbe.query(`drop table if exists ${name} cascade`)),
            })
            found.push({
              what: ['Postgres schema', 'Postgres schemas'],
              left: leftovers(before.pgSchemas, await postgresSchemas(pgProbe), tag),
              remove: async (name) => void (await pgProbe.query(`drop schema if exists ${name} cascade`)),
            })
          }
          if (myProbe) {
            found.push({
              what: ['MariaDB / MySQL table', 'MariaDB / MySQL tables'],
              left: leftovers(before.myTables, await mysqlTables(myProbe), tag),
              remove: async (name) => void (await myProbe.query(`drop table if exists \`${name}\``)),
            })
          }
          if (redisProbe) {
            found.push({
              what: ['Redis key without an expiry', 'Redis keys without an expiry'],
              left: leftovers(before.redisKeys, await redisProbe.persistentKeys(), tag),
              remove: (name) => redisProbe.remove([name]),
            })
          }
          found.push({
            what: [`SQLite directory in ${tmpdir()}`, `SQLite directories in ${tmpdir()}`],
            left: leftovers(before.dirs, sqliteDirs(), tag),
            remove: async (name) => rmSync(join(tmpdir(), name), { recursive: true, force: true }),
          })
          const notes: string[] = []
          for (const { what, left, remove } of found) {
            if (left.ours.length > 0) {
              problems.push(
                `${options.suite} left ${listed(what, left.ours)}. A test must drop what it creates; removed ` +
                  'now.',
              )
              for (const name of left.ours) await remove(name)
            }
            // Not tagged with any run: another client of this shared server may have made them while the
            // tests ran, so they are named, left alone, and do not fail the run. Every name our tests make
            // carries the run's tag (scratchName, the harnesses' table(), the examples' uniqueName).
            if (left.untagged.length > 0) {
              notes.push(
                `note: ${listed(what, left.untagged)} appeared during ${options.suite}, not tagged with a test ` +
                  'run (another client, or a test that does not tag its names): left alone.',
              )
            }
          }
          if (notes.length > 0) process.stderr.write(`\n${notes.join('\n')}\n`)
          if (problems.length > 0) {
            process.stderr.write(`\n${problems.join('\n')}\n\n`)
            process.exitCode = 1
          }
        } finally {
          await closeAll()
          await stopServices()
        }
      }
    } catch (error) {
      await closeAll()
      await stopServices()
      if (error instanceof ServiceUnavailableError || error instanceof GuestCheckError) stopRun(error.message)
      // Anything else (a refused login, a missing privilege, a bug here): its message first, then its stack.
      const message = error instanceof Error ? error.message.split('\n')[0] : String(error)
      stopRun(`${options.suite} could not start: ${message}\n${error instanceof Error ? error.stack : ''}`)
    }
  }
}
