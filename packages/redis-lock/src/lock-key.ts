import { createHash } from 'node:crypto'
import { encodeKey } from '@getorcreate/core'

/** The default prefix of lock keys. */
export const DEFAULT_KEY_PREFIX = 'getorcreate:lock:'

/**
 * The Redis key of the lock that guards `key` of the store named `storeName`:
 * `<keyPrefix>{<sha256 hex of encodeKey(storeName, key)>}`. The encoding is versioned, type-tagged and sorts
 * the fields, so field order does not matter while `1` and `'1'`, a Date and its ISO string, `null` and
 * `'null'`, `1n` and `1` get different locks. The braces are a Redis Cluster hash tag: the lock and its
 * fencing counter (`<lock key>:fence`) live in one slot. Exported so operators can find a lock in Redis.
 *
 * @param storeName - the store's `name`, e.g. `'pg:public.items'`.
 * @param key - the lookup, e.g. `{ slug: 'a' }`.
 * @param keyPrefix - Default is `'getorcreate:lock:'`.
 * @throws InvalidKeyError for a key `getOrCreate` would refuse.
 *
 * @example
 * ```ts
 * lockKeyFor('pg:public.items', { slug: 'a' }) // 'getorcreate:lock:{3f0c…}'
 * ```
 */
export function lockKeyFor(
  storeName: string,
  key: Record<string, unknown>,
  keyPrefix = DEFAULT_KEY_PREFIX,
): string {
  const digest = createHash('sha256').update(encodeKey(storeName, key)).digest('hex')
  return `${keyPrefix}{${digest}}`
}
