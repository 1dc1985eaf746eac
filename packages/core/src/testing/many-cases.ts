import { codeOf, rejection, type Suite } from './harness.js'
import { interleave, settleAll } from './race-cases.js'

/**
 * The cases of `getOrCreateMany`, on every store: results in input order, repeated keys settled once, lazy
 * defaults called only for the keys created, invalid items refused before any I/O, and overlapping batches
 * racing single calls.
 */
export function registerManyCases(suite: Suite): void {
  const { test, expect, withTable, run, runMany, concurrency } = suite
  const table = suite.enforcedBy === 'strategy' ? 'no-unique' : 'unique'

  test('getOrCreateMany: one result per item in input order; a repeated key settled once; defaults only for creates', async () => {
    await withTable(table, async ({ store, count }, counter) => {
      await run(store, { slug: 'old' }, { title: 'Old' })
      const singleInserts = counter.calls.insertIfAbsentAtomically
      const called: string[] = []
      const lazy = (slug: string) => () => {
        called.push(slug)
        return { title: slug.toUpperCase() }
      }
      const results = await runMany(store, [
        { key: { slug: 'new-1' }, defaults: lazy('new-1') },
        { key: { slug: 'old' }, defaults: lazy('old') },
        { key: { slug: 'new-2' }, defaults: { title: 'N2' } },
        { key: { slug: 'new-1' }, defaults: lazy('new-1 again') },
        { key: { slug: 'old' } },
      ])
      expect(results.map((result) => [result.row.slug, result.created])).toEqual([
        ['new-1', true],
        ['old', false],
        ['new-2', true],
        ['new-1', false],
        ['old', false],
      ])
      expect(results.map((result) => result.row.title)).toEqual(['NEW-1', 'Old', 'N2', 'NEW-1', 'Old'])
      expect(String(results[3]?.row.id)).toBe(String(results[0]?.row.id))
      expect(results[3]?.row === results[0]?.row).toBe(false) // each item its own copy of the row
      expect(called).toEqual(['new-1']) // never for a hit, nor for a repeated key
      expect(await count()).toBe(3)
      if (store.findMany && store.insertManyIfAbsentAtomically && suite.enforcedBy === 'index') {
        // A store that batches, under the constraint strategy: one read of every key, one insert (its read
        // back inside), and no key settled alone; with findOrInsertManyAtomically, the key whose defaults
        // are an object ('new-2') in one call of that, and the others (defaults functions) read, then the
        // one that missed ('new-1') in a second call of it instead of the insert.
        const oneStatement = typeof store.findOrInsertManyAtomically === 'function'
        expect({
          findMany: counter.calls.findMany,
          insertMany: counter.calls.insertManyIfAbsentAtomically,
          findOrInsertMany: counter.calls.findOrInsertManyAtomically,
          insertOne: counter.calls.insertIfAbsentAtomically - singleInserts,
        }).toEqual({
          findMany: 1,
          insertMany: oneStatement ? 0 : 1,
          findOrInsertMany: oneStatement ? 2 : 0,
          insertOne: 0,
        })
      }
      expect(await runMany(store, [])).toEqual([])
    })
  })

  test('getOrCreateMany: an invalid item fails the call before any I/O, naming its index', async () => {
    await withTable(table, async ({ store, count }) => {
      const error = await rejection(
        runMany(store, [{ key: { slug: 'fine' } }, { key: { slug: undefined } }, { key: { slug: 'also' } }]),
      )
      expect(codeOf(error)).toBe('INVALID_KEY')
      expect(String((error as Error).message).startsWith('items[1].key: ')).toBe(true)
      const defaults = await rejection(
        runMany(store, [{ key: { slug: 'fine' } }, { key: { slug: 'x' }, defaults: { slug: 'y' } }]),
      )
      expect(codeOf(defaults)).toBe('CONFLICTING_DEFAULTS')
      expect(String((defaults as Error).message).startsWith('items[1].defaults: ')).toBe(true)
      expect(await count()).toBe(0)
    })
  })

  test(`getOrCreateMany: overlapping batches in opposite orders race single calls (${concurrency} at once): one row and one created per key`, async () => {
    await withTable(table, async ({ store, count }) => {
      const keys = Array.from({ length: 12 }, (_, i) => `m${i}`)
      // Defaults as objects (one statement where the store has findOrInsertManyAtomically) and as functions
      // (read, then insert the keys that missed).
      const batch =
        (order: string[], lazy = false) =>
        async () =>
          (
            await runMany(
              store,
              order.map((slug) => ({
                key: { slug },
                defaults: lazy ? () => ({ title: 'lazy' }) : { title: 'batch' },
              })),
            )
          ).map((result) => ({
            slug: String(result.row.slug),
            id: String(result.row.id),
            created: result.created,
          }))
      const single = (slug: string) => async () => {
        const result = await run(store, { slug }, { title: 'single' })
        return [{ slug, id: String(result.row.id), created: result.created }]
      }
      const tasks = interleave([
        batch(keys),
        batch([...keys].reverse()),
        batch(keys.filter((_, i) => i % 2 === 0)),
        batch(keys.filter((_, i) => i % 3 !== 0).reverse(), true),
        ...keys.flatMap((slug) => [single(slug), single(slug)]),
      ])
      const outcomes = await settleAll(tasks, concurrency)
      const failures = outcomes.filter((outcome) => outcome.status === 'rejected')
      expect(failures.map((failure) => String((failure as PromiseRejectedResult).reason))).toEqual([])
      const all = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? outcome.value : []))
      for (const slug of keys) {
        const mine = all.filter((result) => result.slug === slug)
        expect(mine.filter((result) => result.created).length).toBe(1)
        expect(new Set(mine.map((result) => result.id)).size).toBe(1)
        expect(await count({ slug })).toBe(1)
      }
      expect(await count()).toBe(keys.length)
    })
  })
}
