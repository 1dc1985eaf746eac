/**
 * getOrCreateMany's own rules, on memoryStore (the conformance suite runs its cases on every built-in store):
 * bounded concurrency, stopping at the first error, argument checks.
 */
import {
  boundedEach,
  byKeyShape,
  GET_OR_CREATE_MANY_CONCURRENCY,
  getOrCreateMany,
  InvalidKeyError,
  memoryStore,
  type Store,
  type Strategy,
} from '@getorcreate/core'
import { expect, test } from 'vitest'

type Tag = { id?: number; slug: string; title?: string | null }

function tags() {
  return memoryStore<Tag>({ uniqueBy: [['slug']], autoIncrement: 'id' })
}

/** `base` whose finds wait 5 ms, counting how many are in flight at most, and failing for `failing`. */
function watched(base: Store<Tag>, failing?: string) {
  const seen = { finds: 0, inFlight: 0, most: 0 }
  const store: Store<Tag> = Object.assign(Object.create(base) as Store<Tag>, {
    async find(key: Partial<Tag>, opts?: { fresh?: boolean }) {
      seen.finds++
      seen.inFlight++
      seen.most = Math.max(seen.most, seen.inFlight)
      try {
        await new Promise((resolve) => setTimeout(resolve, 5))
        if (key.slug === failing) throw new Error(`find failed for ${failing} (injected)`)
        return await base.find(key, opts)
      } finally {
        seen.inFlight--
      }
    },
  })
  return { store, seen }
}

test(`at most ${GET_OR_CREATE_MANY_CONCURRENCY} keys in flight; every distinct key settled once`, async () => {
  const base = tags()
  const { store, seen } = watched(base)
  const items = Array.from({ length: 40 }, (_, i) => ({ key: { slug: `k${i % 30}` } }))
  const results = await getOrCreateMany(store, items)
  expect(seen.most).toBe(GET_OR_CREATE_MANY_CONCURRENCY)
  expect(seen.finds).toBe(30) // one read per distinct key: every one a miss here, then an insert
  expect(results.filter((r) => r.created)).toHaveLength(30)
  expect(results.slice(30).every((r, i) => r.row.id === results[i]?.row.id && !r.created)).toBe(true)
  expect(base.rows()).toHaveLength(30)
})

test('the first error fails the call; no key is started after it; keys settled before it keep their rows', async () => {
  const base = tags()
  const { store, seen } = watched(base, 'k3')
  const items = Array.from({ length: 40 }, (_, i) => ({ key: { slug: `k${i}` } }))
  await expect(getOrCreateMany(store, items)).rejects.toThrow('find failed for k3 (injected)')
  // k0..k7 started together; k3 fails when they answer, so at most the 7 others' successors started before.
  expect(seen.finds).toBeLessThanOrEqual(2 * GET_OR_CREATE_MANY_CONCURRENCY - 1)
  expect(seen.finds).toBeLessThan(40)
  const slugs = base.rows().map((row) => row.slug)
  expect(slugs).toContain('k0')
  expect(slugs).not.toContain('k3')
  // Run again: the rows made before are hits; with the failing read gone, every key is settled.
  const again = await getOrCreateMany(base, items)
  expect(again.filter((r) => !r.created).map((r) => r.row.slug)).toEqual(
    slugs.sort((a, b) => Number(a.slice(1)) - Number(b.slice(1))),
  )
  expect(base.rows()).toHaveLength(40)
})

test('any strategy: its getOrCreate is called once per distinct key, with that key', async () => {
  const keys: unknown[] = []
  const strategy: Strategy = {
    name: 'recording',
    async getOrCreate(_store, key, values) {
      keys.push(key)
      return { row: (await values()) as never, created: true }
    },
  }
  const results = await getOrCreateMany(
    tags(),
    [{ key: { slug: 'a' } }, { key: { slug: 'b' }, defaults: { title: 'B' } }, { key: { slug: 'a' } }],
    strategy,
  )
  expect(keys).toEqual([{ slug: 'a' }, { slug: 'b' }])
  expect(results).toEqual([
    { row: { slug: 'a' }, created: true },
    { row: { slug: 'b', title: 'B' }, created: true },
    { row: { slug: 'a' }, created: false },
  ])
})

