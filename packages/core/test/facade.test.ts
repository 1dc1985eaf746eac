/** The facade and the constraint strategy over the memory store: no database needed. */
import {
  advisoryLockStrategy,
  constraintStrategy,
  GetOrCreateError,
  getOrCreate,
  getOrCreateMany,
  InvalidKeyError,
  isGetOrCreateError,
  MissingUniqueConstraintError,
  memoryStore,
  RowVanishedError,
  resolveValues,
  type Store,
  type Strategy,
  updateOrCreate,
} from '@getorcreate/core'
import { describe, expect, test } from 'vitest'

type Row = { id: number; slug: string; title?: string; tenant?: number | null }

describe('getOrCreate over memoryStore', () => {
  test('hit, miss and created flags', async () => {
    const store = memoryStore<Row>({ uniqueBy: [['slug']], autoIncrement: 'id' })
    expect(await getOrCreate(store, { slug: 'a' }, { title: 'A' })).toEqual({
      row: { id: 1, slug: 'a', title: 'A' },
      created: true,
    })
    expect(await getOrCreate(store, { slug: 'a' }, { title: 'B' })).toEqual({
      row: { id: 1, slug: 'a', title: 'A' },
      created: false,
    })
  })

  test('1,000 concurrent callers of 100 keys: one row and one created per key', async () => {
    const store = memoryStore<Row>({ uniqueBy: [['slug']], autoIncrement: 'id' })
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => getOrCreate(store, { slug: `k${i % 100}` })),
    )
    expect(store.rows()).toHaveLength(100)
    expect(results.filter((r) => r.created)).toHaveLength(100)
  })

  test('a store without a unique constraint on the key is refused, nothing written', async () => {
    const store = memoryStore<Row>({ uniqueBy: [['slug']], autoIncrement: 'id' })
    await expect(getOrCreate(store, { tenant: 1 })).rejects.toBeInstanceOf(MissingUniqueConstraintError)
    const noUnique = memoryStore<Row>()
    await expect(getOrCreate(noUnique, { slug: 'a' })).rejects.toBeInstanceOf(MissingUniqueConstraintError)
    expect(noUnique.rows()).toEqual([])
  })

  test('the catalog answer is asked once per store and key fields, and a failed look-up is asked again', async () => {
    const inner = memoryStore<Row>({ uniqueBy: [['slug']], autoIncrement: 'id' })
    let asked = 0
    let fail = true
    const store: Store<Row, Partial<Row>, Partial<Row>> = {
      ...inner,
      insertIfAbsentAtomically: inner.insertIfAbsentAtomically!,
      uniqueness: async (fields) => {
        asked++
        if (fail) {
          fail = false
          throw new Error('connection lost')
        }
        return inner.uniqueness!(fields)
      },
    }
    const strategy = constraintStrategy()
    await expect(getOrCreate(store, { slug: 'a' }, {}, strategy)).rejects.toThrow('connection lost')
    await Promise.all(Array.from({ length: 10 }, () => getOrCreate(store, { slug: 'a' }, {}, strategy)))
    expect(asked).toBe(2)
  })

  test("the store's checkKey sees the checked copy of the key and refuses it before any I/O", async () => {
    const inner = memoryStore<Row>({ uniqueBy: [['slug']], autoIncrement: 'id' })
    const seen: unknown[] = []
    let io = 0
    const store: Store<Row, Partial<Row>, Partial<Row>> = {
      name: 'checked',
      find(key) {
        io++
        return inner.find(key)
      },
      insert(values) {
        io++
        return inner.insert(values)
      },
      insertIfAbsentAtomically(key, values) {
        io++
        return inner.insertIfAbsentAtomically!(key, values)
      },
      uniqueness(fields) {
        io++
        return inner.uniqueness!(fields)
      },
      checkKey(key) {
        seen.push(key)
        if (key.slug === 'bad') throw new InvalidKeyError('slug "bad" is not a slug')
      },
    }
    const key = { slug: 'bad' }
    const error = await getOrCreate(store, key, () => ({ title: 'never' })).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(InvalidKeyError)
    expect(io).toBe(0)
    expect(seen).toEqual([{ slug: 'bad' }])
    expect(seen[0]).not.toBe(key) // the copy, not the caller's object
    expect((await getOrCreate(store, { slug: 'good' })).created).toBe(true)
    expect(io).toBeGreaterThan(0)
  })

  test('a store with only the name before 0.3 (insertIfAbsent) is still used, and the new name wins over it', async () => {
    const inner = memoryStore<Row>({ uniqueBy: [['slug']], autoIncrement: 'id' })
    const calls: string[] = []
    const { insertIfAbsentAtomically: _new, insertIfAbsent: _old, ...rest } = inner
    const oldOnly: Store<Row, Partial<Row>, Partial<Row>> = {
      ...rest,
      insertIfAbsent(key, values) {
        calls.push(`old ${String(this === oldOnly)}`)
        return inner.insertIfAbsentAtomically!(key, values)
      },
    }
    expect(await getOrCreate(oldOnly, { slug: 'a' }, { title: 'A' })).toEqual({
      row: { id: 1, slug: 'a', title: 'A' },
      created: true,
    })
    expect(calls).toEqual(['old true']) // called as a method of the store
    const both: Store<Row, Partial<Row>, Partial<Row>> = {
      ...oldOnly,
      insertIfAbsentAtomically(key, values) {
        calls.push('new')
        return inner.insertIfAbsentAtomically!(key, values)
      },
    }
    expect((await getOrCreate(both, { slug: 'b' })).created).toBe(true)
    expect(calls).toEqual(['old true', 'new'])
  })

  test('a store that answers null (as many ORMs do for none) is refused with a TypeError: no row of null, no created for an insert that wrote nothing', async () => {
    const base = memoryStore<Row>({ name: 'items', uniqueBy: [['slug']], autoIncrement: 'id' })
    const strategy = constraintStrategy({ singleFlight: false, batchReads: false })
    const nullFind: Store<Row> = Object.assign(Object.create(base) as Store<Row>, {
      find: async () => null,
    })
    await expect(getOrCreate(nullFind, { slug: 'a' }, {}, strategy)).rejects.toThrow(
      /Store items: find answered null\. A Store answers undefined where it has no row/,
    )
    await getOrCreate(base, { slug: 'b' }, { title: 'first' }, strategy)
    // An insert that found the key taken answers null: every caller's would be `created: true` with no row.
    const nullInsert: Store<Row> = Object.assign(Object.create(base) as Store<Row>, {
      find: async () => undefined,
      insertIfAbsentAtomically: async () => null,
    })
    const settled = await Promise.allSettled(
      Array.from({ length: 3 }, () => getOrCreate(nullInsert, { slug: 'b' }, { title: 'x' }, strategy)),
    )
    for (const result of settled) {
      expect(result).toMatchObject({ status: 'rejected', reason: expect.any(TypeError) })
      expect(result.status === 'rejected' && String(result.reason.message)).toMatch(
        /insertIfAbsentAtomically answered null/,
      )
    }
  })

  test("null refused elsewhere too: update, a batch that reads and inserts (on every path), the advisory lock's find-or-insert", async () => {
    const base = memoryStore<Row>({ name: 'items', uniqueBy: [['slug']], autoIncrement: 'id' })
    const strategy = constraintStrategy({ singleFlight: false, batchReads: false })
    await getOrCreate(base, { slug: 'u' }, { title: 'first' }, strategy)
    const nullUpdate: Store<Row> = Object.assign(Object.create(base) as Store<Row>, {
      update: async () => null,
    })
    await expect(updateOrCreate(nullUpdate, { slug: 'u' }, { title: 'x' }, { strategy })).rejects.toThrow(
      /Store items: update answered null/,
    )
    // A batch statement answering null: refused the first time as every time, not taken for a decline.
    const nullBatch: Store<Row> = Object.assign(Object.create(base) as Store<Row>, {
      findMany: async (keys: readonly Partial<Row>[]) => keys.map(() => undefined),
      insertManyIfAbsentAtomically: async () => undefined,
      findOrInsertManyAtomically: async () => null,
    })
    for (let round = 0; round < 3; round++) {
      await expect(
        getOrCreateMany(nullBatch, [{ key: { slug: `m${round}` }, defaults: { title: 't' } }], strategy),
      ).rejects.toThrow(/findOrInsertManyAtomically answered null, neither an array/)
    }
    const advisory = advisoryLockStrategy({ batchReads: false, singleFlight: false })
    for (const answer of [null, { row: null, created: true }]) {
      const lockStore: Store<Row> = Object.assign(Object.create(base) as Store<Row>, {
        find: async () => undefined,
        lockIdentity: async (key: Partial<Row>) => ({ table: 'items', key }),
        findOrInsertUnderAdvisoryLock: async () => answer,
      })
      await expect(getOrCreate(lockStore, { slug: 'a' }, {}, advisory)).rejects.toThrow(
        /Store items: findOrInsertUnderAdvisoryLock answered (null|\{ row: null \}), not \{ row, created \}/,
      )
    }
  })

  test('a row that keeps vanishing ends in ROW_VANISHED after maxAttempts inserts', async () => {
    let inserts = 0
    const store: Store<Row, Partial<Row>, Partial<Row>> = {
      name: 'vanishing',
      find: async () => undefined,
      insert: async () => {
        throw new Error('not used')
      },
      insertIfAbsentAtomically: async () => {
        inserts++
        return undefined
      },
      uniqueness: async () => 'enforced',
    }
    const error = await getOrCreate(store, { slug: 'a' }, {}, constraintStrategy({ maxAttempts: 4 })).catch(
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(RowVanishedError)
    expect(inserts).toBe(4)
    expect(() => constraintStrategy({ maxAttempts: 0 })).toThrow(RangeError)
  })

  test('NULL in a key where NULLs are distinct is refused', async () => {
    const store: Store<Row, Partial<Row>, Partial<Row>> = {
      ...memoryStore<Row>({ uniqueBy: [['tenant', 'slug']] }),
      uniqueness: async () => 'nulls-distinct',
    }
    await expect(getOrCreate(store, { tenant: null, slug: 'a' })).rejects.toBeInstanceOf(InvalidKeyError)
  })

  test('a custom strategy receives validated input and a once-only defaults function', async () => {
    const store = memoryStore<Row>({ uniqueBy: [['slug']], autoIncrement: 'id' })
    let made = 0
    const twice: Strategy = {
      name: 'calls-defaults-twice',
      async getOrCreate(s, _key, values) {
        const [first] = [await values(), await values()]
        return { row: await s.insert(first), created: true }
      },
    }
    await getOrCreate(store, { slug: 'z' }, () => ({ title: `made ${++made}` }), twice)
    expect(made).toBe(1)
    await expect(getOrCreate(store, { slug: 'z' }, {}, {} as Strategy)).rejects.toBeInstanceOf(TypeError)
    await expect(getOrCreate({} as Store<Row>, { slug: 'z' })).rejects.toBeInstanceOf(TypeError)
  })
})

