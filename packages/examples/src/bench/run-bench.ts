/**
 * The bench itself: check and start the services, then for each workload make the tables and run its rounds
 * (`rounds.ts`), then describe the run and measure the targets. Returns everything measured; `main.ts` prints
 * and saves it.
 */
import postgres from 'postgres'
import { RunGuard } from './interrupts.js'
import { type BenchOptions, runningSystems, systemsFor, totalTurns } from './options.js'
import { runRounds } from './rounds.js'
import { isolatedRunner, localRunner, processRunner, type TurnRunner } from './runner.js'
import { checkPostgres, describeEnvironment, type Environment, prepareRedis } from './services.js'
import type { Cell } from './stats.js'
import type { WorkloadId } from './system.js'
import { systemById } from './systems/index.js'
import { createTables, dropTables } from './tables.js'
import { type Expectation, expectations } from './targets.js'
import { workloads as makeWorkloads } from './workloads.js'

// What callers of runBench need with it: its options, the error it throws, the verdict on a cell of its result.
export type { BenchOptions } from './options.js'
export { isWrong } from './targets.js'

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

/**
 * Run the bench. Starts (and always stops) the 3-node Redis and the child processes; creates (and always
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
  const guard = new RunGuard()
  let runner: TurnRunner | undefined
  let stopNodes: (() => Promise<void>) | undefined
  try {
    const postgresVersion = await checkPostgres(admin, options)
    const redis = await prepareRedis(selected, options.redisUrl)
    guard.onExit(redis.kill)
    stopNodes = redis.stop
    // With isolate, processes only for the systems some chosen workload runs.
    runner = options.isolate
      ? await isolatedRunner(runningSystems(options), options.procs)
      : options.procs > 1
        ? await processRunner(options.procs)
        : localRunner()
    guard.onExit(runner.kill)

    const all = makeWorkloads(options.sizes)
    const total = totalTurns(options)
    const cells: Cell[] = []
    let done = 0
    for (const workloadId of options.workloads) {
      const workload = all[workloadId]
      const systems = systemsFor(options, workloadId)
      const tableOf = await createTables(admin, runId, workload, systems, tables)
      const workloadCells = await runRounds({
        options,
        admin,
        runner,
        workload,
        systems,
        tableOf,
        redisTrioUrls: redis.trioUrls,
        interrupted: () => guard.interrupted,
        turnDone: (system, round, measure) => {
          done++
          options.onTurn?.({ done, total, workload: workloadId, system, round, measure })
        },
      })
      cells.push(...workloadCells)
    }
    const { onTurn: _, databaseUrl, redisUrl, ...rest } = options
    return {
      startedAt,
      seconds: (performance.now() - started) / 1000,
      options: rest,
      environment: describeEnvironment(postgresVersion, redis.label, options),
      workloads: options.workloads.map((id) => ({ id, title: all[id].title, floor: all[id].floor })),
      cells,
      expectations: expectations(cells, options.sizes.callersPerKey),
    }
  } finally {
    guard.releaseSignals()
    await runner?.stop().catch(() => runner?.kill())
    await stopNodes?.().catch(() => {})
    guard.releaseExit()
    await dropTables(admin, tables)
    await admin.end({ timeout: 5 })
  }
}
