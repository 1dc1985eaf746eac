import { constraintStrategy } from './constraint-strategy.js'
import { checkDefaults, mergeDefaults, validateKey } from './key.js'
import type { Defaults, GetOrCreateResult, Store, Strategy } from './types.js'

const defaultStrategy = constraintStrategy()

/** `K` with every field that `Allowed` lacks turned into `never`: a key naming an unknown column does not compile. */
export type ExactKey<K, Allowed> = K & { [P in Exclude<keyof K, keyof Allowed>]: never }

/**
 * What `defaults` must hold for a key `K`: every value a new row needs that the key does not give. Key fields
 * may be repeated (with the same value) but need not be.
 */
export type DefaultsFor<Values, K> = Omit<Values, keyof K> &
  Partial<Pick<Values, Extract<keyof K, keyof Values>>>

/**
 * Get the row for `key`, or create it with `{ ...defaults, ...key }`: exactly one row per key and exactly one
 * `created: true`, whatever the number of concurrent callers, processes or machines.
 *
 * Input is checked before any I/O: the key must be a non-empty plain object of known fields without
 * `undefined` values; `defaults` (an object, or a function called at most once and only when a create is
 * attempted) must not give a key field another value.
 *
 * @param store - where the rows live, e.g. `drizzleStore(db, table)`.
 * @param key - the lookup, e.g. `{ slug: 'a' }` or `{ tenantId, slug }`.
 * @param defaults - the other columns of a new row. Default is `{}`.
 * @param strategy - how the race is settled. Default is `constraintStrategy()`: the database's unique index.
 * @returns the row, and whether this call created it.
 * @throws InvalidKeyError, ConflictingDefaultsError, MissingUniqueConstraintError, SerializationConflictError,
 *   RowVanishedError; with a lock strategy also LockUnavailableError and LockLostError. Database errors that
 *   are not about this key (a unique violation on another column) are rethrown unchanged.
 *
 * @example
 * ```ts
 * const store = drizzleStore(db, users)
 * const { row, created } = await getOrCreate(store, { email }, () => ({ name: guessName(email) }))
 * ```
 */
export async function getOrCreate<Row, Key, Values, K extends Key>(
  store: Store<Row, Key, Values>,
  key: ExactKey<K, Key>,
  defaults?: Defaults<DefaultsFor<Values, K>>,
  strategy: Strategy = defaultStrategy,
): Promise<GetOrCreateResult<Row>> {
  if (typeof store !== 'object' || store === null || typeof store.find !== 'function') {
    throw new TypeError(
      'getOrCreate: store must be a Store (an object with find and insert), e.g. drizzleStore(db, table).',
    )
  }
  validateKey(key, store.fields)
  const record = key as Record<string, unknown>
  let checkedDefaults: Defaults<Values>
  if (typeof defaults === 'function') {
    const make = defaults as () => unknown
    let made: Promise<Values> | undefined
    // Called at most once per call, only when a strategy attempts a create; checked as soon as it returns.
    checkedDefaults = () => {
      made ??= Promise.resolve(make()).then((value) => mergeDefaults(record, value, store.fields) as Values)
      return made
    }
  } else {
    // Checked now, before any I/O; the strategy merges the key over them only when it creates.
    checkDefaults(record, defaults, store.fields)
    checkedDefaults = (defaults ?? {}) as Values
  }
  if (typeof strategy?.getOrCreate !== 'function') {
    throw new TypeError(
      'getOrCreate: strategy must be a Strategy, e.g. constraintStrategy() or redisLockStrategy().',
    )
  }
  return strategy.getOrCreate(store, key as unknown as Key, checkedDefaults)
}
