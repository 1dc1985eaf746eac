/**
 * The bench itself: for each workload, every system takes its turn on its own table, round after round, the
 * order rotating each round so the machine's noise falls on every system alike. Each turn's answers are
 * checked against the table. Returns everything measured; `main.ts` prints and saves it.
 */
import { cpus, loadavg, totalmem } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import postgres from 'postgres'
import { connectRedis } from '../redis.js'
import { createTagsTableSql } from '../tags.js'
import { startRedisNodes } from './redis-nodes.js'
import { localRunner, processRunner, type TurnRunner } from './runner.js'
import { aggregate, type Cell, measureTurn, type TurnMeasure } from './stats.js'
import type { System, WorkloadId } from './system.js'
import { allSystems, systemById } from './systems/index.js'
import { TooManyConnectionsError, type TurnSpec } from './turn.js'
import { workloads as makeWorkloads, type Workload, type WorkloadSizes } from './workloads.js'

/** Rows of other keys in every bench table before the first turn (see where the tables are made). */
const BACKGROUND_ROWS = 20_000
/** Everything a run needs. */
export interface BenchOptions {
  readonly databaseUrl: string
  readonly redisUrl: string
  /** Rounds per workload: every system runs once per round. */
  readonly rounds: number
  /** Postgres connections of every system (split over `procs`). */
  readonly pool: number
  /** Calls in flight at once (split over `procs`). */
  readonly concurrency: number
  /** OS processes the callers are spread over; 1 runs them in this process. */
  readonly procs: number
  readonly sizes: WorkloadSizes
  /** Stop starting calls after this many milliseconds per turn; `Infinity` runs every call (exact counts). */
  readonly maxMs: number
  /** System ids to run (in the order of `allSystems`). */
  readonly systems: readonly string[]
  readonly workloads: readonly WorkloadId[]
  /** Called after every turn. */
  readonly onTurn?: (event: TurnEvent) => void
}

/** Progress: one turn done. */
export interface TurnEvent {
  readonly done: number
  readonly total: number
  readonly workload: WorkloadId
  readonly system: System
  readonly round: number
  readonly measure: TurnMeasure
}

/** What the machine and the services were. */
export interface Environment {
  readonly node: string
  readonly platform: string
  readonly cpus: string
  readonly cores: number
  readonly memoryGb: number
  readonly loadAverage: readonly number[]
  readonly postgres: string
  readonly database: string
  readonly redis: string
}

/** A target of the issue, measured. */
export interface Expectation {
  readonly label: string
  readonly measured: number | undefined
  readonly target: number
  readonly met: boolean | undefined
}

/** A whole run. */
export interface BenchResult {
  readonly startedAt: string
  readonly seconds: number
  readonly options: Omit<BenchOptions, 'onTurn' | 'databaseUrl' | 'redisUrl'>
  readonly environment: Environment
  readonly workloads: readonly { id: WorkloadId; title: string; floor: string }[]
  readonly cells: Cell[]
  readonly expectations: Expectation[]
}

/** Error for a run that cannot start or continue; its message says what to do. */
export class BenchError extends Error {
  override readonly name = 'BenchError'
}

const SHORT: Record<WorkloadId, string> = { 'miss-storm': 'm', hits: 'h', mixed: 'x' }

/** The systems of a run that take part in a workload. */
export function systemsFor(options: Pick<BenchOptions, 'systems'>, workload: WorkloadId): System[] {
  return options.systems
    .map(systemById)
    .filter((system) => !system.workloads || system.workloads.includes(workload))
}

/**
 * Seconds a run should take: per turn, its time cap (or a guess from the calls when uncapped) plus set-up,
 * warm-up, tear-down and counting.
 */
export function estimateSeconds(options: Omit<BenchOptions, 'onTurn'>): number {
  let seconds = 3 // services, child processes
  for (const workload of options.workloads) {
    for (const system of systemsFor(options, workload)) {
      const calls =
        workload === 'miss-storm' ? options.sizes.keys * options.sizes.callersPerKey : options.sizes.calls
      const run = Number.isFinite(options.maxMs) ? options.maxMs / 1000 : calls / 2_000
      const overhead = system.id === 'mikro-orm' ? 0.45 : system.id.startsWith('sequelize') ? 0.3 : 0.2
      seconds += options.rounds * (run + overhead)
    }
    seconds += 0.5 // tables
  }
  return seconds
}

