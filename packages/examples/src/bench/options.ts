/** What a run is asked to do (its options, its progress events), and what that plan comes to before it starts. */
import { MAX_GROUP_SIZE, turnGroups } from './groups.js'
import type { TurnMeasure } from './stats.js'
import type { System, WorkloadId } from './system.js'
import { allSystems, systemById } from './systems/index.js'
import { targetPairs } from './targets.js'
import type { WorkloadSizes } from './workloads.js'

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
  /** OS processes a system's callers are spread over: the system's own, or all systems' (see `isolate`). */
  readonly procs: number
  /**
   * Each system in processes of its own (`procs` of them), started once for the whole run, as an application
   * runs its own code (`--isolate`); false (the default) runs every system in the same process(es): this one
   * with `procs` 1. In a shared process the systems change each other's cost: V8 optimizes a library's code
   * for all of its callers there (postgres.js's queries sent with `unsafe`, as drizzle sends them, cost
   * 16–19 µs of CPU each alone and 28–31 µs with tagged-template queries taking turns in the same process).
   * Apart, a target's per-round ratios spread about twice as wide here (see the README).
   */
  readonly isolate: boolean
  readonly sizes: WorkloadSizes
  /** Stop starting calls after this many milliseconds per turn; `Infinity` runs every call (exact counts). */
  readonly maxMs: number
  /**
   * The miss storm's cap per turn instead, where it is longer than `maxMs` (see {@link turnMaxMs}): a miss
   * storm turn cut short runs a prefix of its shuffled list, and a prefix holds more of the keys' first calls
   * than its share (at 4 callers per key, the first quarter of the list holds about 68 % of them, the first
   * half 94 %). A system cut short would run more creates a call than one that ran every call, and look
   * slower than it is: most for the systems whose creates cost the most next to their hits (ours).
   */
  readonly stormMaxMs: number
  /**
   * Milliseconds per slice: a group's systems take turns slice by slice (`rounds.ts`), each running its calls
   * for this long (longer for a slow system: see `TurnSpec.sliceMs`).
   */
  readonly sliceMs: number
  /**
   * Whether the first round's turns warm up longer (see `Workload.warmup`): the default; `pnpm bench --quick`
   * keeps a pool's worth in every round, its rates rough anyway, to stay short.
   */
  readonly longFirstWarmup?: boolean
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

/** Error for a run that cannot start or continue; its message says what to do. */
export class BenchError extends Error {
  override readonly name = 'BenchError'
}

/** Every system id, for `--systems` help. */
export const systemIds: readonly string[] = allSystems.map((system) => system.id)

/**
 * The systems of a run that take part in a workload: those that list it, or list none; the burst (the
 * in-process single flight's case) is for ours and the floors only, so that it adds little to a run.
 */
export function systemsFor(options: Pick<BenchOptions, 'systems'>, workload: WorkloadId): System[] {
  return options.systems
    .map(systemById)
    .filter((system) => !system.workloads || system.workloads.includes(workload))
    .filter((system) => workload !== 'burst' || system.kind !== 'peer')
}

/** The systems that some chosen workload runs, in `options.systems` order. */
export function runningSystems(options: Pick<BenchOptions, 'systems' | 'workloads'>): string[] {
  const running = new Set(
    options.workloads.flatMap((id) => systemsFor(options, id).map((system) => system.id)),
  )
  return options.systems.filter((id) => running.has(id))
}

/** Where the systems ran, for the reports: "1 process per system", or "2 processes for all". */
export function processesNote(options: Pick<BenchOptions, 'procs' | 'isolate'>): string {
  const processes = options.procs === 1 ? '1 process' : `${options.procs} processes`
  return options.isolate ? `${processes} per system` : `${processes} for all`
}

/**
 * Systems in one group (`groups.ts`): as many as Postgres has connections for at once (80 of its 100 for their
 * pools), 2 to {@link MAX_GROUP_SIZE}. 5 at the default pool of 16.
 */
