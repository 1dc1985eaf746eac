/** The options of `pnpm stress`, their defaults (full and `--quick`), and the command line that sets them. */
import { parseArgs } from 'node:util'
import type { StressSizes } from './protocol.js'
import type { Dialect } from './tables.js'

/** What a run does. */
export interface StressOptions {
  readonly quick: boolean
  readonly procs: number
  readonly seed: number
  /** Stop starting calls after this long, or after {@link StressOptions.calls} calls in all. */
  readonly durationMs: number
  readonly calls: number
  /** Calls in flight per worker. */
  readonly concurrency: number
  /** Connections per pool per worker. */
  readonly pool: number
  readonly dialects: readonly Dialect[]
  /** Inject the fault schedule (default); `false`: the same load without faults, for a baseline. */
  readonly faults: boolean
  /**
   * Run each worker in a network namespace of its own where the machine allows it (default); `false`
   * (`--no-netns`): plain processes.
   */
  readonly netns: boolean
  readonly databaseUrl: string
  readonly mysqlUrl: string
  readonly ttlMs: number
  readonly acquireTimeoutMs: number
  readonly slowDefaultsMs: number
  readonly sizes: StressSizes
  /** Where the report goes (default `results/stress-<timestamp>/` in packages/examples). */
  readonly out: string | undefined
}

/** A bad option. */
export class StressUsageError extends Error {
  override readonly name = 'StressUsageError'
}

/** The usage text. */
export const USAGE = `pnpm stress [options]
  --quick          a 50 s run (the full run: 12 min, for at least 1,000,000 calls)
  --procs N        worker processes (default 4)
  --seed N         the seed of the key order and the fault schedule (default: random, printed)
  --seconds N      stop starting calls after N s
  --calls N        or after N calls in all, if sooner (default: no limit)
  --concurrency N  calls in flight per worker (default 48)
  --pool N         connections per pool per worker (default 3)
  --dialects a,b   pg, mysql, sqlite (default all)
  --no-faults      the same load without the fault schedule (a baseline)
  --no-netns       plain worker processes, even where each could have a network namespace of its own
  --out DIR        where the report goes (default results/stress-<timestamp>)`

function whole(value: string | undefined, fallback: number, name: string, min = 1): number {
  if (value === undefined) return fallback
  const parsed = Number(value)
  if (!Number.isInteger(parsed) || parsed < min)
    throw new StressUsageError(`--${name} must be a whole number ≥ ${min}.`)
  return parsed
}

/** Parse `argv` (without node and the script). @throws StressUsageError */
export function parseStressOptions(argv: readonly string[]): StressOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean', default: false },
      procs: { type: 'string' },
      seed: { type: 'string' },
      calls: { type: 'string' },
      seconds: { type: 'string' },
      concurrency: { type: 'string' },
      pool: { type: 'string' },
      dialects: { type: 'string' },
      'no-faults': { type: 'boolean', default: false },
      'no-netns': { type: 'boolean', default: false },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help) return 'help'
  const quick = values.quick === true
  const dialects = (values.dialects ?? 'pg,mysql,sqlite').split(',').map((d) => d.trim())
  const unknown = dialects.filter((d) => !['pg', 'mysql', 'sqlite'].includes(d))
  if (unknown.length > 0)
    throw new StressUsageError(`Unknown dialects: ${unknown.join(', ')} (pg, mysql, sqlite).`)
  return {
    quick,
    procs: whole(values.procs, 4, 'procs'),
    seed: whole(values.seed, Math.floor(Math.random() * 2 ** 31), 'seed', 0),
    durationMs: whole(values.seconds, quick ? 50 : 720, 'seconds') * 1000,
    calls: values.calls === undefined ? Number.POSITIVE_INFINITY : whole(values.calls, 0, 'calls'),
    concurrency: whole(values.concurrency, 48, 'concurrency'),
    pool: whole(values.pool, 3, 'pool'),
    dialects: dialects as Dialect[],
    faults: values['no-faults'] !== true,
    netns: values['no-netns'] !== true,
    databaseUrl: process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test',
    mysqlUrl: process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test',
    ttlMs: 2_000,
    acquireTimeoutMs: 5_000,
    slowDefaultsMs: 2_500,
    sizes: {
      hotKeys: 50,
      hotCalls: 60,
      freshKeys: 30,
      callersPerFreshKey: 2,
      deletedKeys: 10,
      deletedCalls: 10,
    },
    out: values.out,
  }
}
