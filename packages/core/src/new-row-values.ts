import { mergeDefaults } from './key.js'
import type { Defaults, NewRowValues } from './types.js'

/** Where a {@link NewRowValues} made from an object (or no `defaults`) keeps its values, for {@link valuesAtHand}. */
const AT_HAND = Symbol('getorcreate.valuesAtHand')

/**
 * The values of `values` without waiting for its promise, where {@link newRowValues} made them from an
 * object (or no `defaults`); `undefined` for any other (a `defaults` function, one a strategy made itself).
 * For a batch of a thousand keys, a thousand promises fewer.
 */
function valuesAtHand<Values>(values: NewRowValues<Values>): Values | undefined {
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
 * @param asked - a traced call's context: its `missed` is set when a strategy first asks for the values (a
 *   strategy that asks tried to create, so a row it returns uncreated is a racer's).
 * @throws ConflictingDefaultsError for a `defaults` object that is not a plain object, names a field the
 *   store lacks (`fields`), or gives a key field another value.
 */
export function newRowValues<Values>(
  key: Record<string, unknown>,
  defaults: unknown,
  fields: readonly string[] | undefined,
  asked?: { missed: boolean },
): NewRowValues<Values> {
  // Merged now (a snapshot: the caller may change its object later).
  if (typeof defaults !== 'function') {
    return mergedValues(mergeDefaults(key, defaults, fields) as Values, asked)
  }
  return madeValues(key, defaults as () => unknown, fields, asked)
}

/**
 * {@link newRowValues} of values merged from an object: the promise made on first use only, since a hit never
 * asks. A function of its own, so that the closure holds these two variables and nothing of the other kind's.
 */
function mergedValues<Values>(merged: Values, asked?: { missed: boolean }): NewRowValues<Values> {
  let made: Promise<Values> | undefined
  const values = () => {
    if (asked !== undefined) asked.missed = true
    made ??= Promise.resolve(merged)
    return made
  }
  values.lazy = false
  ;(values as unknown as Record<symbol, unknown>)[AT_HAND] = merged
  return values
}

/** {@link newRowValues} of a `defaults` function: `make` called on the first `values()` only. */
function madeValues<Values>(
  key: Record<string, unknown>,
  make: () => unknown,
  fields: readonly string[] | undefined,
  asked?: { missed: boolean },
): NewRowValues<Values> {
  let made: Promise<Values> | undefined
  const values = () => {
    if (asked !== undefined) asked.missed = true
    // The executor runs `make` now and turns a synchronous throw into this promise's rejection.
    made ??= new Promise<unknown>((resolve) => resolve(make())).then(
      (value) => mergeDefaults(key, value, fields) as Values,
    )
    return made
  }
  values.lazy = true
  return values
}

/**
 * One key of `getOrCreateMany`, as {@link Strategy.getOrCreateMany} receives it: the validated key, its id
 * (`keyId`), and `values`, the {@link NewRowValues} {@link newRowValues} would make, made on first read and the
 * same one on every read after. `defaults` as an object is checked and merged when the entry is made (so bad
 * input fails the call before any I/O); a strategy that takes the merged values at hand
 * ({@link entryValuesAtHand}) never makes `values`: a closure, a function and its properties fewer per key
 * (about 180 of the 1,700 bytes a Postgres batch allocated per key). `values` is a getter of the class, so a
 * copy of an entry by spread has none: read it from the entry.
 *
 * @throws ConflictingDefaultsError as {@link newRowValues} does.
 */
export class ManyEntry<Values> {
  /** The validated key (the facade's own copy). */
  readonly key: Record<string, unknown>
  /** The key's id, as `keyId` makes it: entries with the same id are one key. */
  readonly id: string
  /** The values merged from an object (or no `defaults`); undefined for a `defaults` function. */
  readonly [AT_HAND]: Values | undefined
  /** The `defaults` function, and the store's fields to check what it returns against; else undefined. */
  private readonly make: (() => unknown) | undefined
  private readonly fields: readonly string[] | undefined
  private made: NewRowValues<Values> | undefined

  constructor(
    key: Record<string, unknown>,
    defaults: unknown,
    fields: readonly string[] | undefined,
    id: string,
  ) {
    this.key = key
    this.id = id
    this.made = undefined
    if (typeof defaults === 'function') {
      this[AT_HAND] = undefined
      this.make = defaults as () => unknown
      this.fields = fields
    } else {
      this[AT_HAND] = mergeDefaults(key, defaults, fields) as Values
      this.make = undefined
      this.fields = undefined
    }
  }

  /** The new row's values, as `getOrCreate` hands them to a strategy. */
  get values(): NewRowValues<Values> {
    if (this.made === undefined) {
      const merged = this[AT_HAND]
      this.made =
        merged !== undefined
          ? mergedValues(merged)
          : madeValues(this.key, this.make as () => unknown, this.fields)
    }
    return this.made
  }
}

/**
 * {@link valuesAtHand} of an entry's values: a {@link ManyEntry}'s merged values without making its
 * {@link NewRowValues}; for any other entry, those of its `values`.
 */
export function entryValuesAtHand<Values>(entry: {
  readonly values: NewRowValues<Values>
}): Values | undefined {
  return entry instanceof ManyEntry ? (entry[AT_HAND] as Values | undefined) : valuesAtHand(entry.values)
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
