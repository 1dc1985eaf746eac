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
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  checkConnections,
  GuestCheckError,
  PeakSampler,
  type RedisProbe,
  type SqlProbe,
} from './guest-connections.js'
import {
  type Leftovers,
  leftovers,
  listed,
  mysqlTables,
  postgresSchemas,
  postgresTables,
  sqliteDirs,
} from './guest-leftovers.js'
import { runTag } from './names.js'
import { provideServices, type ServiceName, ServiceUnavailableError, type Teardown } from './services.js'

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