describe('what a strategy receives: one shape of defaults', () => {
  const store = () => memoryStore<Row>({ uniqueBy: [['slug']], autoIncrement: 'id' })

  test('for an object, a function (sync or async) or nothing: a function giving the checked values with the key merged in, and whether defaults was a function', async () => {
    const received: { lazy: boolean; values: unknown }[] = []
    const inspecting: Strategy = {
      name: 'inspecting',
      async getOrCreate(s, _key, values) {
        received.push({ lazy: values.lazy, values: await values() })
        return { row: await s.insert(await values()), created: true }
      },
    }
    const rows = store()
    await getOrCreate(rows, { slug: 'o' }, { title: 'object' }, inspecting)
    await getOrCreate(rows, { slug: 's' }, () => ({ title: 'sync' }), inspecting)
    await getOrCreate(rows, { slug: 'a' }, async () => ({ title: 'async' }), inspecting)
    await getOrCreate(rows, { slug: 'n' }, undefined, inspecting)
    expect(received).toEqual([
      { lazy: false, values: { slug: 'o', title: 'object' } },
      { lazy: true, values: { slug: 's', title: 'sync' } },
      { lazy: true, values: { slug: 'a', title: 'async' } },
      { lazy: false, values: { slug: 'n' } },
    ])
    expect(rows.rows().map((row) => row.title)).toEqual(['object', 'sync', 'async', undefined])
  })

  test('made once: every call gives the same object, and a defaults function runs once even when it throws at once', async () => {
    let calls = 0
    const asksThrice: Strategy = {
      name: 'asks-thrice',
      async getOrCreate(s, _key, values) {
        // Each ask as an async call of its own, so that a throw is a rejection of that ask alone.
        const [first, ...others] = await Promise.allSettled([1, 2, 3].map(async () => values()))
        for (const other of others) expect(other).toEqual(first)
        if (first?.status !== 'fulfilled') throw first?.reason
        for (const other of others) expect((other as PromiseFulfilledResult<unknown>).value).toBe(first.value)
        return { row: await s.insert(first.value), created: true }
      },
    }
    const made = await getOrCreate(store(), { slug: 'a' }, () => ({ title: `call ${++calls}` }), asksThrice)
    expect([calls, made.row.title]).toEqual([1, 'call 1'])

    const thrown = new Error('no defaults today')
    calls = 0
    const error = await getOrCreate(
      store(),
      { slug: 'b' },
      () => {
        calls++
        throw thrown
      },
      asksThrice,
    ).catch((e: unknown) => e)
    expect([error, calls]).toEqual([thrown, 1])
  })

  test('the key is merged once: the constraint strategy inserts the very object the facade made, and the deprecated resolveValues returns it as is', async () => {
    const inner = store()
    const inserted: unknown[] = []
    const recording: Store<Row, Partial<Row>, Partial<Row>> = {
      ...inner,
      insertIfAbsentAtomically(key, values) {
        inserted.push(values)
        return inner.insertIfAbsentAtomically!(key, values)
      },
    }
    const constraint = constraintStrategy()
    const made: unknown[] = []
    const watching: Strategy = {
      name: 'watching',
      async getOrCreate(s, key, values) {
        const result = await constraint.getOrCreate(s, key, values)
        made.push(await values())
        return result
      },
    }
    await getOrCreate(recording, { slug: 'f' }, () => ({ title: 'F' }), watching)
    expect(inserted).toHaveLength(1)
    expect(inserted[0]).toBe(made[0])
    await getOrCreate(recording, { slug: 'o' }, { title: 'O' }, watching)
    expect(inserted).toHaveLength(2)
    expect(inserted[1]).toBe(made[1])

    const legacy: Strategy = {
      name: 'legacy',
      async getOrCreate(s, key, values) {
        const resolved = await resolveValues(key, values)
        expect(resolved).toBe(await values())
        return { row: await s.insert(resolved), created: true }
      },
    }
    const { row } = await getOrCreate(store(), { slug: 'l' }, async () => ({ title: 'L' }), legacy)
    expect(row).toEqual({ id: 1, slug: 'l', title: 'L' })
  })

  test('a strategy written for 0.2, which calls a defaults function and merges the key itself, still works', async () => {
    const rows = store()
    const written: unknown[] = []
    const old: Strategy = {
      name: 'written-for-0.2',
      async getOrCreate(s, key, defaults: unknown) {
        const found = await s.find(key)
        if (found !== undefined) return { row: found, created: false }
        const base =
          typeof defaults === 'function' ? await (defaults as () => Promise<object>)() : (defaults as object)
        written.push({ ...base, ...(key as object) })
        return { row: await s.insert({ ...base, ...(key as object) } as never), created: true }
      },
    }
    await getOrCreate(rows, { slug: 'o' }, { title: 'object' }, old)
    await getOrCreate(rows, { slug: 'f' }, () => ({ title: 'function' }), old)
    expect(written).toEqual([
      { slug: 'o', title: 'object' },
      { slug: 'f', title: 'function' },
    ])
  })
})

