/**
 * The fault schedule of a stress run: which faults, when (ms after `go`), on what. Seeded, so that a
 * failing run replays with `--seed`, and printed at the start.
 */
import { shuffle } from '@getorcreate/test-support'
import type { WorkerWindow } from './protocol.js'
import { seeded } from './workload.js'

/** What a fault does. */
type FaultKind =
  | 'pg-terminate'
  | 'statement-timeout'
  | 'mysql-kill'
  | 'redis-kill'
  | 'redis-stop'
  | 'redis-pause'
  | 'worker-stop'
  | 'link-cut'
  | 'slow-defaults'

/** One planned fault. */
export interface PlannedFault {
  readonly kind: FaultKind
  /** When it starts, ms after `go`. */
  readonly at: number
  /** How long it lasts (a SIGSTOP, a pause, a window; for a kill, until the restart). */
  readonly ms: number
  /** The Redis nodes (indexes) or the worker it hits, where it hits one. */
  readonly targets: readonly number[]
}

/** What the schedule depends on. */
export interface ScheduleInput {
  readonly seed: number
  readonly durationMs: number
  readonly procs: number
  readonly ttlMs: number
  /** Whether the lock tables (hence the Redis nodes) are in the run. */
  readonly redis: boolean
  readonly dialects: readonly string[]
  /** Whether the workers have network namespaces (hence links to cut). */
  readonly links: boolean
}

/** A round of faults per this much of the run (at least one round). */
const ROUND_MS = 90_000

/**
 * The faults of a run: rounds of every kind once (one round per 90 s), each round in a seeded order, all
 * spread over 10–85 % of its duration. `link-cut` (one worker's link down for 1.5 s) is in the rounds only
 * when the workers have namespaces: a seed replays the same schedule only on a run of the same kind.
 */
export function planFaults(input: ScheduleInput): PlannedFault[] {
  const random = seeded(input.seed)
  const kinds: FaultKind[] = ['slow-defaults']
  if (input.dialects.includes('pg')) kinds.push('pg-terminate', 'statement-timeout', 'pg-terminate')
  if (input.dialects.includes('mysql')) kinds.push('mysql-kill')
  if (input.redis) kinds.push('redis-kill', 'redis-stop', 'redis-pause', 'worker-stop')
  if (input.links) kinds.push('link-cut')
  const rounds = Math.max(1, Math.round(input.durationMs / ROUND_MS))
  const order = Array.from({ length: rounds }, (_, round) => shuffle([...kinds], input.seed + round)).flat()
  const span = input.durationMs * 0.75
  const step = span / order.length
  const node = () => Math.floor(random() * 5)
  return order.map((kind, i) => {
    const at = Math.round(input.durationMs * 0.1 + i * step + random() * step * 0.3)
    let targets: number[] = []
    if (kind === 'redis-kill') {
      const first = node()
      targets = [first, (first + 1 + Math.floor(random() * 4)) % 5]
    } else if (kind === 'redis-stop' || kind === 'redis-pause') targets = [node()]
    else if (kind === 'worker-stop' || kind === 'link-cut') targets = [Math.floor(random() * input.procs)]
    const ms = kind === 'worker-stop' ? input.ttlMs + 1_000 : kind === 'pg-terminate' ? 600 : 1_500
    return { kind, at, ms, targets }
  })
}

/** The windows the workers apply themselves (statement_timeout sessions, slow defaults). */
export function workerWindows(plan: readonly PlannedFault[]): WorkerWindow[] {
  return plan.flatMap((fault): WorkerWindow[] =>
    fault.kind === 'statement-timeout' || fault.kind === 'slow-defaults'
      ? [{ kind: fault.kind, start: fault.at, end: fault.at + fault.ms }]
      : [],
  )
}

/** The schedule on one line per fault, for the console and the report. */
export function describePlan(plan: readonly PlannedFault[]): string[] {
  return plan.map((fault) => {
    const on =
      fault.targets.length === 0
        ? ''
        : ` on ${fault.kind === 'worker-stop' || fault.kind === 'link-cut' ? 'worker' : 'node'} ${fault.targets.join(', ')}`
    return `+${(fault.at / 1000).toFixed(1)} s ${fault.kind}${on} for ${fault.ms} ms`
  })
}
