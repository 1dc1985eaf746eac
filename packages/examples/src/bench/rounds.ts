/**
 * One workload's rounds: every system takes its turn on its own table, round after round, in an order
 * shuffled anew each round (seeded: a run replays), so that no system always follows the same one. Each
 * turn's answers are checked against the table, which is then vacuumed and analyzed before the next turn
 * starts: the work a turn leaves Postgres (autovacuum of a table that grew by thousands of rows in a
 * second) is done between turns, not during the next system's. A turn for which Postgres had no connection
 * left is run again, twice at most, 3 s later.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { shuffle } from '@getorcreate/test-support'
import type postgres from 'postgres'
import { BenchError, type BenchOptions } from './options.js'
import type { TurnRunner } from './runner.js'
import { aggregate, type Cell, measureTurn, type TurnMeasure } from './stats.js'
import type { System } from './system.js'
import { fencesTableFor } from './tables.js'
import { TooManyConnectionsError, type TurnSpec } from './turn.js'
import type { Workload } from './workloads.js'

/** What the rounds of one workload run with. */
export interface WorkloadRun {
  readonly options: BenchOptions
  /** The run's own connection, which counts the rows after each turn. */
  readonly admin: postgres.Sql
  readonly runner: TurnRunner
  readonly workload: Workload
  readonly systems: readonly System[]
  /** Each system's table, by system id. */
  readonly tableOf: ReadonlyMap<string, string>
  /** The 3 Redis nodes of the 3-node cases (empty when none runs). */
  readonly redisTrioUrls: readonly string[]
  /** True when the run must stop before its next turn. */
  interrupted(): boolean
  /** Called after every turn. */
  turnDone(system: System, round: number, measure: TurnMeasure): void
}

/**
 * The systems in the order of their turns in `round`: shuffled, seeded by the round (a run replays). A
 * rotation would keep each system behind the same one every round, and one that leaves Postgres busy (the
 * INSERT floor, which adds rows fastest) would then slow the same system every round.
 */
export function turnOrder<T>(systems: readonly T[], round: number): T[] {
  return shuffle([...systems], round * 7_919)
}

/**
 * Vacuum and analyze `table` (and its fences table, for a fenced system) now, between turns: autovacuum would
 * otherwise do it while a later turn runs, a table that grew by thousands of rows costing a third of a 0.3 s
 * turn on a 2-core machine.
 */
export async function settleTable(admin: postgres.Sql, table: string, fenced: boolean): Promise<void> {
  await admin.unsafe(`vacuum (analyze) ${table}`)
  if (fenced) await admin.unsafe(`vacuum (analyze) ${fencesTableFor(table)}`)
}

/** Run every round of the workload; returns one cell per system, its rates also taken against the floor's. */
export async function runRounds(run: WorkloadRun): Promise<Cell[]> {
  const { options, workload, systems } = run
  const seeded = new Set(workload.seeded)
  const turns = new Map<string, TurnMeasure[]>(systems.map((system) => [system.id, []]))
  for (let round = 1; round <= options.rounds; round++) {
    for (const system of turnOrder(systems, round)) {
      if (run.interrupted()) throw new BenchError('Interrupted.')
      const measure = await measureWithRetries(run, system, round, seeded)
      turns.get(system.id)!.push(measure)
      run.turnDone(system, round, measure)
    }
  }
  const floorRates = new Map(
    (turns.get(workload.floor) ?? []).map((turn) => [turn.round, turn.rate] as const),
  )
  return systems.map((system) =>
    aggregate(
      {
        workload: workload.id,
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

/** One turn of `system`, run again with other keys while Postgres refuses connections (3 attempts). */
async function measureWithRetries(
  run: WorkloadRun,
  system: System,
  round: number,
  seeded: ReadonlySet<string>,
): Promise<TurnMeasure> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await measureOnce(run, system, round, round + attempt * 1_000, seeded)
    } catch (error) {
      if (!(error instanceof TooManyConnectionsError)) throw error
      if (attempt >= 2) {
        throw new BenchError(
          `${error.message} Postgres allows 100 connections here and other runs share it; this run ` +
            `uses at most ${run.options.pool + 2 + run.options.procs}. Retry later, or lower --pool.`,
        )
      }
      await sleep(3_000)
    }
  }
}

/** One turn: the workload's calls for `seed`, split over the processes, run, and counted against the table. */
async function measureOnce(
  run: WorkloadRun,
  system: System,
  round: number,
  seed: number,
  seeded: ReadonlySet<string>,
): Promise<TurnMeasure> {
  const { options, workload } = run
  const table = run.tableOf.get(system.id)!
  const perProcess = (value: number) => Math.max(1, Math.ceil(value / options.procs))
  const calls = workload.calls(seed)
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
      redisTrioUrls: run.redisTrioUrls,
    },
    warmup: workload.warmup(seed, concurrency),
    calls: list,
    concurrency,
    maxMs: Number.isFinite(options.maxMs) ? options.maxMs : 1e12,
  }))
  const results = await run.runner.runTurn(specs)
  if (results.some((result) => result.tooManyConnections)) {
    throw new TooManyConnectionsError('during the measured calls')
  }
  const asked = [...new Set(calls)]
  const rows = await run.admin<{ slug: string; id: number }[]>`
    select slug, id from ${run.admin(table)} where slug = any(${asked})`
  await settleTable(run.admin, table, system.fenced === true)
  return measureTurn(round, split, results, rows, seeded)
}
