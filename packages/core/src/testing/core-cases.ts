import { constraintStrategy } from '../constraint-strategy.js'
import { isGetOrCreateError } from '../errors.js'
import { getOrCreate } from '../get-or-create.js'
import { codeOf, rejection, type Suite } from './harness.js'
import type { ConformanceStore } from './types.js'

/**
 * Input every store must refuse before any I/O, as `[label, call, code]`: the calls start at once (each
 * rejects before it reaches the store). Unknown columns only where the store knows its `fields`.
 */
function badInputs(suite: Suite, store: ConformanceStore): [string, Promise<unknown>, string][] {
  const { run } = suite
  const cases: [string, Promise<unknown>, string][] = [
    ['empty key', run(store, {}), 'INVALID_KEY'],
    ['undefined value', run(store, { slug: undefined }), 'INVALID_KEY'],
    ['NaN value', run(store, { slug: Number.NaN }), 'INVALID_KEY'],
    ['object value', run(store, { slug: { nested: true } }), 'INVALID_KEY'],
    ['array value', run(store, { slug: ['a'] }), 'INVALID_KEY'],
    ['key is an array', run(store, ['a'] as unknown as Record<string, unknown>), 'INVALID_KEY'],
    [
      'key is a Map',
      run(store, new Map([['slug', 'a']]) as unknown as Record<string, unknown>),
      'INVALID_KEY',
    ],
    ['key is a string', run(store, 'a' as unknown as Record<string, unknown>), 'INVALID_KEY'],
    ['key is null', run(store, null as unknown as Record<string, unknown>), 'INVALID_KEY'],
    ['defaults not a plain object', run(store, { slug: 'a' }, ['x']), 'CONFLICTING_DEFAULTS'],
    ['defaults change the key', run(store, { slug: 'a' }, { slug: 'b' }), 'CONFLICTING_DEFAULTS'],
    ['defaults change the key type', run(store, { slug: '1' }, { slug: 1 }), 'CONFLICTING_DEFAULTS'],
  ]
  if (store.fields) {
    cases.push(
      ['unknown key column', run(store, { nope: 'a' }), 'INVALID_KEY'],
      ['unknown defaults column', run(store, { slug: 'a' }, { nope: 'x' }), 'CONFLICTING_DEFAULTS'],
    )
  }
  return cases
}

/** Each bad input's code, and the codes expected, by label: equal when every input was refused as it must. */
export async function badInputCodes(
  suite: Suite,
  store: ConformanceStore,
): Promise<{ codes: Record<string, string>; expected: Record<string, string> }> {
  const codes: Record<string, string> = {}
  const expected: Record<string, string> = {}
  for (const [label, promise, code] of badInputs(suite, store)) {
    codes[label] = codeOf(await rejection(promise))
    expected[label] = code
  }
  return { codes, expected }
}

