import { ConflictingDefaultsError, encodeKey, InvalidKeyError, validateKey } from '@getorcreate/core'
import { keyValue } from '@getorcreate/test-support/arbitraries'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { entriesInKeyOrder, keyOrder } from '../src/drizzle/common/batch-claims.js'
import { keyId, mergeDefaults } from '../src/key.js'

describe('encodeKey', () => {
  test('field order does not matter', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1 }), keyValue, { minKeys: 1 }), (key) => {
        const reversed = Object.fromEntries(Object.entries(key).reverse())
        expect(encodeKey('s', reversed)).toBe(encodeKey('s', key))
      }),
    )
  })

  test('values of different types never collide', () => {
    const pairs: [unknown, unknown][] = [
      [1, '1'],
      [1, 1n],
      ['1', 1n],
      [null, 'null'],
      [true, 'true'],
      [true, 1],
      [new Date(0), new Date(0).toISOString()],
      [new Date(0), 0],
      [new Uint8Array([1]), '01'],
    ]
    for (const [a, b] of pairs)
      expect(encodeKey('s', { f: a }), `${String(a)} vs ${String(b)}`).not.toBe(encodeKey('s', { f: b }))
    fc.assert(
      fc.property(keyValue, keyValue, (a, b) => {
        const same = encodeKey('s', { f: a }) === encodeKey('s', { f: b })
        const equal =
          typeof a === typeof b &&
          (a instanceof Date && b instanceof Date
            ? a.getTime() === b.getTime()
            : Object.is(a, b) || (a === 0 && b === 0))
        expect(same).toBe(equal)
      }),
    )
  })

  test('the store name and the field names are part of the key, unambiguously', () => {
    expect(encodeKey('a', { f: 1 })).not.toBe(encodeKey('b', { f: 1 }))
    expect(encodeKey('s', { a: 1, b: 2 })).not.toBe(encodeKey('s', { a: 2, b: 1 }))
    expect(encodeKey('s', { 'a","b': 1 })).not.toBe(encodeKey('s', { a: 'b', b: 1 }))
  })
})

describe('validateKey', () => {
  test.each([
    ['undefined', undefined],
    ['null', null],
    ['a string', 'slug'],
    ['an array', ['a']],
    ['a Map', new Map([['a', 1]])],
    ['a class instance', new (class Key {})()],
    ['an empty object', {}],
    ['an undefined value', { a: undefined }],
    ['NaN', { a: Number.NaN }],
    ['Infinity', { a: Number.POSITIVE_INFINITY }],
    ['an invalid Date', { a: new Date('nope') }],
    ['a nested object', { a: { b: 1 } }],
    ['an array value', { a: [1] }],
    ['a function value', { a: () => 1 }],
    ['a symbol value', { a: Symbol('x') }],
    ['a symbol key', { [Symbol('x')]: 1 }],
  ])('refuses %s', (_, key) => {
    expect(() => validateKey(key)).toThrow(InvalidKeyError)
  })

  test('refuses fields the table lacks, naming them and the known ones', () => {
    expect(() => validateKey({ slug: 'a', nope: 1 }, ['id', 'slug'])).toThrow(/"nope".*Its fields: id, slug/)
  })

  test('accepts every scalar a unique index compares, and null-prototype objects', () => {
    const key = Object.assign(Object.create(null) as Record<string, unknown>, {
      s: 'x',
      n: 1.5,
      i: 2n,
      b: false,
      d: new Date(0),
      x: Buffer.from('ab'),
      z: null,
    })
    expect(validateKey(key)).toEqual(['b', 'd', 'i', 'n', 's', 'x', 'z'])
  })
})

describe('mergeDefaults', () => {
  test('the key wins, and repeating a key value is allowed', () => {
    expect(mergeDefaults({ a: 1 }, { a: 1, b: 2 })).toEqual({ a: 1, b: 2 })
    expect(mergeDefaults({ d: new Date(5) }, { d: new Date(5) })).toEqual({ d: new Date(5) })
  })
  test('refuses another value for a key field, non-plain defaults and unknown fields', () => {
    expect(() => mergeDefaults({ a: 1 }, { a: 2 })).toThrow(ConflictingDefaultsError)
    expect(() => mergeDefaults({ a: 1 }, { a: '1' })).toThrow(ConflictingDefaultsError)
    expect(() => mergeDefaults({ a: 1 }, [1])).toThrow(ConflictingDefaultsError)
    expect(() => mergeDefaults({ a: 1 }, { c: 1 }, ['a', 'b'])).toThrow(/"c"/)
  })
})

describe('keyId and keyOrder', () => {
  test('keyId tells keys apart exactly as encodeKey does (one field and several, any values)', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ minLength: 1 }), keyValue, { minKeys: 1, maxKeys: 3 }),
        fc.dictionary(fc.string({ minLength: 1 }), keyValue, { minKeys: 1, maxKeys: 3 }),
        (a, b) => {
          expect(keyId(a) === keyId(b)).toBe(encodeKey('s', a) === encodeKey('s', b))
        },
      ),
    )
    expect(keyId({ slug: 'a' })).toBe(keyId({ slug: 'a' }))
    expect(keyId({ slug: '1' })).not.toBe(keyId({ slug: 1 }))
  })

  test("keyOrder sorts keys of one text field as keyId orders them (the batches' write order)", () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { maxLength: 40 }), (texts) => {
        const keys = texts.map((slug) => ({ slug }))
        const byId = keys
          .map((key, i) => [keyId(key), i] as const)
          .sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] - y[1]))
          .map(([, i]) => i)
        expect(keyOrder(keys)).toEqual(byId)
      }),
    )
    // Keys of other values, and of several fields, by keyId itself.
    const mixed = [{ n: 2 }, { n: 10 }, { n: 1 }]
    expect(keyOrder(mixed)).toEqual([2, 1, 0]) // 'n1' < 'n10' < 'n2'
  })

  test('entriesInKeyOrder: the entries themselves, in keyOrder of their keys', () => {
    const entries = [
      { key: { slug: 'b' }, values: { n: 1 } },
      { key: { slug: 'a' }, values: { n: 2 } },
      { key: { slug: 'c' }, values: { n: 3 } },
    ]
    const ordered = entriesInKeyOrder(entries)
    expect(ordered.map((entry) => entry.values.n)).toEqual([2, 1, 3])
    expect(ordered[0]).toBe(entries[1])
    // Keys of two fields, by keyId.
    const pairs = [{ key: { a: 2, b: 'x' } }, { key: { a: 1, b: 'y' } }]
    expect(entriesInKeyOrder(pairs)).toEqual(keyOrder(pairs.map((entry) => entry.key)).map((i) => pairs[i]))
    expect(entriesInKeyOrder([])).toEqual([])
  })
})
