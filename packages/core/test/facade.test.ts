/** The facade and the constraint strategy over the memory store: no database needed. */
import {
  constraintStrategy,
  GetOrCreateError,
  getOrCreate,
  InvalidKeyError,
  isGetOrCreateError,
  MissingUniqueConstraintError,
  memoryStore,
  RowVanishedError,
  type Store,
  type Strategy,
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
      async getOrCreate(s, _key, defaults) {
        const make = defaults as () => Promise<never>
        const [values] = [await make(), await make()]
        return { row: await s.insert(values), created: true }
      },
    }
    await getOrCreate(store, { slug: 'z' }, () => ({ title: `made ${++made}` }), twice)
    expect(made).toBe(1)
    await expect(getOrCreate(store, { slug: 'z' }, {}, {} as Strategy)).rejects.toBeInstanceOf(TypeError)
    await expect(getOrCreate({} as Store<Row>, { slug: 'z' })).rejects.toBeInstanceOf(TypeError)
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
    // The brand is global (Symbol.for), so an error from another copy of the package is recognised.
    const foreign = Object.defineProperty(new Error('other copy'), Symbol.for('getorcreate.error'), {
      value: true,
    })
    expect(isGetOrCreateError(foreign)).toBe(true)
  })
})