test("a strategy's getOrCreateMany: each entry's values are one NewRowValues however often read; a defaults function runs once", async () => {
  let made = 0
  const seen: { lazy: boolean; same: boolean; values: unknown }[] = []
  const strategy: Strategy = {
    name: 'reading twice',
    getOrCreate: () => Promise.reject(new Error('not called')),
    async getOrCreateMany(_store, entries) {
      const results = []
      for (const entry of entries) {
        const first = entry.values
        const again = entry.values
        // Called through both reads, twice each: one promise, and the caller's function run once.
        const promises = [first(), again(), first(), again()]
        const values = await promises[0]
        seen.push({
          lazy: first.lazy,
          same: first === again && promises.every((p) => p === promises[0]),
          values,
        })
        results.push({ row: values as never, created: true })
      }
      return results
    },
  }
  const results = await getOrCreateMany(
    tags(),
    [
      { key: { slug: 'a' }, defaults: { title: 'A' } },
      { key: { slug: 'b' }, defaults: () => ({ title: `B${++made}` }) },
      { key: { slug: 'c' } },
    ],
    strategy,
  )
  expect(made).toBe(1)
  expect(seen).toEqual([
    { lazy: false, same: true, values: { slug: 'a', title: 'A' } },
    { lazy: true, same: true, values: { slug: 'b', title: 'B1' } },
    { lazy: false, same: true, values: { slug: 'c' } },
  ])
  expect(results.map((result) => result.row)).toEqual(seen.map((entry) => entry.values))
})

test('arguments: a store, an array of plain objects, a strategy; checked before any I/O', async () => {
  const store = tags()
  await expect(getOrCreateMany(store, {} as never)).rejects.toThrow(TypeError)
  await expect(getOrCreateMany(null as never, [])).rejects.toThrow(TypeError)
  await expect(getOrCreateMany(store, [], {} as never)).rejects.toThrow(TypeError)
  const error = await getOrCreateMany(store, [{ key: { slug: 'a' } }, null as never]).catch((e: unknown) => e)
  expect(error).toBeInstanceOf(InvalidKeyError)
  expect((error as Error).message).toMatch(/^items\[1\] must be a plain object/)
  // A hole in a sparse array is an item, refused as such, not skipped (which would leave a hole in the results).
  const sparse = [{ key: { slug: 'a' } }, { key: { slug: 'b' } }]
  delete (sparse as unknown[])[0]
  const hole = await getOrCreateMany(store, sparse).catch((e: unknown) => e)
  expect(hole).toBeInstanceOf(InvalidKeyError)
  expect((hole as Error).message).toMatch(/^items\[0\] must be a plain object .*, got undefined/)
  expect(store.rows()).toHaveLength(0)
})

test('boundedEach: at most `limit` at once, every item once; after a failure no new start, the first error thrown', async () => {
  let inFlight = 0
  let most = 0
  const done: number[] = []
  await boundedEach([1, 2, 3, 4, 5, 6, 7], 3, async (item) => {
    inFlight++
    most = Math.max(most, inFlight)
    await new Promise((resolve) => setTimeout(resolve, 2))
    inFlight--
    done.push(item)
  })
  expect(most).toBe(3)
  expect(done.sort()).toEqual([1, 2, 3, 4, 5, 6, 7])
  const started: number[] = []
  const error = await boundedEach([1, 2, 3, 4, 5, 6], 2, async (item) => {
    started.push(item)
    await new Promise((resolve) => setTimeout(resolve, item === 2 ? 1 : 5))
    if (item === 2) throw new Error('two')
  }).catch((e: unknown) => e)
  expect((error as Error).message).toBe('two')
  expect(started).toEqual([1, 2])
})

test('byKeyShape: indexes grouped by fields in any order, each group in input order', () => {
  expect(byKeyShape([{ a: 1 }, { b: 2 }, { a: 3 }, { b: 1, a: 2 }, { a: 5, b: 6 }])).toEqual([
    [0, 2],
    [1],
    [3, 4],
  ])
  expect(byKeyShape([])).toEqual([])
})
