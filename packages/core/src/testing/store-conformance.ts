import { isGetOrCreateError } from '../errors.js'
import { getOrCreate } from '../get-or-create.js'
import type { FindOptions, InsertOptions, Store, Strategy } from '../types.js'

/**
 * The table shapes the suite asks for. Each has an `id` filled in by the store (auto-increment, serial,
 * rowid: any value unique per row) and text columns:
 * - `'unique'`: `slug` NOT NULL with a unique index; `email` nullable with its own unique index (the "other
 *   unique constraint"); `title` nullable.
 * - `'composite'`: `prefix` and `slug`, both NOT NULL, unique together (and neither alone); `title` nullable.
 * - `'no-unique'`: `slug` NOT NULL and `title` nullable, no unique index on either.
 * - `'nullable'`: `slug` nullable with a unique index; `title` nullable.
 */
export type ConformanceShape = 'unique' | 'composite' | 'no-unique' | 'nullable'

/** A store as the suite handles it: rows, keys and values are plain records. */
export type ConformanceStore = Store<
  Record<string, unknown>,
  Record<string, unknown>,
  Record<string, unknown>
>

/** A fresh, empty table of one {@link ConformanceShape}, made by {@link StoreConformanceOptions.table}. */
export interface ConformanceTable {
  /** The store under test, over this table only. */
  readonly store: ConformanceStore
  /** How many rows the table holds; with `where`, how many match it (`null` matches NULL). */
  count(where?: Record<string, unknown>): Promise<number>
  /**
   * Insert a row behind the store's back: another connection or client where the store has one, as another
   * process would. The suite checks that `find(key, { fresh: true })` and `getOrCreate` see it.
   */
  insertBehind(values: Record<string, unknown>): Promise<void>
  /**
   * How many statements (round trips) the store has sent so far, if the test can count them (a drizzle
   * logger can). With it the suite also checks that a hit costs one statement and bad input none.
   */
  statements?(): number
  /** Release what the table holds (connections). Called at the end of each test. */
  close?(): Promise<void>
}

/** The subset of vitest's (or Jest's) `expect` the suite uses, typed structurally. */
export type ConformanceExpect = (
  actual: unknown,
  message?: string,
) => {
  /** Fails unless `actual` is `expected` (`Object.is`). */
  toBe(expected: unknown): void
  /** Fails unless `actual` deeply equals `expected`. */
  toEqual(expected: unknown): void
  /** Fails unless `actual` is a number ≤ `expected`. */
  toBeLessThanOrEqual(expected: number): void
}

/** vitest's `describe`, `test` and `expect` (or any runner's equivalents), passed in so core needs no test runner. */
export interface ConformanceTestApi {
  /** Groups tests: `describe(name, body)`. */
  readonly describe: (name: string, body: () => void) => void
  /** Declares one test: `test(name, body)`. */
  readonly test: (name: string, body: () => Promise<void>) => void
  /** Assertions: see {@link ConformanceExpect}. */
  readonly expect: ConformanceExpect
}

/** Options of {@link runStoreConformance}. */
export interface StoreConformanceOptions {
  /** Name of the `describe` block, e.g. `'mariadb'`. */
  readonly name: string
  /** Make a fresh, empty table of `shape` (unique name per call) and a store over it. */
  table(shape: ConformanceShape): Promise<ConformanceTable>
  /**
   * How many callers run at once in the race tests. Make the store's connection pool at least this large,
   * else the callers queue for connections and the race proves nothing. Default is `16`.
   */
  readonly concurrency?: number
  /**
   * What a key holding `null` in a nullable unique column does: `'refused'` (`InvalidKeyError`, the rule for
   * unique indexes that treat NULLs as distinct: Postgres by default, MySQL, SQLite) or `'allowed'` (NULL
   * equals NULL: `NULLS NOT DISTINCT`, `memoryStore`). Default is `'refused'`.
   */
  readonly nullKeys?: 'refused' | 'allowed'
  /** The strategy under test. Default is `getOrCreate`'s default, the constraint strategy. */
  readonly strategy?: Strategy
  /**
   * What keeps one row per key: `'index'` (the constraint strategy: a unique index on the key is required,
   * keys without one are refused) or `'strategy'` (a lock strategy: the suite then races on a table without
   * a unique index and expects exact counts there too, and `insertIfAbsentAtomically` is optional). Default is
   * `'index'`.
   */
  readonly enforcedBy?: 'index' | 'strategy'
}

/** Calls made to a store, by method, for "no I/O before validation" and "a hit is one read" checks. */
interface Calls {
  find: number
  insert: number
  insertIfAbsentAtomically: number
  insertIfAbsentUnderLock: number
  uniqueness: number
}

/** The store, wrapped to count calls; optional methods stay absent when the store lacks them. */
function counted(store: ConformanceStore): { store: ConformanceStore; calls: Calls; total(): number } {
  const calls: Calls = {
    find: 0,
    insert: 0,
    insertIfAbsentAtomically: 0,
    insertIfAbsentUnderLock: 0,
    uniqueness: 0,
  }
  const wrapper: ConformanceStore = {
    name: store.name,
    ...(store.fields ? { fields: store.fields } : {}),
    find(key: Record<string, unknown>, opts?: FindOptions) {
      calls.find++
      return store.find(key, opts)
    },
    insert(values: Record<string, unknown>, opts?: InsertOptions) {
      calls.insert++
      return store.insert(values, opts)
    },
  }
  const { insertIfAbsentAtomically, insertIfAbsentUnderLock, uniqueness, uniqueIndexFix } = store
  if (insertIfAbsentUnderLock) {
    wrapper.insertIfAbsentUnderLock = (key, values) => {
      calls.insertIfAbsentUnderLock++
      return insertIfAbsentUnderLock.call(store, key, values)
    }
  }
  if (insertIfAbsentAtomically) {
    wrapper.insertIfAbsentAtomically = (key, values) => {
      calls.insertIfAbsentAtomically++
      return insertIfAbsentAtomically.call(store, key, values)
    }
  }
  if (uniqueness) {
    wrapper.uniqueness = (fields) => {
      calls.uniqueness++
      return uniqueness.call(store, fields)
    }
  }
  if (uniqueIndexFix) wrapper.uniqueIndexFix = (fields) => uniqueIndexFix.call(store, fields)
  return {
    store: wrapper,
    calls,
    total: () =>
      calls.find +
      calls.insert +
      calls.insertIfAbsentAtomically +
      calls.insertIfAbsentUnderLock +
      calls.uniqueness,
  }
}

