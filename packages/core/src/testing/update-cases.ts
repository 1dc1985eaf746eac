import { codeOf, rejection, type Suite } from './harness.js'
import { settleAll } from './race-cases.js'

/**
 * The cases of {@link Store.update} and `updateOrCreate` over it, for a store that lists `'update'`: a create
 * and then an update, `values` as a function, a key field changed by `values` refused before any I/O, and
 * callers racing to update or create the same keys with different values.
 */
export function registerUpdateCases(suite: Suite): void {
  if (!suite.has('update')) return
  const { test, expect, withTable, runUpdate, declared, concurrency } = suite
  const table = suite.enforcedBy === 'strategy' ? 'no-unique' : 'unique'

  test('updateOrCreate: creates with createDefaults, values and the key; then updates with values alone', async () => {
    await withTable(table, async ({ store, count }) => {
      const update = declared(store.update, 'update')
      expect(await update.call(store, { slug: 'none' }, { title: 'x' })).toBe(undefined)
      const seen: unknown[] = []
      const values = (current: Record<string, unknown> | undefined) => {
        seen.push(current === undefined ? undefined : current.title)
        return { title: current === undefined ? 'first' : `${String(current.title)} again` }
      }
      const created = await runUpdate(store, { slug: 'u' }, values, { email: 'made@example.com' })
      expect([created.created, created.row.slug, created.row.title, created.row.email]).toEqual([
        true,
        'u',
        'first',
        'made@example.com',
      ])
      const updated = await runUpdate(store, { slug: 'u' }, values, { email: 'other@example.com' })
      // createDefaults are for a create only; the same row, updated.
      expect([updated.created, updated.row.title, updated.row.email]).toEqual([
        false,
        'first again',
        'made@example.com',
      ])
      expect(String(updated.row.id)).toBe(String(created.row.id))
      expect(seen).toEqual([undefined, 'first'])
      const plain = await runUpdate(store, { slug: 'u' }, { title: 'plain' })
      expect([plain.created, plain.row.title]).toEqual([false, 'plain'])
      expect(await store.find({ slug: 'u' }, { fresh: true })).toEqual(plain.row)
      expect(await count()).toBe(1)
    })
  })

  test('updateOrCreate: values that give a key field another value are refused before any I/O', async () => {
    await withTable(table, async ({ store, count }, counter) => {
      const before = counter.total()
      const error = await rejection(runUpdate(store, { slug: 'k' }, { slug: 'other', title: 't' }))
      expect(codeOf(error)).toBe('CONFLICTING_DEFAULTS')
      expect(String((error as Error).message).startsWith('values ')).toBe(true)
      expect(counter.total()).toBe(before)
      // A function's result is checked when it is called: nothing is written either.
      const late = await rejection(runUpdate(store, { slug: 'k' }, () => ({ slug: 'other' })))
      expect(codeOf(late)).toBe('CONFLICTING_DEFAULTS')
      expect(await count()).toBe(0)
    })
  })

  test(`updateOrCreate: callers racing to update or create 6 keys with different values (${concurrency} at once): one row and one created per key, every row one call's values`, async () => {
    await withTable(table, async ({ store, count }) => {
      const keys = Array.from({ length: 6 }, (_, i) => `r${i}`)
      const calls = keys.flatMap((slug) =>
        Array.from({ length: 5 }, (_, caller) => ({ slug, title: `${slug}-caller-${caller}` })),
      )
      const outcomes = await settleAll(
        calls.map(({ slug, title }) => async () => ({
          slug,
          title,
          result: await runUpdate(store, { slug }, { title }),
        })),
        concurrency,
      )
      const failures = outcomes.filter((outcome) => outcome.status === 'rejected')
      expect(failures.map((failure) => String((failure as PromiseRejectedResult).reason))).toEqual([])
      const done = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []))
      for (const slug of keys) {
        const mine = done.filter((outcome) => outcome.slug === slug)
        expect(mine.filter((outcome) => outcome.result.created).length).toBe(1)
        expect(new Set(mine.map((outcome) => String(outcome.result.row.id))).size).toBe(1)
        // Each call's row holds the values of one call of its key (its own, or a later writer's).
        const titles = new Set(calls.filter((call) => call.slug === slug).map((call) => call.title))
        for (const outcome of mine) expect(titles.has(String(outcome.result.row.title))).toBe(true)
        expect(await count({ slug })).toBe(1)
        // Every caller but the creator updated after the create, so the last write is an update: an update
        // that wrote nothing would leave the creator's title.
        const final = await store.find({ slug }, { fresh: true })
        const creator = mine.find((outcome) => outcome.result.created)
        expect(titles.has(String(final?.title))).toBe(true)
        expect(final?.title === creator?.title).toBe(false)
      }
      expect(await count()).toBe(keys.length)
    })
  })
}