describe('the key is copied once checked', () => {
  const store = () => memoryStore<Row>({ uniqueBy: [['slug']], autoIncrement: 'id' })

  test("a defaults function that changes the caller's key object cannot make the call create another key's row", async () => {
    const rows = store()
    const key = { slug: 'a' }
    const result = await getOrCreate(rows, key, () => {
      key.slug = 'b'
      return { title: 'T' }
    })
    expect(result).toEqual({ row: { id: 1, slug: 'a', title: 'T' }, created: true })
    expect(rows.rows()).toEqual([{ id: 1, slug: 'a', title: 'T' }])
  })

  test("a defaults function that changes the key's Date or bytes in place cannot make the call create another key's row", async () => {
    type Stamped = { id: number; at: Date; tag: Uint8Array; title?: string }
    const rows = memoryStore<Stamped>({ uniqueBy: [['at', 'tag']], autoIncrement: 'id' })
    const at = new Date('2024-05-01T10:00:00.000Z')
    const key = { at, tag: new Uint8Array([1, 2]) }
    const result = await getOrCreate(rows, key, () => {
      key.at.setTime(0)
      key.tag[0] = 9
      return { title: 'T' }
    })
    expect(result.row.at.toISOString()).toBe('2024-05-01T10:00:00.000Z')
    expect([...result.row.tag]).toEqual([1, 2])
    const again = { at: new Date('2024-05-01T10:00:00.000Z'), tag: new Uint8Array([1, 2]) }
    expect(await getOrCreate(rows, again)).toEqual({ row: result.row, created: false })
    expect(rows.rows()).toHaveLength(1)
  })

  test('a getter on the key is read once: the call looks up and creates the key it checked', async () => {
    const rows = store()
    let reads = 0
    const key = {
      get slug() {
        reads++
        return reads === 1 ? 'a' : 'b'
      },
    }
    const result = await getOrCreate(rows, key, { title: 'T' })
    expect(result).toEqual({ row: { id: 1, slug: 'a', title: 'T' }, created: true })
    expect(rows.rows()).toEqual([{ id: 1, slug: 'a', title: 'T' }])
    expect(reads).toBe(1)
  })

  test('what a strategy receives is a fresh copy of the key, in which a field named __proto__ stays a field', async () => {
    const received: unknown[] = []
    const inspecting: Strategy = {
      name: 'inspecting',
      async getOrCreate(s, key, values) {
        received.push(key)
        return { row: await s.insert(await values()), created: true }
      },
    }
    const key = JSON.parse('{"slug":"a","__proto__":"p"}') as { slug: string }
    await getOrCreate(memoryStore<Row>(), key, undefined, inspecting)
    expect(received[0]).not.toBe(key)
    expect(Object.getPrototypeOf(received[0])).toBe(Object.prototype)
    expect(Object.keys(received[0] as object)).toEqual(['slug', '__proto__'])
  })

  test('the values a strategy inserts are { ...defaults, ...key } as an object literal spreads them', async () => {
    const received: Record<string | symbol, unknown>[] = []
    const inspecting: Strategy = {
      name: 'inspecting',
      async getOrCreate(s, _key, values) {
        const merged = (await values()) as Record<string | symbol, unknown>
        received.push(merged)
        return { row: await s.insert(merged as never), created: true }
      },
    }
    const tag = Symbol('tag')
    const hidden = Symbol('hidden')
    let reads = 0
    // A field named __proto__ (from JSON) stays a field; an enumerable symbol is copied, a non-enumerable one
    // is not; a getter is read once; the key wins over defaults that repeat it.
    const defaults = JSON.parse('{"title":"T","__proto__":"p","slug":"a"}') as Record<
      string | symbol,
      unknown
    >
    defaults[tag] = 'sym'
    Object.defineProperty(defaults, hidden, { value: 'no', enumerable: false })
    Object.defineProperty(defaults, 'body', {
      enumerable: true,
      get() {
        reads++
        return 'B'
      },
    })
    await getOrCreate(memoryStore<Row>(), { slug: 'a' }, defaults as never, inspecting)
    const merged = received[0] as Record<string | symbol, unknown>
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype)
    expect(Object.keys(merged)).toEqual(['title', '__proto__', 'slug', 'body'])
    expect(merged).toEqual({ title: 'T', ['__proto__']: 'p', slug: 'a', body: 'B', [tag]: 'sym' })
    expect(Object.getOwnPropertySymbols(merged)).toEqual([tag])
    expect(reads).toBe(1)
    expect(merged).toEqual({ ...defaults, slug: 'a' })
  })

  test('a defaults object is read when the call is made: changing it afterwards does not change the row', async () => {
    const rows = store()
    const defaults = { title: 'first' }
    const pending = getOrCreate(rows, { slug: 'a' }, defaults)
    defaults.title = 'changed'
    await expect(pending).resolves.toEqual({ row: { id: 1, slug: 'a', title: 'first' }, created: true })
  })
})

