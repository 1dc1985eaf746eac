/**
 * The stress run's checker: pure over a {@link History}, no I/O. Per key, the rows in the table (1; 0 or 1 in
 * the deleted range), one `created: true` per created row, one id for every caller; every error one of the
 * library's codes, or a raw driver error while an injected fault hit its service (every worker's calls on it,
 * `pg`; or one worker's calls, all of them, `worker:2`, or those on one service, `worker:2:pg`, as a cut of that
 * worker's link does); no unhandled rejection; no
 * call slower than its bound (a hang) unless its own worker was stopped; RSS growth per worker under a bound.
 */
import type { ErrorEvent, FaultWindow, History, KeyRecord, TableHistory } from './history.js'

/** How much a worker's RSS may grow between the end of its warm-up and the end of the run. */
export const RSS_GROWTH_LIMIT_MB = 50

/** What the checker counted, over all tables. */
interface VerdictCounts {
  /** Calls that returned a row, and calls that threw. */
  calls: number
  errors: number
  keys: number
  /** Keys with more than one row. */
  duplicates: number
  /** Keys some caller got a row for that have no row in the table. */
  missingRows: number
  /** Keys with a wrong number of `created: true` (more than one, or none for a row nobody saw fail). */
  wrongCreated: number
  /** Keys whose callers got different ids. */
  splitIds: number
  /** Keys with rows that no caller asked for. */
  strayRows: number
  /** Errors that are neither ours nor raw ones inside a fault window on their service. */
  untypedErrors: number
  hangs: number
  unhandled: number
}

/** The checker's verdict. */
export interface Verdict {
  readonly ok: boolean
  readonly counts: VerdictCounts
  /** Errors per kind (a code, or `raw:<what>`): in all, and how many fell outside every fault window. */
  readonly errorsByKind: Readonly<Record<string, ErrorKindCount>>
  /** Per fault (by index in `history.faults`, then `none`): errors per kind during its window. */
  readonly errorsPerFault: Readonly<Record<string, Readonly<Record<string, number>>>>
  /** Per table: calls that returned a row, and calls that threw. */
  readonly perTable: Readonly<Record<string, { calls: number; errors: number }>>
  /** Per worker: RSS growth in MB after warm-up (`null` when too few samples to tell). */
  readonly rssGrowthMb: readonly (number | null)[]
  /** The first violations, one line each. */
  readonly violations: readonly string[]
}

const SHOWN = 25

function overlaps(fault: FaultWindow, start: number, end: number): boolean {
  return start <= fault.end && end >= fault.start
}

/** The faults that may explain a raw error of `event` on a table on `services`. */
/** How many calls failed with one kind of error, and the first of them, to tell what it was. */
interface ErrorKindCount {
  total: number
  outsideFaults: number
  /** The first such error's table, driver and message. */
  readonly first: string
}

/** An error's table, driver and message, as the report shows it. */
function describeError(event: ErrorEvent): string {
  return `${event.table}${event.via === undefined ? '' : ` via ${event.via}`}: ${event.message}`
}

/**
 * Where an error ran and for how long, and the last fault that ended before it began (on any service): what
 * tells a pool's wait (a call that took its timeout) from an instant refusal, and a fault's long tail.
 */
function whereAndWhen(event: ErrorEvent, faults: readonly FaultWindow[]): string {
  const via = event.via === undefined ? '' : ` via ${event.via}`
  const before = faults.filter((fault) => fault.end <= event.start).sort((a, b) => b.end - a.end)[0]
  const detail = before?.detail ? ` (${before.detail})` : ''
  const last = before ? `, ${event.start - before.end} ms after ${before.kind}${detail} ended` : ''
  return `worker ${event.worker}${via}, took ${event.end - event.start} ms${last}`
}

function faultsOf(faults: readonly FaultWindow[], event: ErrorEvent, services: readonly string[]): number[] {
  const hit: number[] = []
  faults.forEach((fault, i) => {
    const worker = `worker:${event.worker}`
    const relevant = fault.affects.some(
      (what) =>
        services.includes(what) ||
        what === worker ||
        services.some((service) => what === `${worker}:${service}`) ||
        what === 'all',
    )
    if (relevant && overlaps(fault, event.start, event.end)) hit.push(i)
  })
  return hit
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}

/**
 * Samples (one a second) during which a worker's heap is still finding its level: under the stress load, V8
 * grows a worker's heap for its first 25–35 s before a major collection sets it (measured in `--quick` runs:
 * RSS 150 → 205–230 MB, then flat or down), which is growth, not a leak.
 */
const SETTLING_SAMPLES = 30

/**
 * RSS growth in MB: the last samples' median minus the median of a tenth of the run from its warm-up's end,
 * at 20 % of the run, or once the heap has settled ({@link SETTLING_SAMPLES}) if later, but by half the run.
 */
