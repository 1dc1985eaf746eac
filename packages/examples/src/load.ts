/** A concurrent load: every key asked for by several callers, in a shuffled order, many at once. */

/** One caller's view of its call. */
export interface Outcome {
  readonly key: string
  readonly id: number
  readonly created: boolean
}

/** What a load produced, counted from the callers' side. */
export interface LoadResult {
  readonly outcomes: Outcome[]
  readonly errors: unknown[]
  readonly ms: number
}

/** The order in which callers ask for keys: `callersPerKey` calls per key, shuffled deterministically. */
export function shuffledCalls(keys: readonly string[], callersPerKey: number, seed = 7): string[] {
  const calls = keys.flatMap((key) => Array.from({ length: callersPerKey }, () => key))
  let state = seed >>> 0
  for (let i = calls.length - 1; i > 0; i--) {
    state = (state * 1664525 + 1013904223) >>> 0
    const j = Math.floor((state / 2 ** 32) * (i + 1))
    ;[calls[i], calls[j]] = [calls[j]!, calls[i]!]
  }
  return calls
}

/** Run `call` once per entry of `calls`, at most `concurrency` at once. Errors are collected, not thrown. */
export async function runLoad(
  calls: readonly string[],
  concurrency: number,
  call: (key: string) => Promise<{ id: number; created: boolean }>,
): Promise<LoadResult> {
  const outcomes: Outcome[] = []
  const errors: unknown[] = []
  let next = 0
  const started = performance.now()
  const worker = async () => {
    while (next < calls.length) {
      const key = calls[next++]!
      try {
        const { id, created } = await call(key)
        outcomes.push({ key, id, created })
      } catch (error) {
        errors.push(error)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, calls.length) }, worker))
  return { outcomes, errors, ms: performance.now() - started }
}

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

/** Summarise a load against the rows per key counted in the table. */
export function summarize(
  result: LoadResult,
  keys: number,
  rowsPerKey: ReadonlyMap<string, number>,
): LoadSummary {
  const ids = new Map<string, Set<number>>()
  for (const { key, id } of result.outcomes) ids.set(key, (ids.get(key) ?? new Set()).add(id))
  const rows = [...rowsPerKey.values()].reduce((sum, n) => sum + n, 0)
  return {
    calls: result.outcomes.length + result.errors.length,
    keys,
    rows,
    duplicateRows: [...rowsPerKey.values()].reduce((sum, n) => sum + Math.max(0, n - 1), 0),
    createdFlags: result.outcomes.filter((outcome) => outcome.created).length,
    keysWithSeveralIds: [...ids.values()].filter((set) => set.size > 1).length,
    errors: result.errors.length,
    ms: result.ms,
  }
}