describe('errors', () => {
  test('stable codes, names, causes, and a guard that needs no instanceof', () => {
    const cause = new Error('driver')
    const error = new MissingUniqueConstraintError('public.items', ['slug'], { cause })
    expect(error).toBeInstanceOf(GetOrCreateError)
    expect(error.code).toBe('MISSING_UNIQUE_CONSTRAINT')
    expect(error.name).toBe('MissingUniqueConstraintError')
    expect(error.cause).toBe(cause)
    expect(error.columns).toEqual(['slug'])
    expect(error.retryable).toBe(false)
    expect(isGetOrCreateError(error)).toBe(true)
    expect(isGetOrCreateError(new Error('x'))).toBe(false)
    expect(isGetOrCreateError(null)).toBe(false)
    expect(isGetOrCreateError({ code: 'INVALID_KEY' })).toBe(false)
    // The brand's key in the global symbol registry is what every copy and version of the package shares:
    // pinned here, with no build needed. Errors thrown by real other copies (the CommonJS and ESM builds,
    // loaded beside these sources) are checked in cross-copy.test.ts, which needs the build.
    const foreign = Object.defineProperty(new Error('other copy'), Symbol.for('getorcreate.error'), {
      value: true,
    })
    expect(isGetOrCreateError(foreign)).toBe(true)
  })
})
