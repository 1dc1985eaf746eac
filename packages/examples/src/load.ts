/**
 * What a concurrent load left behind (every key asked for by several callers, many at once, run by
 * `runConcurrently` of @getorcreate/test-support), counted from the callers' side and from the table's.
 */
import type { RunResult } from '@getorcreate/test-support'

/** What a load left behind, counted from both sides. */
export interface LoadSummary {
  readonly calls: number
  readonly keys: number
  readonly rows: number
  /** Rows beyond the first for any key: each one is a duplicate the race created. */
  readonly duplicateRows: number
  readonly createdFlags: number
  /** Keys whose callers were told different ids. */
  readonly keysWithSeveralIds: number
  readonly errors: number
  readonly ms: number
}

/**
 * Summarise a load (the `calls`, one key each, and what running them returned) against the rows per key
 * counted in the table.
 */
export function summarize(
  calls: readonly string[],
  result: RunResult<{ readonly id: number; readonly created: boolean }>,
  keys: number,
  rowsPerKey: ReadonlyMap<string, number>,
): LoadSummary {
  const outcomes = calls.flatMap((key, index) => {
    const outcome = result.results[index]
    return outcome ? [{ key, ...outcome }] : []
  })
  const ids = new Map<string, Set<number>>()
  for (const { key, id } of outcomes) ids.set(key, (ids.get(key) ?? new Set()).add(id))
  const rows = [...rowsPerKey.values()].reduce((sum, n) => sum + n, 0)
  return {
    calls: outcomes.length + result.errors.length,
    keys,
    rows,
    duplicateRows: [...rowsPerKey.values()].reduce((sum, n) => sum + Math.max(0, n - 1), 0),
    createdFlags: outcomes.filter((outcome) => outcome.created).length,
    keysWithSeveralIds: [...ids.values()].filter((set) => set.size > 1).length,
    errors: result.errors.length,
    ms: result.ms,
  }
}
