/** The verdicts on a run: the speed targets, each measured, and whether a cell of ours was exact. */
import { type Cell, partnerTurn } from './stats.js'
import type { WorkloadId } from './system.js'

/** A target of the issue, measured. */
export interface Expectation {
  readonly label: string
  readonly measured: number | undefined
  readonly target: number
  /** `'≥'`: the ratio must reach the target; `'≤'`: it must not pass it (a cost ratio). */
  readonly comparison: '≥' | '≤'
  readonly met: boolean | undefined
}

/**
 * A target: `system` ÷ `versus` in `workload` (the median of the ratios of their rates in the same round) must
 * reach `goal`, or, with `atMost`, not pass it.
 */
interface Target {
  readonly label: string
  readonly workload: WorkloadId
  readonly system: string
  readonly versus: string
  /** The ratio to reach; a function of the callers per fresh key where the target depends on them. */
  readonly goal: number | ((callersPerKey: number) => number)
  readonly atMost?: boolean
}

const TARGETS: readonly Target[] = [
  {
    label: 'constraintStrategy hits ÷ floor SELECT',
    workload: 'hits',
    system: 'ours-constraint',
    versus: 'floor-select',
    goal: 0.95,
  },
  {
    // A read first costs 5 round trips per 4 callers of a fresh key against the floor's 4: about 0.8 is the
    // ceiling of any read-first get-or-create, and the target sits just under it.
    label: 'constraintStrategy miss storm ÷ floor INSERT',
    workload: 'miss-storm',
    system: 'ours-constraint',
    versus: 'floor-insert',
    goal: 0.78,
  },
  {
    label: "constraintStrategy miss storm ÷ Django's get_or_create",
    workload: 'miss-storm',
    system: 'ours-constraint',
    versus: 'django',
    goal: 1.3,
  },
  {
    label: 'constraintStrategy hits ÷ the same without single flight',
    workload: 'hits',
    system: 'ours-constraint',
    versus: 'ours-constraint-unshared',
    goal: 0.95,
  },
  {
    // What observing costs: the same strategy with a subscriber on its tracing channel (counting outcomes and
    // durations) ÷ with none. Without a subscriber nothing is made for the channel: the row above is that case.
    label: 'constraintStrategy hits, a diagnostics subscriber attached ÷ none',
    workload: 'hits',
    system: 'ours-constraint-observed',
    versus: 'ours-constraint',
    goal: 0.9,
  },
  {
    label: 'constraintStrategy miss storm, a diagnostics subscriber attached ÷ none',
    workload: 'miss-storm',
    system: 'ours-constraint-observed',
    versus: 'ours-constraint',
    goal: 0.9,
  },
  {
    label: 'constraintStrategy burst ÷ floor INSERT',
    workload: 'burst',
    system: 'ours-constraint',
    versus: 'floor-insert',
    goal: 1.5,
  },
  {
    // Not below the Redis-lock strategy on the mixed load: a read-first get-or-create with the index
    // arbitrating costs no more than one that takes a lock for its misses.
    label: 'constraintStrategy mixed ÷ redisLockStrategy (1 node) mixed',
    workload: 'mixed',
    system: 'ours-constraint',
    versus: 'ours-redis-lock',
    goal: 1,
  },
  {
    label: 'constraintStrategy miss storm ÷ Sequelize findOrCreate',
    workload: 'miss-storm',
    system: 'ours-constraint',
    versus: 'sequelize-findorcreate',
    goal: 5,
  },
  {
    label: 'advisoryLockStrategy hits ÷ floor SELECT',
    workload: 'hits',
    system: 'ours-advisory-lock',
    versus: 'floor-select',
    goal: 0.95,
  },
  {
    label: 'advisoryLockStrategy miss storm ÷ advisory lock + find-then-insert on every call',
    workload: 'miss-storm',
    system: 'ours-advisory-lock',
    versus: 'advisory-lock',
    goal: 1.5,
  },
  {
    label: 'redisLockStrategy (1 node) hits ÷ floor SELECT',
    workload: 'hits',
    system: 'ours-redis-lock',
    versus: 'floor-select',
    goal: 0.85,
  },
  {
    label: 'redisLockStrategy (3 nodes) hits ÷ floor SELECT',
    workload: 'hits',
    system: 'ours-redis-lock-3',
    versus: 'floor-select',
    goal: 0.85,
  },
  {
    // 1.3× at 4 callers per key, 1.5× at 8 or more (`--callers 8`): the more callers share a key, the more
    // calls find its row without a lock.
    label: 'redisLockStrategy (1 node) miss storm ÷ Redis lock around every call',
    workload: 'miss-storm',
    system: 'ours-redis-lock',
    versus: 'redis-mutex',
    goal: (callersPerKey) => (callersPerKey >= 8 ? 1.5 : 1.3),
  },
  {
    label: 'redisLockStrategy (3 nodes) miss storm ÷ Redlock around every call, 3 nodes',
    workload: 'miss-storm',
    system: 'ours-redis-lock-3',
    versus: 'redis-redlock-3',
    goal: 1.5,
  },
  // The cost of fencing, as costs: the unfenced rate ÷ the fenced one is what a fenced call costs ÷ an
  // unfenced one. The miss storm's creates pay the fence (a Redis round, the fence row in the statement); a hit
  // runs the same one read on both stores, so it must cost the same (10 % for the noise between two turns).
  {
    label: 'redisLockStrategy (1 node) miss storm: fenced cost ÷ unfenced (unfenced rate ÷ fenced)',
    workload: 'miss-storm',
    system: 'ours-redis-lock',
    versus: 'ours-redis-lock-fenced',
    goal: 1.3,
    atMost: true,
  },
  {
    label: 'redisLockStrategy (3 nodes) miss storm: fenced cost ÷ unfenced (unfenced rate ÷ fenced)',
    workload: 'miss-storm',
    system: 'ours-redis-lock-3',
    versus: 'ours-redis-lock-3-fenced',
    goal: 1.3,
    atMost: true,
  },
  {
    label: 'redisLockStrategy (1 node) hits: fenced cost ÷ unfenced (unfenced rate ÷ fenced)',
    workload: 'hits',
    system: 'ours-redis-lock',
    versus: 'ours-redis-lock-fenced',
    goal: 1.1,
    atMost: true,
  },
  {
    label: 'redisLockStrategy (3 nodes) hits: fenced cost ÷ unfenced (unfenced rate ÷ fenced)',
    workload: 'hits',
    system: 'ours-redis-lock-3',
    versus: 'ours-redis-lock-3-fenced',
    goal: 1.1,
    atMost: true,
  },
]

