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