export function groupSize(options: Pick<BenchOptions, 'pool' | 'procs'>): number {
  return Math.min(MAX_GROUP_SIZE, Math.max(2, Math.floor(80 / poolInAll(options))))
}

/** Each process's share of `value` (the pool, the calls in flight): split over the processes, rounded up. */
export function perProcess(value: number, options: Pick<BenchOptions, 'procs'>): number {
  return Math.max(1, Math.ceil(value / options.procs))
}

/** Connections one system's pools hold in all: each process's share of the pool, in every process. */
function poolInAll(options: Pick<BenchOptions, 'pool' | 'procs'>): number {
  return perProcess(options.pool, options) * options.procs
}

/** Postgres connections a run holds at most: a group's pools, one per child process, and the run's own 2. */
export function connectionsNeeded(options: Pick<BenchOptions, 'pool' | 'procs'>): number {
  return groupSize(options) * poolInAll(options) + options.procs + 2
}

/**
 * The groups of one workload's rounds, as system ids: each target's two systems in one group (a system some
 * targets share may take a turn in several groups of a round).
 */
export function groupsFor(
  options: Pick<BenchOptions, 'systems' | 'pool' | 'procs'>,
  workload: WorkloadId,
): string[][] {
  const ids = systemsFor(options, workload).map((system) => system.id)
  return turnGroups(ids, targetPairs(workload), groupSize(options))
}

/** Turns a run takes: every system of every workload once per round (a few in several groups of a round). */
export function totalTurns(
  options: Pick<BenchOptions, 'systems' | 'workloads' | 'rounds' | 'pool' | 'procs'>,
): number {
  return options.workloads.reduce(
    (sum, workload) => sum + groupsFor(options, workload).flat().length * options.rounds,
    0,
  )
}

/**
 * The cap of one turn of `workload`, in milliseconds (`Infinity`: every call): the miss storm's is the longer of
 * `stormMaxMs` and `maxMs`, so that a system runs its whole list where it can (see
 * {@link BenchOptions.stormMaxMs}); every other workload's list has the same mix in any prefix (the burst's
 * keys come one after another, the hits and the mixed load's fresh keys are spread evenly).
 */
export function turnMaxMs(options: Pick<BenchOptions, 'maxMs' | 'stormMaxMs'>, workload: WorkloadId): number {
  return workload === 'miss-storm' ? Math.max(options.maxMs, options.stormMaxMs) : options.maxMs
}

/**
 * Seconds a run should take: per turn, a guess from its calls and the system's kind (at most its time cap)
 * plus set-up, warm-up, tear-down and counting.
 */
export function estimateSeconds(options: Omit<BenchOptions, 'onTurn'>): number {
  let seconds = 3 // services
  // Child processes: each system's own (or the shared ones), a few started at once, about 1.5 s each here.
  const children = options.isolate
    ? runningSystems(options).length * options.procs
    : options.procs > 1
      ? options.procs
      : 0
  seconds += Math.ceil(children / 4) * 1.5
  for (const workload of options.workloads) {
    for (const id of groupsFor(options, workload).flat()) {
      const system = systemById(id)
      const calls =
        workload === 'miss-storm' || workload === 'burst'
          ? options.sizes.keys * options.sizes.callersPerKey
          : options.sizes.calls
      // Most turns end before the cap: ours and the floors run 15,000-40,000 calls/s on a quiet machine
      // here, the peers (ORMs) 2,000-15,000.
      const guess = calls / (system.kind === 'peer' ? 6_000 : 20_000)
      const cap = turnMaxMs(options, workload)
      const run = Number.isFinite(cap) ? Math.min(cap / 1000, guess) : guess
      const overhead = system.id === 'mikro-orm' ? 0.45 : system.id.startsWith('sequelize') ? 0.3 : 0.2
      seconds += options.rounds * (run + overhead)
    }
    seconds += 0.5 // tables
  }
  return seconds
}