async function checkPostgres(admin: postgres.Sql, options: BenchOptions): Promise<string> {
  let version: string
  let max: number
  let used: number
  try {
    const [row] = await admin<{ version: string; max: number; used: number }[]>`
      select current_setting('server_version') as version,
             current_setting('max_connections')::int as max,
             (select count(*)::int from pg_stat_activity) as used`
    version = row!.version
    max = row!.max
    used = row!.used
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    if (/too many clients/i.test(message)) {
      throw new BenchError(
        `Postgres has no connection left (too many clients already): others are using it. Retry later.`,
      )
    }
    throw new BenchError(
      `No Postgres answers at ${shown(options.databaseUrl)} (${message}). Start it or set DATABASE_URL.`,
    )
  }
  const needed = options.pool + options.procs + 2
  if (used + needed > max) {
    throw new BenchError(
      `Postgres allows ${max} connections and ${used} are in use; this run needs ${needed} more ` +
        `(pool ${options.pool}). Lower --pool, or retry when the other runs are done.`,
    )
  }
  return `PostgreSQL ${version}`
}

function shown(url: string): string {
  const parsed = new URL(url)
  parsed.password = ''
  return `${parsed.host}${parsed.pathname}`
}

function expectations(cells: readonly Cell[]): Expectation[] {
  const cell = (workload: WorkloadId, systemId: string) =>
    cells.find((candidate) => candidate.workload === workload && candidate.systemId === systemId)
  const paired = (workload: WorkloadId, a: string, b: string): number | undefined => {
    const left = cell(workload, a)
    const right = cell(workload, b)
    if (!left || !right) return undefined
    const ratios = left.turns.flatMap((turn) => {
      const other = right.turns.find((candidate) => candidate.round === turn.round)
      return other ? [turn.rate / other.rate] : []
    })
    return ratios.length > 0 ? [...ratios].sort((x, y) => x - y)[Math.floor(ratios.length / 2)] : undefined
  }
  const target = (label: string, measured: number | undefined, goal: number): Expectation => ({
    label,
    measured,
    target: goal,
    met: measured === undefined ? undefined : measured >= goal,
  })
  return [
    target('constraintStrategy hits ÷ floor SELECT', paired('hits', 'ours-constraint', 'floor-select'), 0.9),
    target(
      'constraintStrategy miss storm ÷ floor INSERT',
      paired('miss-storm', 'ours-constraint', 'floor-insert'),
      0.9,
    ),
    target(
      'constraintStrategy miss storm ÷ Sequelize findOrCreate',
      paired('miss-storm', 'ours-constraint', 'sequelize-findorcreate'),
      5,
    ),
    target(
      'redisLockStrategy (1 node) hits ÷ floor SELECT',
      paired('hits', 'ours-redis-lock', 'floor-select'),
      0.85,
    ),
    target(
      'redisLockStrategy (3 nodes) hits ÷ floor SELECT',
      paired('hits', 'ours-redis-lock-3', 'floor-select'),
      0.85,
    ),
    target(
      'redisLockStrategy (1 node) miss storm ÷ Redis lock around every call',
      paired('miss-storm', 'ours-redis-lock', 'redis-mutex'),
      1.5,
    ),
    target(
      'redisLockStrategy (3 nodes) miss storm ÷ Redlock around every call, 3 nodes',
      paired('miss-storm', 'ours-redis-lock-3', 'redis-redlock-3'),
      1.5,
    ),
  ]
}

/** True when a cell of ours is not exact: a duplicate, a wrong id, an error, or created flags ≠ keys created. */
export function isWrong(cell: Cell): boolean {
  return (
    cell.duplicates > 0 ||
    cell.wrongIds > 0 ||
    cell.errors > 0 ||
    (cell.reportsCreated && cell.createdFlags !== cell.keysCreated)
  )
}

