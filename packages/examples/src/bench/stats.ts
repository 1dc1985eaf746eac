/** From what the callers were told and what the table holds, to the numbers of one turn and of one cell. */
import type { SystemKind, WorkloadId } from './system.js'
import type { TurnResult } from './turn.js'

/** Correctness, counted against the table: per turn, or summed over a cell's rounds. */
interface Correctness {
  /** Rows beyond the first for any key this turn asked for. */
  readonly duplicates: number
  /** Callers told an id other than the key's first row (another caller's row, or no row). */
  readonly wrongIds: number
  /** Keys whose callers were told different ids. */
  readonly splitKeys: number
  /** `created: true` answers. */
  readonly createdFlags: number
  /** Keys this turn created (asked for, not seeded, with a row now). */
  readonly keysCreated: number
  /** Calls that failed. */
  readonly errors: number
  /** A few of their messages, for the report. */
  readonly errorSamples: readonly string[]
}

/** One turn of one system: speed, and correctness counted against the table. */
export interface TurnMeasure extends Correctness {
  readonly round: number
  /** The group of the round it ran in (`groups.ts`): its systems took their slices in turn. */
  readonly group: number
  /** Calls that finished (answered or failed). */
  readonly calls: number
  /** Calls the turn offered (a time cap may stop it earlier). */
  readonly planned: number
  readonly seconds: number
  /**
   * Finished calls per second, over the turn's slices: each from its first start to its last end in any
   * process.
   */
  readonly rate: number
  readonly p50Ms: number
  readonly p99Ms: number
  /** Client CPU (all processes) per finished call, in microseconds. */
  readonly cpuUsPerCall: number
  /** The processes that ran its calls (their pids): the system's own with `isolate` (see `BenchOptions`). */
  readonly pids: number[]
}

/** One system in one workload, over every round. */
export interface Cell extends Correctness {
  readonly workload: WorkloadId
  readonly systemId: string
  readonly name: string
  readonly kind: SystemKind
  readonly reportsCreated: boolean
  readonly turns: TurnMeasure[]
  /** Median calls/s over the rounds. */
  readonly rate: number
  /**
   * Median over the turns of (this rate / the workload's floor rate in the same round, and group where the
   * floor was in it: see {@link partnerTurn}).
   */
  readonly ratioToFloor: number | undefined
  readonly p50Ms: number
  readonly p99Ms: number
  readonly cpuUsPerCall: number
  /** Sums over the rounds (the correctness counts too). */
  readonly calls: number
}

/** The median (the upper one of an even count); NaN for none. */
function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

/** The `q` quantile (0–1) by the nearest-rank method; NaN for none. */
function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

/**
 * Measure one turn: `calls[i]` are the keys process `i` was given, `results[i]` what it reported, `rows` the
 * table's rows (slug, id) for every key the turn asked for, `seeded` the keys that existed before.
 */
export function measureTurn(
  round: number,
  group: number,
  calls: readonly (readonly string[])[],
  results: readonly TurnResult[],
  rows: readonly { slug: string; id: number }[],
  seeded: ReadonlySet<string>,
): TurnMeasure {
  const idsOfKey = new Map<string, number[]>()
  for (const { slug, id } of rows) idsOfKey.set(slug, [...(idsOfKey.get(slug) ?? []), Number(id)])
  const firstId = new Map([...idsOfKey].map(([slug, ids]) => [slug, Math.min(...ids)]))
  const told = new Map<string, Set<number>>()
  const asked = new Set<string>()
  let wrongIds = 0
  let createdFlags = 0
  let finished = 0
  let errors = 0
  const samples = new Set<string>()
  results.forEach((result, p) => {
    for (const [index, id, created] of result.outcomes) {
      const key = calls[p]![index]!
      asked.add(key)
      if (id !== firstId.get(key)) wrongIds++
      told.set(key, (told.get(key) ?? new Set()).add(id))
      createdFlags += created
    }
    finished += result.outcomes.length + result.errors
    errors += result.errors
    for (const sample of result.errorSamples) samples.add(sample)
  })
  let duplicates = 0
  for (const ids of idsOfKey.values()) duplicates += ids.length - 1
  let keysCreated = 0
  for (const key of idsOfKey.keys()) if (!seeded.has(key)) keysCreated++
  const latencies = results.flatMap((result) => result.latenciesUs)
  // The processes run each slice together: a slice lasts from its first start in any process to its last end.
  const slices = Math.max(0, ...results.map((result) => result.windows.length))
  let ms = 0
  for (let i = 0; i < slices; i++) {
    const windows = results.flatMap((result) => result.windows.slice(i, i + 1))
    ms += Math.max(...windows.map(([, end]) => end)) - Math.min(...windows.map(([start]) => start))
  }
  const seconds = ms / 1000
  const cpuUs = results.reduce((sum, result) => sum + result.cpuUs, 0)
  return {
    round,
    group,
    calls: finished,
    planned: calls.reduce((sum, list) => sum + list.length, 0),
    seconds,
    rate: finished / seconds,
    p50Ms: quantile(latencies, 0.5) / 1000,
    p99Ms: quantile(latencies, 0.99) / 1000,
    cpuUsPerCall: finished > 0 ? cpuUs / finished : Number.NaN,
    pids: results.map((result) => result.pid),
    duplicates,
    wrongIds,
    splitKeys: [...told.values()].filter((ids) => ids.size > 1).length,
    createdFlags,
    keysCreated,
    errors,
    errorSamples: [...samples].slice(0, 3),
  }
}

/**
 * The turn of `others` (another system's) to compare `turn` with: the one of the same round and group, whose
 * slices alternated with its own; else the first of the same round. Undefined when it did not run that round.
 */
export function partnerTurn(others: readonly TurnMeasure[], turn: TurnMeasure): TurnMeasure | undefined {
  return (
    others.find((other) => other.round === turn.round && other.group === turn.group) ??
    others.find((other) => other.round === turn.round)
  )
}

/** Aggregate the turns of one system in one workload; `floorTurns` are the workload floor's. */
export function aggregate(
  base: Pick<Cell, 'workload' | 'systemId' | 'name' | 'kind' | 'reportsCreated'>,
  turns: TurnMeasure[],
  floorTurns: readonly TurnMeasure[] | undefined,
): Cell {
  const sum = (pick: (turn: TurnMeasure) => number) => turns.reduce((total, turn) => total + pick(turn), 0)
  const ratios = turns.flatMap((turn) => {
    const floor = floorTurns && partnerTurn(floorTurns, turn)
    return floor ? [turn.rate / floor.rate] : []
  })
  return {
    ...base,
    turns,
    rate: median(turns.map((turn) => turn.rate)),
    ratioToFloor: ratios.length > 0 ? median(ratios) : undefined,
    p50Ms: median(turns.map((turn) => turn.p50Ms)),
    p99Ms: median(turns.map((turn) => turn.p99Ms)),
    cpuUsPerCall: median(turns.map((turn) => turn.cpuUsPerCall)),
    calls: sum((turn) => turn.calls),
    duplicates: sum((turn) => turn.duplicates),
    wrongIds: sum((turn) => turn.wrongIds),
    splitKeys: sum((turn) => turn.splitKeys),
    createdFlags: sum((turn) => turn.createdFlags),
    keysCreated: sum((turn) => turn.keysCreated),
    errors: sum((turn) => turn.errors),
    errorSamples: [...new Set(turns.flatMap((turn) => turn.errorSamples))].slice(0, 3),
  }
}
