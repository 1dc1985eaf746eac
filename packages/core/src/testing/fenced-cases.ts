import { LockLostError } from '../errors.js'
import type { Fence } from '../types.js'
import { rejection, type Suite } from './harness.js'
import type { ConformanceStore, ConformanceTable } from './types.js'

/** Lock keys no other test (or run sharing the fences table) uses: `lock-<run>-<n>-<name>`. */
const run = Math.random().toString(36).slice(2, 10)
let made = 0
const lockKeyFor = (name: string) => `lock-${run}-${++made}-${name}`

/** An unexpected error, with its cause (drizzle wraps the driver's error in "Failed query: …"). */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  const cause = error.cause === undefined ? '' : ` (cause: ${describe(error.cause)})`
  return `${error.name}: ${error.message}${cause}`
}

/** What every fenced case works with: the store's `insertIfAbsentFenced`, bound, and the table. */
interface Fenced {
  readonly store: ConformanceStore
  readonly table: ConformanceTable
  /** `store.insertIfAbsentFenced`, bound to the store. */
  create(key: Record<string, unknown>, values: Record<string, unknown>, fence: Fence): Promise<unknown>
  /** The fence token of `lockKey`, read behind the store's back. */
  fence(lockKey: string): Promise<number | undefined>
}

/**
 * The cases of `'insertIfAbsentFenced'` (see {@link StoreConformanceOptions.members}), registered only when
 * it is listed: each on a `'no-unique'` table made with `{ fenced: true }`, so that only the fence (and the
 * read under it) keeps a second row out.
 */
