/**
 * The lock key's exact formula, computed independently with node:crypto: `lockKeyFor(storeName, key,
 * keyPrefix)` is `<keyPrefix>{<sha256 hex of encodeKey(storeName, key)>}`, for pinned encodings written out by
 * hand (the versioned, type-tagged, field-sorted JSON of `encodeKey`) and for arbitrary keys (fast-check).
 * `lock-key.test.ts` checks the key's shape; this file checks which bytes are hashed, and how.
 */
import { createHash } from 'node:crypto'
import { encodeKey } from '@getorcreate/core'
import { keyValue } from '@getorcreate/test-support/arbitraries'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { lockKeyFor } from '../src/index.js'

/** SHA-256 of `text` (UTF-8), lower-case hex: computed here, not by the code under test. */
const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex')

/** Store name, key, and `encodeKey`'s output for them, written out by hand. */
const PINNED: readonly [string, Record<string, unknown>, string][] = [
  ['pg:public.events', { externalId: 'evt-1' }, '["v1","pg:public.events",[["externalId","s","evt-1"]]]'],
  // Fields sorted by name; a number is tagged `n`, its text kept.
  ['items', { b: 1, a: 'x' }, '["v1","items",[["a","s","x"],["b","n","1"]]]'],
  // A bigint `i`, a Date `d` (ISO string), null `z` with no text.
  [
    'items',
    { when: new Date(0), n: 1n, z: null },
    '["v1","items",[["n","i","1"],["when","d","1970-01-01T00:00:00.000Z"],["z","z"]]]',
  ],
  // Non-ASCII text is hashed as UTF-8.
  ['pg:public.café', { slug: 'ünï 🙂' }, '["v1","pg:public.café",[["slug","s","ünï 🙂"]]]'],
]

describe('lockKeyFor: the exact formula', () => {
  it.each(PINNED)(
    '%s %o: <prefix>{sha256(encodeKey(...))}, default and custom prefix',
    (store, key, encoded) => {
      expect(encodeKey(store, key)).toBe(encoded)
      expect(lockKeyFor(store, key)).toBe(`getorcreate:lock:{${sha256(encoded)}}`)
      expect(lockKeyFor(store, key, 'myapp:')).toBe(`myapp:{${sha256(encoded)}}`)
      expect(lockKeyFor(store, key, '')).toBe(`{${sha256(encoded)}}`)
    },
  )

  it("one value in full, the README's example key: a change of encoding or hash would move every lock", () => {
    expect(lockKeyFor('pg:public.events', { externalId: 'evt-1' })).toBe(
      'getorcreate:lock:{ca5598b7dd11bd8991029121570c3a39cbafaf0cee2fb4bfd864bbaa085ce07e}',
    )
  })

  it('for any store name, key and prefix: prefix + "{" + sha256 hex of encodeKey + "}"', () => {
    const fieldName = fc.string({ minLength: 1, maxLength: 8 }).filter((name) => name !== '__proto__')
    const key = fc.dictionary(fieldName, keyValue, { minKeys: 1, maxKeys: 6 })
    const prefix = fc.string({ maxLength: 12 }).filter((text) => !text.includes('{}'))
    fc.assert(
      fc.property(fc.string(), key, prefix, (store, record, keyPrefix) => {
        expect(lockKeyFor(store, record, keyPrefix)).toBe(`${keyPrefix}{${sha256(encodeKey(store, record))}}`)
      }),
    )
  })
})