/**
 * The median over `a`'s turns of its rate ÷ `b`'s in the same round (and group: see `partnerTurn`); undefined
 * when either did not run.
 */
function pairedRatio(cells: readonly Cell[], workload: WorkloadId, a: string, b: string): number | undefined {
  const cell = (systemId: string) =>
    cells.find((candidate) => candidate.workload === workload && candidate.systemId === systemId)
  const left = cell(a)
  const right = cell(b)
  if (!left || !right) return undefined
  const ratios = left.turns.flatMap((turn) => {
    const other = partnerTurn(right.turns, turn)
    return other ? [turn.rate / other.rate] : []
  })
  return ratios.length > 0 ? [...ratios].sort((x, y) => x - y)[Math.floor(ratios.length / 2)] : undefined
}

/** The two systems of each target of `workload` (`groups.ts` puts each pair in one group). */
export function targetPairs(workload: WorkloadId): [string, string][] {
  return TARGETS.filter((target) => target.workload === workload).map((target) => [
    target.system,
    target.versus,
  ])
}

/**
 * Every target, measured on `cells` (not measured where a system of its pair did not run), for a run with
 * `callersPerKey` callers per fresh key.
 */
export function expectations(cells: readonly Cell[], callersPerKey: number): Expectation[] {
  return TARGETS.map(({ label, workload, system, versus, goal, atMost = false }) => {
    const measured = pairedRatio(cells, workload, system, versus)
    const target = typeof goal === 'function' ? goal(callersPerKey) : goal
    const met = measured === undefined ? undefined : atMost ? measured <= target : measured >= target
    return { label, measured, target, comparison: atMost ? '≤' : '≥', met }
  })
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
