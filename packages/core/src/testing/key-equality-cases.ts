import type { GetOrCreateResult } from '../types.js'
import type { Suite } from './harness.js'
import { interleave, settleAll } from './race-cases.js'
import type { EqualKeys } from './types.js'

/** A printable spelling: strings quoted, Dates as ISO strings. */
function spell(value: unknown): string {
  if (value instanceof Date) return `Date(${value.toISOString()})`
  return typeof value === 'string' ? JSON.stringify(value) : String(value)
}

/**
 * The key-equality cases: for each of {@link StoreConformanceOptions.equalKeys}, callers with every spelling
 * of one key race (one row, one `created: true`, one id), then each spelling alone finds that row.
 */
export function registerKeyEqualityCases(suite: Suite, cases: readonly EqualKeys[]): void {
  const { test, expect, run, concurrency } = suite
  for (const { name, table, field, spellings } of cases) {
    const shown = spellings.map(spell).join(', ')
    test(`key equality, ${name}: ${concurrency} callers spelling one key ${shown} get one row`, async () => {
      expect(spellings.length >= 2, 'equalKeys needs two or more spellings').toBe(true)
      const { store, count, close } = await table()
      try {
        const tasks = interleave(
          Array.from(
            { length: Math.max(concurrency, spellings.length) },
            (_, caller) => async () => run(store, { [field]: spellings[caller % spellings.length] }),
          ),
        )
        const outcomes = await settleAll(tasks, concurrency)
        const failures = outcomes.flatMap((outcome) =>
          outcome.status === 'rejected' ? [String(outcome.reason)] : [],
        )
        expect(failures).toEqual([])
        const results = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []))
        expect(results.filter((result) => result.created).length).toBe(1)
        const ids = new Set(results.map((result) => String(result.row.id)))
        expect(ids.size).toBe(1)
        expect(await count()).toBe(1)
        // One caller at a time, each spelling: the same row, never a second one (a lock keyed by the
        // spelling, or a read that compares with the unrounded value, would create one on every call).
        for (const value of spellings) {
          const again: GetOrCreateResult<Record<string, unknown>> = await run(store, { [field]: value })
          expect(again.created, `getOrCreate with ${spell(value)} created a second row`).toBe(false)
          expect(String(again.row.id)).toBe([...ids][0])
        }
        // Every spelling in one turn (the constraint strategy reads them in one findMany where the store
        // has one): each finds that row, as the database compares them.
        const together = await Promise.all(spellings.map((value) => run(store, { [field]: value })))
        expect(together.map((result) => result.created)).toEqual(spellings.map(() => false))
        expect(new Set(together.map((result) => String(result.row.id)))).toEqual(ids)
        expect(await count()).toBe(1)
      } finally {
        await close?.()
      }
    })
  }
}
