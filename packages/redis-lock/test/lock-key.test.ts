import { encodeKey } from '@getorcreate/core'
import { keyValue } from '@getorcreate/test-support/arbitraries'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { lockKeyFor } from '../src/index.js'

const HASH_TAGGED = /^getorcreate:lock:\{[0-9a-f]{64}\}$/

const fieldName = fc.string({ minLength: 1, maxLength: 8 }).filter((name) => name !== '__proto__')
const key = fc.dictionary(fieldName, keyValue, { minKeys: 1, maxKeys: 6 })

function shuffled(record: Record<string, unknown>, order: readonly number[]): Record<string, unknown> {
  const entries = Object.entries(record)
  const moved = entries.map((entry, i) => ({ entry, rank: order[i % order.length] ?? 0 }))
  moved.sort((a, b) => a.rank - b.rank)
  return Object.fromEntries(moved.map(({ entry }) => entry))
}

describe('lockKeyFor', () => {
  it('ignores field order', () => {
    fc.assert(
      fc.property(fc.string(), key, fc.array(fc.integer(), { minLength: 1 }), (store, record, order) => {
        const other = shuffled(record, order)
        expect(lockKeyFor(store, other)).toBe(lockKeyFor(store, record))
      }),
    )
  })

  it('is a sha256 of the canonical encoding, inside a Cluster hash tag', () => {
    fc.assert(
      fc.property(fc.string(), key, (store, record) => {
        const lock = lockKeyFor(store, record)
        expect(lock).toMatch(HASH_TAGGED)
        // The hash tag is the only {…} in the key, so Cluster hashes exactly the digest.
        expect(lock.indexOf('{')).toBe(lock.lastIndexOf('{'))
        expect(lockKeyFor(store, record, 'app:locks:')).toBe(lock.replace('getorcreate:lock:', 'app:locks:'))
      }),
    )
  })

  it('never lets 1 / "1", a Date / its ISO string, null / "null", 1n / 1 collide', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fieldName,
        fc.integer(),
        fc.date({ noInvalidDate: true }),
        (store, field, n, date) => {
          const pairs: [unknown, unknown][] = [
            [n, String(n)],
            [date, date.toISOString()],
            [null, 'null'],
            [BigInt(n), n],
            [BigInt(n), String(n)],
            [true, 'true'],
            [true, 1],
            [date, date.getTime()],
          ]
          for (const [a, b] of pairs) {
            expect(lockKeyFor(store, { [field]: a })).not.toBe(lockKeyFor(store, { [field]: b }))
          }
        },
      ),
    )
  })

  it('gives different keys to different keys (different encodings never share a lock key)', () => {
    fc.assert(
      fc.property(fc.string(), key, key, (store, a, b) => {
        fc.pre(encodeKey(store, a) !== encodeKey(store, b))
        expect(lockKeyFor(store, a)).not.toBe(lockKeyFor(store, b))
      }),
    )
  })

  it('separates stores', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), key, (s1, s2, record) => {
        fc.pre(s1 !== s2)
        expect(lockKeyFor(s1, record)).not.toBe(lockKeyFor(s2, record))
      }),
    )
  })

  it('refuses keys getOrCreate refuses', () => {
    expect(() => lockKeyFor('s', {})).toThrow(expect.objectContaining({ code: 'INVALID_KEY' }))
    expect(() => lockKeyFor('s', { a: undefined })).toThrow(expect.objectContaining({ code: 'INVALID_KEY' }))
    expect(() => lockKeyFor('s', { a: Number.NaN })).toThrow(expect.objectContaining({ code: 'INVALID_KEY' }))
  })
})
