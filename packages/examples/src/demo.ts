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
 * `getOrCreate` ever produced a duplicate row, a second `created: true` or two ids for one key
 * ({@link demoMain}). test/demo.test.ts proves that in child processes: the script exits 0, and `demoMain`
 * over a deliberately broken strategy (`DemoOptions.moreStrategies`, a test-only seam that the script never
 * sets; test/workers/demo-broken.ts) exits 1 and names it.
 *
 * This file runs the steps and prints; the approaches raced are in `demo/approaches.ts`, the opening of the
 * database (and the one line printed when it cannot be used) in `demo/database.ts`, the table in
 * `demo/table.ts`.
 */
import { pathToFileURL } from 'node:url'
import type { Strategy } from '@getorcreate/core'
import { runConcurrently, shuffledCalls } from '@getorcreate/test-support'
import { uniqueName } from './database.js'
import {
  type Approach,
  naive,
  naiveInTransaction,
  withRedisLock,
  withStrategy,
  withUniqueIndex,
} from './demo/approaches.js'
import { DemoDatabaseError, openDemoDatabase, rowsPerKey } from './demo/database.js'
import { type DemoRow, formatTable, isWrong } from './demo/table.js'
import { summarize } from './load.js'
import { connectRedis, LOCK_CONNECTION } from './redis.js'
import { createTagsTableSql, type SlugIndex } from './tags.js'

// The demo's API as before the split: the table's rows and its verdict, the error for a database it cannot use.
export { DemoDatabaseError } from './demo/database.js'
export { type DemoRow, formatTable, isWrong } from './demo/table.js'

/** The seed of the calls' order: the same order on every run and machine, so runs can be compared. */
const DEMO_SEED = 7

/** A strategy of the caller's, raced as one more `getOrCreate` row: see {@link DemoOptions.moreStrategies}. */
export interface DemoStrategy {
  /** What the table shows, e.g. `'getOrCreate (broken on purpose: always inserts)'`. */
  readonly name: string
  /** How `slug` is indexed in the table it runs on. */
  readonly slugIndex: SlugIndex
  /** The strategy `getOrCreate` is called with. */
  readonly strategy: Strategy
}

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
  /**
   * Test-only: more `getOrCreate` rows, one per strategy, raced after `getOrCreate (unique index)` and held to
   * the same rule as ours (a duplicate row, a wrong `created` count, a split id or an error makes the run
   * fail). The test of the failure detector races a deliberately broken strategy here, in a child process
   * (test/workers/demo-broken.ts). `pnpm demo` sets none. Default is none.
   */
  readonly moreStrategies?: readonly DemoStrategy[]
}

/** Run the demo and return its table; {@link demoMain} prints it and sets the exit code. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoRow[]> {
  const print = options.print ?? ((line: string) => console.log(line))
  const keyCount = options.keys ?? 200
  const callersPerKey = options.callersPerKey ?? 10
  const concurrency = options.concurrency ?? 50
  const database = await openDemoDatabase(options.databaseUrl, concurrency)
  const keys = Array.from({ length: keyCount }, (_, i) => `tag-${i}`)
  const calls = shuffledCalls(keys, callersPerKey, DEMO_SEED)
  const table: DemoRow[] = []
  const created: string[] = []
  print(`getorcreate demo on ${database.label}`)
  print(`${keyCount} keys × ${callersPerKey} callers each, shuffled, ${concurrency} at once\n`)

  /** Fire the load at `approach` on a table of its own, and add what it left behind to the table. */
  async function race(approach: Approach) {
    const name = uniqueName('demo')
    created.push(name)
    await database.exec(createTagsTableSql(name, approach.slugIndex))
    print(`  running: ${approach.name} …`)
    const result = await runConcurrently(calls, concurrency, approach.callOn(name))
    table.push({
      approach: approach.name,
      mustBeExact: approach.mustBeExact,
      ...summarize(calls, result, keyCount, await rowsPerKey(database, name)),
    })
  }

  try {
    await race(naive(database.db))
    // PGlite runs one transaction at a time, which hides the race; a server runs them side by side.
    if (database.kind === 'postgres') await race(naiveInTransaction(database.db))
    await race(withUniqueIndex(database.db))
    for (const more of options.moreStrategies ?? []) {
      await race(withStrategy(database.db, more.name, more.slugIndex, more.strategy))
    }

    const redisUrl = options.redisUrl ?? 'redis://127.0.0.1:6379'
    const redis = await connectRedis(redisUrl, LOCK_CONNECTION, 1_000).catch(() => undefined)
    if (redis) {
      try {
        await race(withRedisLock(database.db, redis))
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

/**
 * What `pnpm demo` runs: {@link runDemo} with `options`, then its verdict. Sets `process.exitCode` to 1 when a
 * row held to our rule is wrong ({@link isWrong}: a duplicate row, a `created: true` too many or too few, a key
 * given two ids, an error), printing `FAILED: <those rows> produced a duplicate or a wrong answer.` on stderr,
 * or when the database cannot be used (its one line, no stack). The script passes DATABASE_URL and REDIS_URL
 * only; test/workers/demo-broken.ts passes a deliberately broken strategy too, to prove the exit code fires.
 */
export async function demoMain(options: DemoOptions): Promise<void> {
  try {
    const rows = await runDemo(options)
    const naiveRows = rows.filter((row) => !row.mustBeExact)
    const wrong = rows.filter((row) => row.mustBeExact && isWrong(row))
    console.log('')
    if (naiveRows.some((row) => row.duplicateRows > 0)) {
      console.log(
        'The naive code created duplicate rows: two callers both found nothing, then both inserted.',
      )
    }
    if (wrong.length > 0) {
      console.error(
        `FAILED: ${wrong.map((row) => row.approach).join(', ')} produced a duplicate or a wrong answer.`,
      )
      process.exitCode = 1
    } else {
      console.log('getOrCreate: exactly one row, one created:true and one id per key.')
    }
  } catch (error) {
    // A database that cannot be used is the user's setup, not a bug: one line, no stack.
    console.error(error instanceof DemoDatabaseError ? error.message : error)
    process.exitCode = 1
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // demoMain never rejects: it reports every failure and sets the exit code itself.
  void demoMain({ databaseUrl: process.env.DATABASE_URL, redisUrl: process.env.REDIS_URL })
}
