/**
 * One workload's rounds: every system takes its turn on its own table, round after round. The systems run in
 * groups (`groups.ts`: each target's two systems in one); a group's systems are set up together and take
 * turns slice by slice (`--slice-ms` each, longer for a slow system), in passes that go in mirrored pairs (a
 * shuffled order, then the same backwards: see {@link passOrder}), so that a slow moment of the shared machine
 * falls on all of them alike, and so does what the order itself does. The groups of a round run in
 * an order shuffled anew each round (seeded: a run replays). Each turn's answers are checked against the
 * table, which is then vacuumed and analyzed before the next group starts: the work a turn leaves Postgres
 * (autovacuum of a table that grew by thousands of rows in a second) is done between groups, not during the
 * next ones. A group for which Postgres had no connection left is run again, twice at most, 3 s later.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { shuffle } from '@getorcreate/test-support'
import type postgres from 'postgres'
import {
  BenchError,
  type BenchOptions,
  connectionsNeeded,
  groupsFor,
  perProcess,
  turnMaxMs,
} from './options.js'
import type { RunningTurn, TurnRunner } from './runner.js'
import { aggregate, type Cell, measureTurn, type TurnMeasure } from './stats.js'
import type { System, WorkloadId } from './system.js'
import { fencesTableFor } from './tables.js'
import { TooManyConnectionsError, type TurnResult, type TurnSpec } from './turn.js'
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
 * `items` (a round's groups, a pass's systems) in the order of their turns: shuffled, seeded by `seed` (a run
 * replays). A rotation would keep each behind the same one every time, and one that leaves Postgres busy (the
 * INSERT floor, which adds rows fastest) would then slow the same one every time.
 */
export function turnOrder<T>(items: readonly T[], seed: number): T[] {
  return shuffle([...items], seed * 7_919)
}

/**
 * The order of a group's slices in pass `pass`: a shuffle (seeded by `seed`) on even passes, and on odd ones
 * the previous pass's order backwards (those still `pending`). Passes in mirrored pairs (A B, B A) put each
 * system first and last alike, and before and after each other alike, so that what the order itself does
 * cancels within a turn: the garbage a system leaves for the next slice's collector (one process for all),
 * the work it leaves Postgres, a machine that speeds up or slows down through the turn. With a shuffle alone,
 * a pair went A B in both passes of a turn one round in two, and the rounds' ratios followed the order they
 * happened to get (0.85-1.16x between rounds, alike in every run of the same seeds).
 */
export function passOrder<T>(previous: readonly T[], pending: readonly T[], seed: number, pass: number): T[] {
  if (pass % 2 === 0) return turnOrder(pending, seed)
  return previous.filter((item) => pending.includes(item)).reverse()
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
  const groups = workloadGroups(options, workload.id, systems)
  const turns = new Map<string, TurnMeasure[]>(systems.map((system) => [system.id, []]))
  for (let round = 1; round <= options.rounds; round++) {
    for (const group of turnOrder(groups, round)) {
      if (run.interrupted()) throw new BenchError('Interrupted.')
      const measures = await measureWithRetries(run, group, round, seeded)
      group.members.forEach((system, i) => {
        turns.get(system.id)!.push(measures[i]!)
        run.turnDone(system, round, measures[i]!)
      })
    }
  }
  const floorTurns = turns.get(workload.floor)
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
      floorTurns,
    ),
  )
}

/** One group of a workload's rounds: its systems, and for each how many earlier groups hold it too. */
interface TurnGroup {
  /** Its index among the workload's groups (`TurnMeasure.group`). */
  readonly index: number
  readonly members: readonly System[]
  /** Per member, how many groups before this one hold it too (its calls here then use other keys). */
  readonly occurrences: readonly number[]
}

/**
 * The groups of a workload's rounds (`groups.ts`): each target's two systems in one group, as many systems a
 * group as `groupSize` (`options.ts`) allows.
 */
function workloadGroups(
  options: Pick<BenchOptions, 'systems' | 'pool' | 'procs'>,
  workload: WorkloadId,
  systems: readonly System[],
): TurnGroup[] {
  const byId = new Map(systems.map((system) => [system.id, system]))
  const seen = new Map<string, number>()
  return groupsFor(options, workload).map((ids, index) => ({
    index,
    members: ids.map((id) => byId.get(id)!),
    occurrences: ids.map((id) => {
      const before = seen.get(id) ?? 0
      seen.set(id, before + 1)
      return before
    }),
  }))
}