function rssGrowthMb(samples: readonly number[]): number | null {
  if (samples.length < 10) return null
  const n = samples.length
  const from = Math.max(Math.floor(n * 0.2), Math.min(SETTLING_SAMPLES, Math.floor(n * 0.5)))
  const warm = samples.slice(from, Math.max(from + Math.floor(n * 0.1), from + 1))
  const last = samples.slice(Math.max(0, n - 5))
  return Math.round(((median(last) - median(warm)) / 2 ** 20) * 10) / 10
}

function checkKey(
  table: TableHistory,
  key: string,
  record: KeyRecord,
  counts: VerdictCounts,
  say: (line: string) => void,
): void {
  const rows = table.rows.get(key) ?? 0
  const where = `${table.name} ${key}`
  if (rows > 1) {
    counts.duplicates += 1
    say(`${where}: ${rows} rows`)
  }
  if (table.deleted(key)) return
  if (record.calls > 0 && rows === 0) {
    counts.missingRows += 1
    say(`${where}: ${record.calls} callers got a row, the table has none`)
  }
  if (record.ids.length > 1) {
    counts.splitIds += 1
    say(`${where}: callers got ids ${record.ids.join(', ')}`)
  }
  // A call that failed may have committed its row before its connection died: then nobody is told
  // `created: true` for it. Never more than one.
  const createdOk = record.created === 1 || record.calls === 0 || (record.created === 0 && record.errors > 0)
  if (!createdOk) {
    counts.wrongCreated += 1
    say(`${where}: ${record.created} callers told created:true`)
  }
}

/** Judge `history`: see the module's comment for the rules. */
export function check(history: History): Verdict {
  const counts: VerdictCounts = {
    calls: 0,
    errors: 0,
    keys: 0,
    duplicates: 0,
    missingRows: 0,
    wrongCreated: 0,
    splitIds: 0,
    strayRows: 0,
    untypedErrors: 0,
    hangs: 0,
    unhandled: 0,
  }
  const violations: string[] = []
  let hidden = 0
  const say = (line: string) => {
    if (violations.length < SHOWN) violations.push(line)
    else hidden += 1
  }
  const servicesOf = new Map(history.tables.map((table) => [table.name, table.services]))
  const perTable: Record<string, { calls: number; errors: number }> = {}
  for (const table of history.tables) {
    const mine = { calls: 0, errors: 0 }
    perTable[table.name] = mine
    for (const [key, record] of table.keys) {
      counts.keys += 1
      counts.calls += record.calls
      mine.calls += record.calls
      mine.errors += record.errors
      checkKey(table, key, record, counts, say)
    }
    for (const [key, rows] of table.rows) {
      if (rows > 0 && !table.keys.has(key)) {
        counts.strayRows += 1
        say(`${table.name} ${key}: ${rows} rows nobody asked for`)
      }
    }
  }
  const errorsByKind: Record<string, ErrorKindCount> = {}
  const errorsPerFault: Record<string, Record<string, number>> = {}
  for (const event of history.errors) {
    counts.errors += 1
    const services = servicesOf.get(event.table) ?? []
    const during = faultsOf(history.faults, event, services)
    const entry = errorsByKind[event.kind] ?? { total: 0, outsideFaults: 0, first: describeError(event) }
    entry.total += 1
    if (during.length === 0) entry.outsideFaults += 1
    errorsByKind[event.kind] = entry
    const bucket = during.length === 0 ? 'none' : String(during[0])
    const perFault = errorsPerFault[bucket] ?? {}
    perFault[event.kind] = (perFault[event.kind] ?? 0) + 1
    errorsPerFault[bucket] = perFault
    if (event.kind.startsWith('raw:') && during.length === 0) {
      counts.untypedErrors += 1
      say(
        `${event.table} ${event.key}: ${event.kind} outside any fault: ${event.message} (${whereAndWhen(event, history.faults)})`,
      )
    }
  }
  for (const call of history.slow) {
    const stopped = history.faults.some(
      (fault) =>
        fault.affects.includes(`worker:${call.worker}`) &&
        overlaps(fault, call.start, call.end ?? call.start),
    )
    if (stopped && call.end !== undefined) continue
    counts.hangs += 1
    const took = call.end === undefined ? 'never ended' : `took ${call.end - call.start} ms`
    const via = call.via === undefined ? '' : `, via ${call.via}`
    say(`${call.table} ${call.key}: hang, ${took} (bound ${call.boundMs} ms, worker ${call.worker}${via})`)
  }
  for (const message of history.unhandled) {
    counts.unhandled += 1
    say(`unhandled: ${message}`)
  }
  const growth = history.rss.map(rssGrowthMb)
  growth.forEach((mb, worker) => {
    if (mb !== null && mb > RSS_GROWTH_LIMIT_MB) say(`worker ${worker}: RSS grew ${mb} MB`)
  })
  if (hidden > 0) violations.push(`… and ${hidden} more`)
  return {
    ok: violations.length === 0,
    counts,
    errorsByKind,
    errorsPerFault,
    perTable,
    rssGrowthMb: growth,
    violations,
  }
}