/** The error a promise rejects with; fails the test if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('Expected the call to fail, but it succeeded.')
}

function codeOf(error: unknown): string {
  if (isGetOrCreateError(error)) return error.code
  return `not a GetOrCreateError: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`
}

/** Run `tasks` with at most `limit` in flight; every outcome, in task order. */
async function settleAll<T>(
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
function interleave<T>(items: T[]): T[] {
  let state = 0x9e3779b9
  for (let i = items.length - 1; i > 0; i--) {
    state = (state * 1664525 + 1013904223) >>> 0
    const j = state % (i + 1)
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
  return items
}

/**
 * Declare the store conformance suite: every rule a {@link Store} must keep for `getOrCreate` to be correct
 * on it. Hits and misses, composite keys, the race invariants (one row per key, one `created: true`, one id
 * for every caller), refusal without a unique index (nothing written), the NULL rule, bad input refused with
 * the same codes before any I/O, lazy defaults (called only on create, at most once per call), a conflict on
 * another unique constraint rethrown, and `fresh` reads that see rows written behind the store's back.
 *
 * The test runner is passed in, so `@getorcreate/core` does not depend on one at run time.
 *
 * @example
 * ```ts
 * import { runStoreConformance } from '@getorcreate/core/testing'
 * import { describe, expect, test } from 'vitest'
 *
 * runStoreConformance({ describe, test, expect }, {
 *   name: 'my store',
 *   table: async (shape) => makeTableAndStore(shape), // see ConformanceTable
 * })
 * ```
 */
export function runStoreConformance(api: ConformanceTestApi, options: StoreConformanceOptions): void {
  const { describe, test, expect } = api
  const concurrency = options.concurrency ?? 16
  const nullKeys = options.nullKeys ?? 'refused'
  const strategy = options.strategy
  const enforcedBy = options.enforcedBy ?? 'index'

  /** Open a table, run the body with a counted store, always close. */
  async function withTable(
    shape: ConformanceShape,
    body: (table: ConformanceTable, counter: ReturnType<typeof counted>) => Promise<void>,
  ): Promise<void> {
    const table = await options.table(shape)
    try {
      const counter = counted(table.store)
      await body({ ...table, store: counter.store }, counter)
    } finally {
      await table.close?.()
    }
  }

  const run = (store: ConformanceStore, key: Record<string, unknown>, defaults?: unknown) =>
    getOrCreate(store, key, defaults as Record<string, unknown> | undefined, strategy)

  /** `concurrency` callers for each of three keys at once: one row, one `created: true`, one id per key. */
  async function raceOn({ store, count }: ConformanceTable): Promise<void> {
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

  describe(`store conformance: ${options.name}`, () => {
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
      await withTable('unique', async ({ store, count, statements }, counter) => {
        await run(store, { slug: 'hit' }, { title: 'H' })
        const callsBefore = counter.total()
        const statementsBefore = statements?.()
        const hit = await run(store, { slug: 'hit' }, () => {
          throw new Error('defaults must not be made for a hit')
        })
        expect(hit.created).toBe(false)
        expect(counter.total() - callsBefore).toBe(1)
        if (statementsBefore !== undefined) expect((statements?.() ?? 0) - statementsBefore).toBe(1)
        expect(await count()).toBe(1)
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

    test(`race: ${concurrency} callers at once per key, one row, one created, one id per key`, async () => {
      await withTable('unique', (table) => raceOn(table))
    })

    if (enforcedBy === 'index') {
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
    } else {
      test(`without a unique index the strategy keeps one row per key: ${concurrency} callers per key`, async () => {
        await withTable('no-unique', (table) => raceOn(table))
      })
    }

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
      await withTable('unique', async ({ store, count, statements }, counter) => {
        const statementsBefore = statements?.()
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
        const codes: Record<string, string> = {}
        const expected: Record<string, string> = {}
        for (const [label, promise, code] of cases) {
          codes[label] = codeOf(await rejection(promise))
          expected[label] = code
        }
        expect(codes).toEqual(expected)
        expect(counter.total()).toBe(0)
        if (statementsBefore !== undefined) expect(statements?.()).toBe(statementsBefore)
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
        const insertIfAbsentAtomically = store.insertIfAbsentAtomically?.bind(store)
        if (insertIfAbsentAtomically) {
          const direct = await rejection(
            insertIfAbsentAtomically({ slug: 'c' }, { slug: 'c', email: 'same@example.com' }),
          )
          expect(isGetOrCreateError(direct)).toBe(false)
        }
        const plain = await rejection(store.insert({ slug: 'c', email: 'same@example.com' }))
        expect(isGetOrCreateError(plain)).toBe(false)
        expect(await count({ slug: 'b' })).toBe(0)
        expect(await count({ slug: 'c' })).toBe(0)
        expect(await count()).toBe(1)
      })
    })

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
  })
}
