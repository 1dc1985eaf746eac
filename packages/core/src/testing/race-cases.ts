import { codeOf, rejection, type Suite } from './harness.js'
import type { ConformanceTable } from './types.js'

/** Run `tasks` with at most `limit` in flight; every outcome, in task order. */
export async function settleAll<T>(
  tasks: readonly (() => Promise<T>)[],
  limit: number,
): Promise<PromiseSettledResult<T>[]> {
  const outcomes: PromiseSettledResult<T>[] = new Array(tasks.length)
  let next = 0
  const worker = async () => {
    while (next < tasks.length) {
      const index = next++
      try {
        outcomes[index] = { status: 'fulfilled', value: await tasks[index]!() }
      } catch (reason) {
        outcomes[index] = { status: 'rejected', reason }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker))
  return outcomes
}

/** A fixed interleaving of tasks, so a failing order can be replayed. */
export function interleave<T>(items: T[]): T[] {
  let state = 0x9e3779b9
  for (let i = items.length - 1; i > 0; i--) {
    state = (state * 1664525 + 1013904223) >>> 0
    const j = state % (i + 1)
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
  return items
}

/** `concurrency` callers for each of three keys at once: one row, one `created: true`, one id per key. */
async function raceOn(
  { expect, run, concurrency }: Suite,
  { store, count }: ConformanceTable,
): Promise<void> {
  const keys = ['r1', 'r2', 'r3']
  const tasks = interleave(
    keys.flatMap((slug) =>
      Array.from({ length: concurrency }, (_, caller) => async () => ({
        slug,
        outcome: await run(store, { slug }, { title: `caller ${caller}` }),
      })),
    ),
  )
  const outcomes = await settleAll(tasks, concurrency)
  const failures = outcomes.filter((outcome) => outcome.status === 'rejected')
  expect(failures.map((failure) => String((failure as PromiseRejectedResult).reason))).toEqual([])
  for (const slug of keys) {
    const results = outcomes.flatMap((outcome) =>
      outcome.status === 'fulfilled' && outcome.value.slug === slug ? [outcome.value.outcome] : [],
    )
    expect(results.length).toBe(concurrency)
    expect(results.filter((result) => result.created).length).toBe(1)
    expect(new Set(results.map((result) => String(result.row.id))).size).toBe(1)
    expect(await count({ slug })).toBe(1)
  }
  expect(await count()).toBe(keys.length)
}

/**
 * The race invariants, and what keeps them without a unique index: with the constraint strategy, a refusal
 * that writes nothing; with a lock strategy, the same race on a table without one.
 */
export function registerRaceCases(suite: Suite): void {
  const { test, expect, withTable, run, concurrency } = suite

  test(`race: ${concurrency} callers at once per key, one row, one created, one id per key`, async () => {
    await withTable('unique', (table) => raceOn(suite, table))
  })

  if (suite.enforcedBy === 'strategy') {
    test(`without a unique index the strategy keeps one row per key: ${concurrency} callers per key`, async () => {
      await withTable('no-unique', (table) => raceOn(suite, table))
    })
    return
  }

  test('no unique index on the key: MissingUniqueConstraintError, nothing written', async () => {
    await withTable('no-unique', async ({ store, count }) => {
      const error = await rejection(run(store, { slug: 'a' }, { title: 'A' }))
      expect(codeOf(error)).toBe('MISSING_UNIQUE_CONSTRAINT')
      expect((error as { columns?: unknown }).columns).toEqual(['slug'])
      expect((error as { fields?: unknown }).fields).toEqual(['slug'])
      expect(await count()).toBe(0)
    })
    await withTable('composite', async ({ store, count }) => {
      // An index on (prefix, slug) does not make slug alone unique, nor does it cover (prefix, slug, title).
      expect(codeOf(await rejection(run(store, { slug: 'a' }, { prefix: 'x' })))).toBe(
        'MISSING_UNIQUE_CONSTRAINT',
      )
      expect(codeOf(await rejection(run(store, { prefix: 'x', slug: 'a', title: 't' })))).toBe(
        'MISSING_UNIQUE_CONSTRAINT',
      )
      expect(await count()).toBe(0)
    })
  })
}
