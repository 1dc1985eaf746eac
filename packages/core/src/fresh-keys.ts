import { keyId, onlyField } from './key.js'

/**
 * What {@link FreshKeyGuess.meet} tells of a key: `'met'`, among the keys met lately (most likely it has its
 * row); `'fresh'`, met for the first time where such keys mostly had no row lately (most likely it has none);
 * `'new'`, met for the first time with no such guess.
 */
export type KeyMeeting = 'met' | 'fresh' | 'new'

/**
 * A guess, for a strategy, at whether a key has a row before reading it, from the keys one store's calls met
 * lately: the latest {@link FreshKeyGuess.REMEMBERED} keys met for the first time, and how often such a key had
 * no row (a moving average over about the latest 16). The constraint strategy reads and inserts a `'fresh'` key
 * in one statement, and the Redis-lock strategy takes its lock without the lock-free read first: only a cost,
 * never another answer, since every way still settles the key by the database or the lock. Keys are remembered
 * by a 32-bit hash of their encoding (two keys that hash alike pass for one: a cost, never an answer), in a
 * `Set` of at most 4,096 numbers, at most about 160 KB whatever the keys' length; one per store object is what the
 * built-in strategies keep (in a `WeakMap`, gone with the store).
 *
 * @example
 * ```ts
 * const guesses = new WeakMap<object, FreshKeyGuess>()
 * // in a strategy's getOrCreate:
 * let guess = guesses.get(store)
 * if (!guess) guesses.set(store, (guess = new FreshKeyGuess()))
 * const meeting = guess.meet(key)
 * if (meeting === 'fresh') {
 *   // insert first; then: guess.count(created)
 * } else {
 *   const found = await store.find(key)
 *   if (meeting === 'new') guess.count(found === undefined)
 * }
 * ```
 */
export class FreshKeyGuess {
  /** How many keys met for the first time are remembered: 4,096. */
  static readonly REMEMBERED = 4096
  /** How often a key met for the first time had no row, from 0 to 1. */
  #missRate = 0
  /** The latest keys met for the first time, as {@link fingerprint}s of their `keyId`, oldest first. */
  readonly #met = new Set<number>()

  /**
   * Meets `key` (a validated key: a plain object of field → value): `'met'` if it is among the remembered
   * keys; else it is remembered from now on, and `'fresh'` where at least half of the keys met for the first
   * time lately had no row, `'new'` otherwise. Tell {@link count} what a `'fresh'` or `'new'` key turned out to be.
   */
  meet(key: Record<string, unknown>): KeyMeeting {
    const id = keyFingerprint(key)
    if (this.#met.has(id)) return 'met'
    this.#met.add(id)
    if (this.#met.size > FreshKeyGuess.REMEMBERED) {
      for (const oldest of this.#met) {
        this.#met.delete(oldest)
        break
      }
    }
    return this.#missRate >= 0.5 ? 'fresh' : 'new'
  }

  /** A key met for the first time had no row at first (`missed`), or had one. Bound: pass it as it is. */
  readonly count = (missed: boolean): void => {
    this.#missRate += ((missed ? 1 : 0) - this.#missRate) / 16
  }
}

/** FNV-1a's offset basis: the hash of no text. */
const FNV_BASIS = 0x811c9dc5

/** A 32-bit hash of `text` (FNV-1a over its UTF-16 code units), as a signed integer (a small integer to V8). */
function fingerprint(text: string): number {
  return fnvFrom(FNV_BASIS, text)
}

/** FNV-1a of `text` continued from `hash` (the hash of what came before it), as a signed integer. */
function fnvFrom(hash: number, text: string): number {
  let next = hash
  for (let i = 0; i < text.length; i++) {
    next ^= text.charCodeAt(i)
    next = Math.imul(next, 0x01000193)
  }
  return next | 0
}

/** Per field name: the hash of what `keyId` puts before a string value of that one field (up to 1,000 names). */
const stringPrefixes = new Map<string, number>()

/**
 * `fingerprint(keyId(key))`, without building keyId's string for the common key, one field holding a string:
 * the hash of its prefix (the quoted name and the tag), remembered per name, continued over the value.
 */
function keyFingerprint(key: Record<string, unknown>): number {
  const name = onlyField(key)
  const value = name === undefined ? undefined : key[name]
  if (name === undefined || typeof value !== 'string') return fingerprint(keyId(key))
  let prefix = stringPrefixes.get(name)
  if (prefix === undefined) {
    prefix = fingerprint(`${JSON.stringify(name)}s`)
    if (stringPrefixes.size < 1000) stringPrefixes.set(name, prefix)
  }
  return fnvFrom(prefix, value)
}
