/**
 * The race invariants, counted exactly (CONTRIBUTING.md, "Tests"): for every key, one row in the table, one
 * caller told `created: true`, and one id seen by every caller of it. Pure counting, no test runner: a test
 * asserts `expect(raceViolations(race)).toEqual([])`, and one that proves the race is real asserts the naive
 * code's violations are not empty.
 */

/** What one caller of a race saw. */
export interface RaceOutcome {
  /** The key it asked for (a composite key as one string, e.g. `tenant/slug`). */
  readonly key: string
  /** The id of the row it was given. */
  readonly id: unknown
  /** Whether it was told it created the row. */
  readonly created: boolean
}

/** A race to check: who asked for what, what each caller saw, and what the table holds. */
export interface Race {
  /** Every key the callers asked for. */
  readonly keys: readonly string[]
  /** One per caller that returned. */
  readonly outcomes: readonly RaceOutcome[]
  /** Rows per key, counted in the table itself (not from the outcomes). */
  readonly rowsByKey: ReadonlyMap<string, number>
  /** When given, every key must have exactly this many outcomes (no caller lost on the way). */
  readonly callersPerKey?: number
}

/** At most this many violations are described one by one; one more line counts the rest. */
const SHOWN = 10

/**
 * Every way `race` breaks the invariants, one line each (the first ten, then a count of the rest): a key with
 * other than one row, other than one `created: true`, more than one id (or none), other than
 * `callersPerKey` outcomes, and rows for keys nobody asked for. Empty when the race was settled right.
 */
export function raceViolations(race: Race): string[] {
  const ids = new Map<string, Set<unknown>>()
  const created = new Map<string, number>()
  const callers = new Map<string, number>()
  for (const outcome of race.outcomes) {
    const seen = ids.get(outcome.key) ?? new Set()
    seen.add(outcome.id)
    ids.set(outcome.key, seen)
    callers.set(outcome.key, (callers.get(outcome.key) ?? 0) + 1)
    if (outcome.created) created.set(outcome.key, (created.get(outcome.key) ?? 0) + 1)
  }
  const problems: string[] = []
  const asked = new Set(race.keys)
  for (const key of asked) {
    const rows = race.rowsByKey.get(key) ?? 0
    if (rows !== 1) problems.push(`${key}: ${rows} rows`)
    if ((created.get(key) ?? 0) !== 1) problems.push(`${key}: ${created.get(key) ?? 0} created:true`)
    if ((ids.get(key)?.size ?? 0) !== 1) problems.push(`${key}: ids ${[...(ids.get(key) ?? [])].join(',')}`)
    const calls = callers.get(key) ?? 0
    if (race.callersPerKey !== undefined && calls !== race.callersPerKey) {
      problems.push(`${key}: ${calls} outcomes, not ${race.callersPerKey}`)
    }
  }
  const extra = [...race.rowsByKey.keys()].filter((key) => !asked.has(key))
  if (extra.length > 0) problems.push(`rows for keys nobody asked for: ${extra.slice(0, 5).join(', ')}`)
  if (problems.length <= SHOWN) return problems
  return [...problems.slice(0, SHOWN), `… and ${problems.length - SHOWN} more`]
}

/** A caller of a race, with when its call started and ended (`performance.now()`). */
export interface TimedRaceOutcome extends RaceOutcome {
  /** When the call started (`performance.now()`). */
  readonly start: number
  /** When it returned (`performance.now()`). */
  readonly end: number
}

/**
 * The keys for which two callers were in flight at the same time: the keys the race really happened on (a
 * caller that starts after another one of its key ended only finds the row).
 */
export function contendedKeys(outcomes: readonly TimedRaceOutcome[]): Set<string> {
  const byKey = new Map<string, TimedRaceOutcome[]>()
  for (const outcome of outcomes) byKey.set(outcome.key, [...(byKey.get(outcome.key) ?? []), outcome])
  const contended = new Set<string>()
  for (const [key, calls] of byKey) {
    calls.sort((a, b) => a.start - b.start)
    let lastEnd = Number.NEGATIVE_INFINITY
    for (const call of calls) {
      if (call.start < lastEnd) {
        contended.add(key)
        break
      }
      lastEnd = Math.max(lastEnd, call.end)
    }
  }
  return contended
}
