import { isGetOrCreateError } from '../errors.js'
import { rejection, type Suite } from './harness.js'

/** The cases of the store's insert methods, `insertIfAbsentAtomically` and `insertIfAbsentUnderLock`. */
export function registerMemberCases(suite: Suite): void {
  const { test, expect, withTable, enforcedBy } = suite

  test('insertIfAbsentAtomically returns the new row, then undefined for the same key; insert always inserts', async () => {
    await withTable('unique', async ({ store, count }) => {
      // Required by the constraint strategy; a store meant only for lock strategies may leave it out.
      if (enforcedBy === 'index') expect(typeof store.insertIfAbsentAtomically).toBe('function')
      const insertIfAbsentAtomically = store.insertIfAbsentAtomically?.bind(store)
      if (!insertIfAbsentAtomically) return
      const row = await insertIfAbsentAtomically({ slug: 'i' }, { slug: 'i', title: 'I' })
      expect(row?.slug).toBe('i')
      expect(await insertIfAbsentAtomically({ slug: 'i' }, { slug: 'i', title: 'again' })).toBe(undefined)
      expect(await count()).toBe(1)
    })
    await withTable('no-unique', async ({ store, count }) => {
      const a = await store.insert({ slug: 'd', title: 'one' })
      const b = await store.insert({ slug: 'd', title: 'two' })
      expect([a.slug, a.title, b.slug, b.title]).toEqual(['d', 'one', 'd', 'two'])
      expect(String(a.id) === String(b.id)).toBe(false)
      expect(await count({ slug: 'd' })).toBe(2)
    })
  })

  test('insertIfAbsentUnderLock (optional): inserts once, then sees the row, even one written behind its back', async () => {
    await withTable('no-unique', async ({ store, count, insertBehind }) => {
      const insertIfAbsentUnderLock = store.insertIfAbsentUnderLock?.bind(store)
      if (!insertIfAbsentUnderLock) return
      const row = await insertIfAbsentUnderLock({ slug: 'u' }, { slug: 'u', title: 'U' })
      expect([row?.slug, row?.title]).toEqual(['u', 'U'])
      // The row it returns reads as find reads it (same fields, same JavaScript values).
      expect(await store.find({ slug: 'u' }, { fresh: true })).toEqual(row)
      expect(await insertIfAbsentUnderLock({ slug: 'u' }, { slug: 'u', title: 'again' })).toBe(undefined)
      await insertBehind({ slug: 'behind', title: 'theirs' })
      expect(await insertIfAbsentUnderLock({ slug: 'behind' }, { slug: 'behind', title: 'mine' })).toBe(
        undefined,
      )
      await insertBehind({ slug: 'twice', title: 'one' })
      await insertBehind({ slug: 'twice', title: 'two' })
      expect(await insertIfAbsentUnderLock({ slug: 'twice' }, { slug: 'twice' })).toBe(undefined)
      expect(await count()).toBe(4)
    })
    await withTable('composite', async ({ store, count }) => {
      const insertIfAbsentUnderLock = store.insertIfAbsentUnderLock?.bind(store)
      if (!insertIfAbsentUnderLock) return
      const a = await insertIfAbsentUnderLock({ slug: 's', prefix: 'a' }, { prefix: 'a', slug: 's' })
      expect([a?.prefix, a?.slug]).toEqual(['a', 's'])
      const b = await insertIfAbsentUnderLock({ prefix: 'b', slug: 's' }, { prefix: 'b', slug: 's' })
      expect([b?.prefix, b?.slug]).toEqual(['b', 's'])
      expect(await insertIfAbsentUnderLock({ prefix: 'a', slug: 's' }, { prefix: 'a', slug: 's' })).toBe(
        undefined,
      )
      expect(await count()).toBe(2)
    })
    await withTable('nullable', async ({ store, count }) => {
      const insertIfAbsentUnderLock = store.insertIfAbsentUnderLock?.bind(store)
      if (!insertIfAbsentUnderLock) return
      // NULL in the key matches rows holding NULL there, as find does.
      const first = await insertIfAbsentUnderLock({ slug: null }, { slug: null, title: 'null slug' })
      expect(first?.title).toBe('null slug')
      expect(await insertIfAbsentUnderLock({ slug: null }, { slug: null, title: 'again' })).toBe(undefined)
      expect(await count()).toBe(1)
    })
    await withTable('unique', async ({ store, count }) => {
      const insertIfAbsentUnderLock = store.insertIfAbsentUnderLock?.bind(store)
      if (!insertIfAbsentUnderLock) return
      await insertIfAbsentUnderLock({ slug: 'e1' }, { slug: 'e1', email: 'same@example.com' })
      const error = await rejection(
        insertIfAbsentUnderLock({ slug: 'e2' }, { slug: 'e2', email: 'same@example.com' }),
      )
      expect(isGetOrCreateError(error)).toBe(false) // another unique constraint: the database's own error
      expect(await count()).toBe(1)
    })
  })
}
