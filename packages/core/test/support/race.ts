import { expect } from 'vitest'

/** What one caller of a race saw. */
export interface RaceOutcome {
  readonly key: string
  readonly id: unknown
  readonly created: boolean
}

/**
 * The race invariants, counted exactly: for every key, one row in the table, one caller with `created: true`,
 * and one id seen by every caller. `rowsByKey` is counted from the table itself.
 */
export function assertRaceInvariants(
  outcomes: readonly RaceOutcome[],
  rowsByKey: ReadonlyMap<string, number>,
  keys: readonly string[],
): void {
  const ids = new Map<string, Set<unknown>>()
  const created = new Map<string, number>()
  for (const outcome of outcomes) {
    const seen = ids.get(outcome.key) ?? new Set()
    seen.add(outcome.id)
    ids.set(outcome.key, seen)
    if (outcome.created) created.set(outcome.key, (created.get(outcome.key) ?? 0) + 1)
  }
  const problems: string[] = []
  for (const key of keys) {
    if ((rowsByKey.get(key) ?? 0) !== 1) problems.push(`${key}: ${rowsByKey.get(key) ?? 0} rows`)
    if ((created.get(key) ?? 0) !== 1) problems.push(`${key}: ${created.get(key) ?? 0} created:true`)
    if ((ids.get(key)?.size ?? 0) !== 1) problems.push(`${key}: ids ${[...(ids.get(key) ?? [])].join(',')}`)
  }
  const extra = [...rowsByKey.keys()].filter((key) => !keys.includes(key))
  if (extra.length > 0) problems.push(`rows for keys nobody asked for: ${extra.slice(0, 5).join(', ')}`)
  expect(problems.slice(0, 10)).toEqual([])
}

/** A caller of a race, with when its call started and ended (`performance.now()`). */
export interface TimedRaceOutcome extends RaceOutcome {
  readonly start: number
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