/** The cases every store runs, whatever its optional members: hits, misses, keys, input, defaults, reads. */
export function registerCoreCases(suite: Suite): void {
  const { test, expect, withTable, run, concurrency, nullKeys } = suite

  test('a miss creates the row with the key and the defaults; the next call hits it', async () => {
    await withTable('unique', async ({ store, count }) => {
      const first = await run(store, { slug: 'a' }, { title: 'A' })
      expect(first.created).toBe(true)
      expect(first.row.slug).toBe('a')
      expect(first.row.title).toBe('A')
      expect(first.row.id === undefined || first.row.id === null).toBe(false)
      const second = await run(store, { slug: 'a' }, { title: 'other' })
      expect(second.created).toBe(false)
      expect(second.row).toEqual(first.row)
      expect(await count()).toBe(1)
      expect(await count({ slug: 'a' })).toBe(1)
    })
  })

  test('a hit costs one read and writes nothing', async () => {
    await withTable('unique', async ({ store, count }, counter) => {
      await run(store, { slug: 'hit' }, { title: 'H' })
      const callsBefore = counter.total()
      const findsBefore = counter.calls.find
      const hit = await run(store, { slug: 'hit' }, () => {
        throw new Error('defaults must not be made for a hit')
      })
      expect(hit.created).toBe(false)
      expect(counter.total() - callsBefore).toBe(1)
      expect(counter.calls.find - findsBefore).toBe(1) // and that one call is a read
      expect(await count()).toBe(1)
    })
  })

  test('changing a returned row, or the defaults object after the call, changes neither the stored row nor what others get', async () => {
    await withTable('unique', async ({ store }) => {
      const defaults: Record<string, unknown> = { title: 'A' }
      const first = await run(store, { slug: 'mine' }, defaults)
      const id = first.row.id
      defaults.title = 'changed'
      first.row.title = 'changed'
      delete first.row.slug
      const hit = await run(store, { slug: 'mine' })
      expect([hit.created, hit.row.slug, hit.row.title, hit.row.id]).toEqual([false, 'mine', 'A', id])
      hit.row.title = 'changed again'
      const found = await store.find({ slug: 'mine' }, { fresh: true })
      expect([found?.slug, found?.title]).toEqual(['mine', 'A'])
    })
  })

  test('composite keys: each combination is its own row, field order does not matter', async () => {
    await withTable('composite', async ({ store, count }) => {
      const a = await run(store, { prefix: 'x', slug: 'a' }, { title: 'XA' })
      const b = await run(store, { prefix: 'y', slug: 'a' }, { title: 'YA' })
      const c = await run(store, { slug: 'a', prefix: 'x' }, { title: 'again' })
      expect([a.created, b.created, c.created]).toEqual([true, true, false])
      expect(c.row).toEqual(a.row)
      expect(String(a.row.id) === String(b.row.id)).toBe(false)
      expect(b.row.title).toBe('YA')
      expect(await count()).toBe(2)
    })
  })

  test(`NULL in a nullable unique key column is ${nullKeys}`, async () => {
    await withTable('nullable', async ({ store, count }) => {
      const plain = await run(store, { slug: 'n' }, { title: 'N' })
      expect(plain.created).toBe(true)
      expect((await run(store, { slug: 'n' })).created).toBe(false)
      if (nullKeys === 'refused') {
        expect(codeOf(await rejection(run(store, { slug: null }, { title: 'null' })))).toBe('INVALID_KEY')
        expect(await count({ slug: null })).toBe(0)
      } else {
        const first = await run(store, { slug: null }, { title: 'null' })
        const second = await run(store, { slug: null }, { title: 'again' })
        expect([first.created, second.created]).toEqual([true, false])
        expect(second.row).toEqual(first.row)
        expect(await count({ slug: null })).toBe(1)
      }
      expect(await count()).toBe(nullKeys === 'refused' ? 1 : 2)
    })
  })

  test('bad input is refused with the same codes before any I/O', async () => {
    await withTable('unique', async ({ store, count }, counter) => {
      const { codes, expected } = await badInputCodes(suite, store)
      expect(codes).toEqual(expected)
      expect(counter.total()).toBe(0)
      expect(await count()).toBe(0)
    })
  })

  test('defaults made by a function are refused when they change the key; nothing written', async () => {
    await withTable('unique', async ({ store, count }) => {
      const error = await rejection(run(store, { slug: 'a' }, async () => ({ slug: 'b', title: 'T' })))
      expect(codeOf(error)).toBe('CONFLICTING_DEFAULTS')
      expect(await count()).toBe(0)
    })
  })

  test('lazy defaults: called only on create, at most once per call, sync or async', async () => {
    await withTable('unique', async ({ store, count }) => {
      let made = 0
      const created = await run(store, { slug: 'lazy' }, async () => {
        made++
        return { title: 'made' }
      })
      expect([created.created, made, created.row.title]).toEqual([true, 1, 'made'])
      const hit = await run(store, { slug: 'lazy' }, () => {
        made++
        return { title: 'never' }
      })
      expect([hit.created, made]).toEqual([false, 1])

      const thrown = new Error('no defaults today')
      const error = await rejection(
        run(store, { slug: 'boom' }, () => {
          throw thrown
        }),
      )
      expect(error).toBe(thrown)
      expect(await count({ slug: 'boom' })).toBe(0)

      const calls = Array.from({ length: concurrency }, () => 0)
      const outcomes = await Promise.all(
        calls.map((_, caller) =>
          run(store, { slug: 'lazy-race' }, async () => {
            calls[caller] = (calls[caller] ?? 0) + 1
            return { title: `caller ${caller}` }
          }),
        ),
      )
      for (const callCount of calls) expect(callCount).toBeLessThanOrEqual(1)
      const winner = outcomes.findIndex((outcome) => outcome.created)
      expect(outcomes.filter((outcome) => outcome.created).length).toBe(1)
      expect(calls[winner]).toBe(1)
      expect(outcomes[winner]?.row.title).toBe(`caller ${winner}`)
      expect(await count({ slug: 'lazy-race' })).toBe(1)
    })
  })

  test('a conflict on another unique constraint is rethrown, never reported as a hit', async () => {
    await withTable('unique', async ({ store, count }) => {
      const first = await run(store, { slug: 'a' }, { email: 'same@example.com' })
      expect(first.created).toBe(true)
      const error = await rejection(run(store, { slug: 'b' }, { email: 'same@example.com' }))
      expect(isGetOrCreateError(error)).toBe(false)
      expect(error instanceof Error).toBe(true)
      const plain = await rejection(store.insert({ slug: 'c', email: 'same@example.com' }))
      expect(isGetOrCreateError(plain)).toBe(false)
      expect(await count({ slug: 'b' })).toBe(0)
      expect(await count({ slug: 'c' })).toBe(0)
      expect(await count()).toBe(1)
    })
  })

  test('insert always inserts, a second row for the same key included, where no unique index stops it', async () => {
    await withTable('no-unique', async ({ store, count }) => {
      const a = await store.insert({ slug: 'd', title: 'one' })
      const b = await store.insert({ slug: 'd', title: 'two' })
      expect([a.slug, a.title, b.slug, b.title]).toEqual(['d', 'one', 'd', 'two'])
      expect(String(a.id) === String(b.id)).toBe(false)
      expect(await count({ slug: 'd' })).toBe(2)
    })
  })

  test('fresh reads see a row written behind the store, and getOrCreate returns it', async () => {
    await withTable('unique', async ({ store, count, insertBehind }) => {
      expect(await store.find({ slug: 'f' })).toBe(undefined)
      expect(await store.find({ slug: 'f' }, { fresh: true })).toBe(undefined)
      await insertBehind({ slug: 'f', title: 'behind' })
      const fresh = await store.find({ slug: 'f' }, { fresh: true })
      expect(fresh?.title).toBe('behind')
      const plain = await store.find({ slug: 'f' })
      expect(plain).toEqual(fresh)
      const got = await run(store, { slug: 'f' }, { title: 'mine' })
      expect([got.created, got.row.title]).toEqual([false, 'behind'])
      expect(await count()).toBe(1)
    })
  })

  // Under the constraint strategy itself (a store it can run on: enforced by an index).
  if (suite.enforcedBy !== 'index') return
  test('hits and misses asked for in one turn: each caller its own row; the first read at once, the rest in one findMany where the store has it', async () => {
    await withTable('unique', async ({ store, count }, counter) => {
      const existing = ['t0', 't1', 't2', 't3', 't4']
      for (const slug of existing) await run(store, { slug }, { title: slug.toUpperCase() })
      const finds = counter.calls.find
      const findManys = counter.calls.findMany
      // The constraint strategy batches the plain reads of one turn; without single flight, the repeated key
      // ('t1') is read twice in that batch and each caller gets a row object of its own.
      const batching = constraintStrategy({ singleFlight: false })
      const slugs = [...existing, 't1', 'new-a', 'new-b']
      const results = await Promise.all(
        slugs.map((slug) => getOrCreate(store, { slug }, { title: 'made' }, batching)),
      )
      expect(results.map((result) => [result.row.slug, result.row.title, result.created])).toEqual([
        ...existing.map((slug) => [slug, slug.toUpperCase(), false]),
        ['t1', 'T1', false],
        ['new-a', 'made', true],
        ['new-b', 'made', true],
      ])
      expect(results[1]?.row === results[5]?.row).toBe(false)
      expect(String(results[1]?.row.id)).toBe(String(results[5]?.row.id))
      if (typeof store.findMany === 'function' && store.inTransaction !== true) {
        // The first read goes at once (none of the store's reads was out); the seven asked for while it is
        // out are one findMany. The misses' inserts found no rival: no re-read.
        expect(counter.calls.findMany - findManys).toBe(1)
        expect(counter.calls.find - finds).toBe(1)
      }
      expect(await count()).toBe(existing.length + 2)
    })
  })
}