export function registerFencedCases(suite: Suite): void {
  if (!suite.has('insertIfAbsentFenced')) return
  const { test, expect, withTable, declared, concurrency } = suite

  const withFenced = (body: (fenced: Fenced) => Promise<void>) =>
    withTable(
      'no-unique',
      async (table) => {
        const { store } = table
        const insertIfAbsentFenced = declared(store.insertIfAbsentFenced, 'insertIfAbsentFenced')
        const fence = declared(table.fence, 'insertIfAbsentFenced')
        expect(store.checksFence, 'a store with insertIfAbsentFenced checks fences').toBe(true)
        await body({
          store,
          table,
          create: (key, values, f) => insertIfAbsentFenced.call(store, key, values, f),
          fence: async (lockKey) => {
            const token = await fence.call(table, lockKey)
            return token === undefined ? undefined : Number(token)
          },
        })
      },
      { fenced: true },
    )

  /** What a call rejected with: `'LockLostError'`, `'TypeError'`, or the error, described. */
  const kindOf = (error: unknown) =>
    error instanceof LockLostError
      ? 'LockLostError'
      : error instanceof TypeError
        ? 'TypeError'
        : describe(error)

  test('fenced: a larger token raises the fence and writes; a row found is not written again, and a create that finds it writes nothing (the fence not raised)', async () => {
    await withFenced(async ({ create, fence, table }) => {
      const lockKey = lockKeyFor('larger')
      const row = (await create({ slug: 'a' }, { slug: 'a', title: 'A' }, { token: 5, lockKey })) as
        | Record<string, unknown>
        | undefined
      expect([row?.slug, row?.title]).toEqual(['a', 'A'])
      expect(await fence(lockKey)).toBe(5)
      expect(await create({ slug: 'a' }, { slug: 'a', title: 'again' }, { token: 6, lockKey })).toBe(
        undefined,
      )
      // A read needs no lock: a create that finds its row costs a read, not a write of the fence row.
      expect(await fence(lockKey)).toBe(5)
      expect(await table.count({ slug: 'a' })).toBe(1)
      const b = (await create({ slug: 'b' }, { slug: 'b' }, { token: 6, lockKey })) as
        | Record<string, unknown>
        | undefined
      expect(b?.slug).toBe('b')
      expect(await fence(lockKey)).toBe(6)
    })
  })

  test('fenced: an older token is a LockLostError, from insertIfAbsentFenced and from insert; nothing written, the fence unchanged; a row it finds is found (undefined)', async () => {
    await withFenced(async ({ create, fence, store, table }) => {
      const lockKey = lockKeyFor('older')
      await create({ slug: 'x' }, { slug: 'x' }, { token: 7, lockKey })
      expect(kindOf(await rejection(create({ slug: 'y' }, { slug: 'y' }, { token: 6, lockKey })))).toBe(
        'LockLostError',
      )
      expect(
        kindOf(await rejection(store.insert({ slug: 'y' }, { fence: 6, lockKey, key: { slug: 'y' } }))),
      ).toBe('LockLostError')
      expect(await table.count({ slug: 'y' })).toBe(0)
      // A paused holder that finds the row writes nothing a newer owner must be fenced from.
      expect(await create({ slug: 'x' }, { slug: 'x' }, { token: 6, lockKey })).toBe(undefined)
      expect(await fence(lockKey)).toBe(7)
    })
  })

  test("fenced: the same token is that write's own (a token is drawn for one write): accepted", async () => {
    await withFenced(async ({ create, fence, table }) => {
      const lockKey = lockKeyFor('same')
      await create({ slug: 's' }, { slug: 's' }, { token: 7, lockKey })
      const row = (await create({ slug: 's2' }, { slug: 's2' }, { token: 7, lockKey })) as
        | Record<string, unknown>
        | undefined
      expect(row?.slug).toBe('s2')
      expect(await table.count({ slug: 's2' })).toBe(1)
      expect(await fence(lockKey)).toBe(7)
    })
  })

  test('fenced: insert(values, { fence, lockKey, key }) with a larger token writes and raises the fence', async () => {
    await withFenced(async ({ fence, store, table }) => {
      const lockKey = lockKeyFor('insert')
      const row = await store.insert({ slug: 'i' }, { fence: 3, lockKey, key: { slug: 'i' } })
      expect(row.slug).toBe('i')
      expect(await table.count({ slug: 'i' })).toBe(1)
      expect(await fence(lockKey)).toBe(3)
    })
  })

  test('fenced: tokens that are not non-negative safe integers, and empty or missing lock keys, are TypeErrors; nothing written', async () => {
    await withFenced(async ({ create, store, table }) => {
      const bad: unknown[] = [
        { token: -1, lockKey: 'k' },
        { token: 1.5, lockKey: 'k' },
        { token: Number.NaN, lockKey: 'k' },
        { token: Number.POSITIVE_INFINITY, lockKey: 'k' },
        { token: 2 ** 53, lockKey: 'k' },
        { token: '3', lockKey: 'k' },
        { token: 1, lockKey: '' },
        { token: 1 },
      ]
      const kinds: string[] = []
      for (const fence of bad) {
        kinds.push(kindOf(await rejection(create({ slug: 'z' }, { slug: 'z' }, fence as Fence))))
      }
      kinds.push(kindOf(await rejection(store.insert({ slug: 'z' }, { fence: 1 }))))
      expect(kinds).toEqual(Array.from({ length: bad.length + 1 }, () => 'TypeError'))
      expect(await table.count({ slug: 'z' })).toBe(0)
    })
  })

  test('fenced: lock keys are compared exactly: keys differing only in case have fences of their own', async () => {
    await withFenced(async ({ create, fence, table }) => {
      const lockKey = lockKeyFor('case')
      await create({ slug: 'c1' }, { slug: 'c1' }, { token: 9, lockKey })
      const row = (await create(
        { slug: 'c2' },
        { slug: 'c2' },
        { token: 1, lockKey: lockKey.toUpperCase() },
      )) as Record<string, unknown> | undefined
      expect(row?.slug).toBe('c2')
      expect(await table.count({ slug: 'c2' })).toBe(1)
      expect([await fence(lockKey), await fence(lockKey.toUpperCase())]).toEqual([9, 1])
    })
  })

  test(`fenced: ${concurrency} owners of one key with growing tokens race: exactly one row; the others find it or lose the lock`, async () => {
    await withFenced(async ({ create, table }) => {
      const lockKey = lockKeyFor('race')
      // On a cold store: a store that reads its catalog while holding the fence row, on a pool whose every
      // connection is taken by a caller waiting for that row, waits out the database's lock timeout.
      const outcomes = await Promise.allSettled(
        Array.from({ length: concurrency }, (_, i) =>
          create({ slug: 'r' }, { slug: 'r', title: String(i) }, { token: 100 + i, lockKey }),
        ),
      )
      const created = outcomes.filter((o) => o.status === 'fulfilled' && o.value !== undefined)
      const others = outcomes
        .filter((o) => !(o.status === 'fulfilled' && o.value !== undefined))
        .map((o) => (o.status === 'fulfilled' ? 'undefined' : kindOf(o.reason)))
      expect(created.length).toBe(1)
      expect(others.filter((kind) => kind !== 'undefined' && kind !== 'LockLostError')).toEqual([])
      expect(await table.count({ slug: 'r' })).toBe(1)
    })
  })
}
