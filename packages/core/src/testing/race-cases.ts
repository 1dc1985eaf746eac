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

/**
 * A race on each of three keys, one key after another: `concurrency` callers of the key, all started at once
 * (none waits for a slot, so all of them are in flight together: the case asserts it), each with defaults of
 * its own. Each key: no call fails, `concurrency` answers, exactly one `created: true`, one id for every
 * caller, every caller given the creator's row (its defaults), one row in the table; then exactly three rows.
 * The keys race one after another, so that every caller of a key can hold a connection of a pool as large as
 * `concurrency` (the `concurrency` option: make the pool at least that large) at the same time.
 */
async function raceOn(
  { expect, run, concurrency }: Suite,
  { store, count }: ConformanceTable,
): Promise<void> {
  const keys = ['r1', 'r2', 'r3']
  for (const slug of keys) {
    let inFlight = 0
    let peak = 0
    const outcomes = await Promise.allSettled(
      Array.from({ length: concurrency }, async (_, caller) => {
        inFlight++
        peak = Math.max(peak, inFlight)
        try {
          return { caller, outcome: await run(store, { slug }, { title: `caller ${caller}` }) }
        } finally {
          inFlight--
        }
      }),
    )
    expect(peak, `callers of ${slug} in flight at once`).toBe(concurrency)
    const failures = outcomes.flatMap((outcome) =>
      outcome.status === 'rejected' ? [String(outcome.reason)] : [],
    )
    expect(failures, `calls for ${slug} that failed`).toEqual([])
    const results = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []))
    expect(results.length, `answers for ${slug}`).toBe(concurrency)
    const creators = results.filter(({ outcome }) => outcome.created)
    expect(creators.length, `created: true for ${slug}`).toBe(1)
    expect(new Set(results.map(({ outcome }) => String(outcome.row.id))).size, `ids for ${slug}`).toBe(1)
    const creatorsTitle = `caller ${creators[0]?.caller}`
    expect(
      results.filter(({ outcome }) => outcome.row.slug !== slug || outcome.row.title !== creatorsTitle)
        .length,
      `callers of ${slug} given another row than the one its creator made (title '${creatorsTitle}')`,
    ).toBe(0)
    expect(await count({ slug }), `rows for ${slug}`).toBe(1)
  }
  expect(await count(), 'rows in the table').toBe(keys.length)
}

/**
 * The race invariants, and what keeps them without a unique index: with the constraint strategy, a refusal
 * that writes nothing; with a lock strategy, the same race on a table without one.
 */
export function registerRaceCases(suite: Suite): void {
  const { test, expect, withTable, run, concurrency } = suite

  test(`race: ${concurrency} callers at once per key, 3 keys in turn: one row, one created, one id per key`, async () => {
    await withTable('unique', (table) => raceOn(suite, table))
  })

  if (suite.enforcedBy === 'strategy') {
    test(`without a unique index the strategy keeps one row per key: ${concurrency} callers at once per key, 3 keys in turn`, async () => {
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