/**
 * Run the bench. Starts (and always stops) the 3-node Redis and the `--procs` children; creates (and always
 * drops) one table per system and workload. Ctrl-C (or SIGTERM) stops after the running turn and cleans up; a second one quits at once.
 *
 * @throws BenchError when a service is missing or Postgres has no connections to spare.
 */
export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const started = performance.now()
  const startedAt = new Date().toISOString()
  const runId = crypto.randomUUID().replaceAll('-', '').slice(0, 8)
  const selected = options.systems.map(systemById)
  const admin = postgres(options.databaseUrl, { max: 2, onnotice: () => {} })
  const tables: string[] = []
  const cleanups: (() => void)[] = []
  let interrupted = false
  const onSigint = () => {
    if (interrupted) {
      for (const cleanup of cleanups) cleanup()
      process.exit(130)
    }
    interrupted = true
    process.stderr.write(
      '\nInterrupted: stopping after this turn and cleaning up (Ctrl-C again to quit now).\n',
    )
  }
  const onExit = () => {
    for (const cleanup of cleanups) cleanup()
  }
  process.on('SIGINT', onSigint)
  process.on('SIGTERM', onSigint)
  process.on('exit', onExit)
  let runner: TurnRunner | undefined
  let stopNodes: (() => Promise<void>) | undefined
  try {
    const postgresVersion = await checkPostgres(admin, options)
    let redisLabel = 'not used'
    let redisTrioUrls: readonly string[] = []
    if (selected.some((system) => system.needs === 'redis')) {
      try {
        const probe = await connectRedis(options.redisUrl)
        const info = String(await probe.info('server'))
        probe.disconnect()
        redisLabel = `Redis ${/redis_version:(\S+)/.exec(info)?.[1] ?? '?'}`
      } catch (error) {
        throw new BenchError(
          `${error instanceof Error ? error.message : String(error)}. Start redis-server or set REDIS_URL, or ` +
            `leave the Redis systems out with --systems.`,
        )
      }
    }
    if (selected.some((system) => system.needs === 'redis-trio')) {
      const nodes = await startRedisNodes(3)
      cleanups.push(nodes.kill)
      stopNodes = nodes.stop
      redisTrioUrls = nodes.urls
      redisLabel += `; 3 local redis-server nodes for the 3-node cases`
    }
    runner = options.procs > 1 ? await processRunner(options.procs) : localRunner()
    cleanups.push(runner.kill)

    const all = makeWorkloads(options.sizes)
    const total = options.workloads.reduce(
      (sum, workload) => sum + systemsFor(options, workload).length * options.rounds,
      0,
    )
    const cells: Cell[] = []
    let done = 0
    const perProcess = (value: number) => Math.max(1, Math.ceil(value / options.procs))

    for (const workloadId of options.workloads) {
      const workload: Workload = all[workloadId]
      const systems = systemsFor(options, workloadId)
      const seeded = new Set(workload.seeded)
      const tableOf = new Map<string, string>()
      for (const [i, system] of systems.entries()) {
        const table = `bench_${runId}_${SHORT[workloadId]}${i}`
        tables.push(table)
        tableOf.set(system.id, table)
        // Plain tables get a non-unique index on the key, as any table looked up by key has: without it every
        // find would scan the table, and the lock-based systems would be measured against a missing index.
        await admin.unsafe(createTagsTableSql(table, system.table === 'unique' ? 'unique' : 'non-unique'))
        // Rows of other keys, as a table in production holds, then statistics: without them a find planned
        // while the table is nearly empty (postgres.js prepares every statement; its generic plan is cached on
        // the connection) keeps scanning the whole table as the miss storm grows it, until autovacuum analyzes
        // it a minute later. The bench would then measure that plan, not the systems.
        await admin.unsafe(
          `insert into ${table} (slug, label) select 'other-' || g, 'other-' || g from generate_series(1, ${BACKGROUND_ROWS}) g`,
        )
        if (workload.seeded.length > 0) {
          await admin.unsafe(
            `insert into ${table} (slug, label) select 'hot-' || g, 'hot-' || g from generate_series(0, ${workload.seeded.length - 1}) g`,
          )
        }
        await admin.unsafe(`analyze ${table}`)
      }
      const turns = new Map<string, TurnMeasure[]>(systems.map((system) => [system.id, []]))
      for (let round = 1; round <= options.rounds; round++) {
        for (let i = 0; i < systems.length; i++) {
          if (interrupted) throw new BenchError('Interrupted.')
          const system = systems[(i + round) % systems.length]!
          const table = tableOf.get(system.id)!
          let measure: TurnMeasure | undefined
          for (let attempt = 0; !measure; attempt++) {
            const calls = workload.calls(round + attempt * 1_000)
            const split = Array.from({ length: options.procs }, (_, p) =>
              calls.filter((_, index) => index % options.procs === p),
            )
            const concurrency = perProcess(options.concurrency)
            const specs: TurnSpec[] = split.map((list) => ({
              systemId: system.id,
              ctx: {
                databaseUrl: options.databaseUrl,
                table,
                pool: perProcess(options.pool),
                redisUrl: options.redisUrl,
                redisTrioUrls,
              },
              warmup: workload.warmup(round + attempt * 1_000, concurrency),
              calls: list,
              concurrency,
              maxMs: Number.isFinite(options.maxMs) ? options.maxMs : 1e12,
            }))
            try {
              const results = await runner.runTurn(specs)
              if (results.some((result) => result.tooManyConnections)) {
                throw new TooManyConnectionsError('during the measured calls')
              }
              const asked = [...new Set(calls)]
              const rows = await admin<{ slug: string; id: number }[]>`
                select slug, id from ${admin(table)} where slug = any(${asked})`
              measure = measureTurn(round, split, results, rows, seeded)
            } catch (error) {
              if (!(error instanceof TooManyConnectionsError)) throw error
              if (attempt >= 2) {
                throw new BenchError(
                  `${error.message} Postgres allows 100 connections here and other runs share it; this run ` +
                    `uses at most ${options.pool + 2 + options.procs}. Retry later, or lower --pool.`,
                )
              }
              await sleep(3_000)
            }
          }
          turns.get(system.id)!.push(measure)
          done++
          options.onTurn?.({ done, total, workload: workloadId, system, round, measure })
        }
      }
      const floorRates = new Map(
        (turns.get(workload.floor) ?? []).map((turn) => [turn.round, turn.rate] as const),
      )
      for (const system of systems) {
        cells.push(
          aggregate(
            {
              workload: workloadId,
              systemId: system.id,
              name: system.name,
              kind: system.kind,
              reportsCreated: system.reportsCreated,
            },
            turns.get(system.id)!,
            turns.has(workload.floor) ? floorRates : undefined,
          ),
        )
      }
    }
    const { onTurn: _, databaseUrl, redisUrl, ...rest } = options
    const cpu = cpus()
    return {
      startedAt,
      seconds: (performance.now() - started) / 1000,
      options: rest,
      environment: {
        node: process.version,
        platform: `${process.platform} ${process.arch}`,
        cpus: cpu[0]?.model.trim() ?? 'unknown',
        cores: cpu.length,
        memoryGb: Math.round(totalmem() / 2 ** 30),
        loadAverage: loadavg().map((load) => Math.round(load * 100) / 100),
        postgres: postgresVersion,
        database: shown(databaseUrl),
        redis: `${redisLabel} at ${shown(redisUrl)}`,
      },
      workloads: options.workloads.map((id) => ({ id, title: all[id].title, floor: all[id].floor })),
      cells,
      expectations: expectations(cells),
    }
  } finally {
    process.off('SIGINT', onSigint)
    process.off('SIGTERM', onSigint)
    await runner?.stop().catch(() => runner?.kill())
    await stopNodes?.().catch(() => {})
    process.off('exit', onExit)
    for (const table of tables) await admin.unsafe(`drop table if exists ${table}`).catch(() => {})
    await admin.end({ timeout: 5 })
  }
}

/** Every system id, for `--systems` help. */
export const systemIds: readonly string[] = allSystems.map((system) => system.id)
