import { mergeDefaults } from './key.js'
import type { Defaults, NewRowValues } from './types.js'

/** Where a {@link NewRowValues} made from an object (or no `defaults`) keeps its values, for {@link valuesAtHand}. */
const AT_HAND = Symbol('getorcreate.valuesAtHand')

/**
 * The values of `values` without waiting for its promise, where {@link newRowValues} made them from an
 * object (or no `defaults`); `undefined` for any other (a `defaults` function, one a strategy made itself).
 * For a batch of a thousand keys, a thousand promises fewer.
 */
export function valuesAtHand<Values>(values: NewRowValues<Values>): Values | undefined {
  return (values as unknown as { [AT_HAND]?: Values })[AT_HAND]
}

/**
 * The one shape of `defaults` that strategies receive: `{ ...defaults, ...key }`, checked, the key merged in
 * here and nowhere else. An object (or no `defaults`) is checked and merged now, before any I/O, so bad
 * input fails the call before it reaches the strategy. A function is called on the first `values()` only (a
 * hit never calls it), and its result is checked and merged then; every later call returns that same promise,
 * so it runs at most once even if a strategy asks twice, and a function that throws synchronously rejects
 * that promise instead of being called again.
 *
 * @param key - the validated key (the facade's own copy).
 * @throws ConflictingDefaultsError for a `defaults` object that is not a plain object, names a field the
 *   store lacks (`fields`), or gives a key field another value.
 */
export function newRowValues<Values>(
  key: Record<string, unknown>,
  defaults: unknown,
  fields: readonly string[] | undefined,
): NewRowValues<Values> {
  let made: Promise<Values> | undefined
  if (typeof defaults !== 'function') {
    // Merged now (a snapshot: the caller may change its object later); the promise made on first use only,
    // since a hit never asks.
    const merged = mergeDefaults(key, defaults, fields) as Values
    const values = () => (made ??= Promise.resolve(merged))
    values.lazy = false
    ;(values as unknown as Record<symbol, unknown>)[AT_HAND] = merged
    return values
  }
  const make = defaults as () => unknown
  const values = () => {
    // The executor runs `make` now and turns a synchronous throw into this promise's rejection.
    made ??= new Promise<unknown>((resolve) => resolve(make())).then(
      (value) => mergeDefaults(key, value, fields) as Values,
    )
    return made
  }
  values.lazy = true
  return values
}

/** True for what `getOrCreate` hands a strategy, as opposed to `defaults` as 0.2 handed them over. */
function isNewRowValues<Values>(defaults: Defaults<Values>): defaults is NewRowValues<Values> {
  return typeof defaults === 'function' && typeof (defaults as { lazy?: unknown }).lazy === 'boolean'
}

/**
 * The values a create inserts, for a strategy written for 0.2.
 *
 * @deprecated Since 0.3 a strategy receives {@link NewRowValues}, already checked with the key merged in:
 * `await values()` is what to insert. Given those, this returns `values()` as they are (the key is not merged
 * a second time), so a strategy that calls it keeps working; given `defaults` as 0.2 passed them (an object,
 * or a function called here), it merges the key over them as it did. Removed in 0.4.
 */
export async function resolveValues<Key, Values>(key: Key, defaults: Defaults<Values>): Promise<Values> {
  if (isNewRowValues(defaults)) return defaults()
  const base =
    typeof defaults === 'function' ? await (defaults as () => Values | Promise<Values>)() : defaults
  return { ...base, ...key } as Values
}