/** A group's turns, run again with other keys while Postgres refuses connections (3 attempts). */
async function measureWithRetries(
  run: WorkloadRun,
  group: TurnGroup,
  round: number,
  seeded: ReadonlySet<string>,
): Promise<TurnMeasure[]> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await measureGroup(run, group, round, attempt, seeded)
    } catch (error) {
      if (!(error instanceof TooManyConnectionsError)) throw error
      if (attempt >= 2) {
        throw new BenchError(
          `${error.message} Postgres allows 100 connections here and other runs share it; this run ` +
            `uses at most ${connectionsNeeded(run.options)}. Retry later, or lower --pool.`,
        )
      }
      await sleep(3_000)
    }
  }
}

/** One system's turn in a group, prepared. */
interface Entrant {
  readonly system: System
  readonly table: string
  /** Its calls, and the same split over the processes. */
  readonly calls: readonly string[]
  readonly split: readonly (readonly string[])[]
  readonly running: RunningTurn
}

/**
 * One group's turns: every system set up and warmed up, then pass after pass, each system's next slice in the
 * pass's order ({@link passOrder}), until every system has run its calls (or its time); then each table
 * counted and settled.
 */
async function measureGroup(
  run: WorkloadRun,
  group: TurnGroup,
  round: number,
  attempt: number,
  seeded: ReadonlySet<string>,
): Promise<TurnMeasure[]> {
  const entrants: Entrant[] = []
  const results: TurnResult[][] = []
  try {
    for (const [i, system] of group.members.entries()) {
      const seed = round + attempt * 1_000 + group.occurrences[i]! * 1_000_000
      const first = round === 1 && run.options.longFirstWarmup !== false
      entrants.push(await prepareEntrant(run, system, seed, first))
    }
    const pending = new Set(entrants)
    let order: Entrant[] = []
    for (let pass = 0; pending.size > 0; pass++) {
      if (run.interrupted()) throw new BenchError('Interrupted.')
      order = passOrder(order, [...pending], round * 1_009 + group.index * 101 + pass, pass)
      for (const entrant of order) {
        if (await entrant.running.slice()) pending.delete(entrant)
      }
    }
    for (const entrant of entrants) results.push(await entrant.running.finish())
  } catch (error) {
    await Promise.all(
      entrants.slice(results.length).map((entrant) => entrant.running.abort().catch(() => {})),
    )
    throw error
  }
  if (results.flat().some((result) => result.tooManyConnections)) {
    throw new TooManyConnectionsError('during the measured calls')
  }
  const measures: TurnMeasure[] = []
  for (const [i, entrant] of entrants.entries()) {
    const asked = [...new Set(entrant.calls)]
    const rows = await run.admin<{ slug: string; id: number }[]>`
      select slug, id from ${run.admin(entrant.table)} where slug = any(${asked})`
    await settleTable(run.admin, entrant.table, entrant.system.fenced === true)
    measures.push(measureTurn(round, group.index, entrant.split, results[i]!, rows, seeded))
  }
  return measures
}

/**
 * Set up and warm up one system's turn for `seed`, its calls split over the processes; `first`: the run's first
 * round, with a longer warm-up (see `Workload.warmup`), unless the options say otherwise.
 */
async function prepareEntrant(
  run: WorkloadRun,
  system: System,
  seed: number,
  first: boolean,
): Promise<Entrant> {
  const { options, workload } = run
  const table = run.tableOf.get(system.id)!
  const calls = workload.calls(seed)
  const split = Array.from({ length: options.procs }, (_, p) =>
    calls.filter((_, index) => index % options.procs === p),
  )
  const concurrency = perProcess(options.concurrency, options)
  const cap = turnMaxMs(options, workload.id)
  const specs: TurnSpec[] = split.map((list) => ({
    systemId: system.id,
    ctx: {
      databaseUrl: options.databaseUrl,
      table,
      pool: perProcess(options.pool, options),
      redisUrl: options.redisUrl,
      redisTrioUrls: run.redisTrioUrls,
    },
    warmup: workload.warmup(seed, concurrency, first),
    calls: list,
    concurrency,
    sliceMs: options.sliceMs,
    maxMs: Number.isFinite(cap) ? cap : 1e12,
  }))
  return { system, table, calls, split, running: await run.runner.prepare(specs) }
}
