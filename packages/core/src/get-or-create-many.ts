import { boundedEach, GET_OR_CREATE_MANY_CONCURRENCY } from './bounded-each.js'
import { defaultStrategy } from './default-strategy.js'
import { errorCodeOf, type GetOrCreateManyTrace, getOrCreateManyTracing, nameOf } from './diagnostics.js'
import { ConflictingDefaultsError, InvalidKeyError } from './errors.js'
import { isPlainObject, keyId, validatedKeyCopy } from './key.js'
import { ManyEntry } from './new-row-values.js'
import { rowForFollower } from './single-flight.js'
import type { Defaults, GetOrCreateResult, NewRowValues, Store, Strategy } from './types.js'

export { GET_OR_CREATE_MANY_CONCURRENCY } from './bounded-each.js'

/** One item of {@link getOrCreateMany}: a key, and the other values of its row if it must be created. */
export interface GetOrCreateItem<Key, Values> {
  /** The lookup, as `getOrCreate` takes it: a non-empty plain object of the store's fields. */
  readonly key: Key
  /**
   * The other values of a new row, as `getOrCreate`'s `defaults`: an object, or a function (sync or async)
   * called at most once, and only when this key's row is created. Optional. Typed loosely (any subset of the
   * insert model): unlike `getOrCreate`'s, a column the insert requires and neither key nor defaults give is
   * not a compile error but the database's error at run time.
   */
  readonly defaults?: Defaults<Partial<Values>>
}

/**
 * `error` as it was thrown for the `index`-th item, its message prefixed with where: `items[3].key: …`. Our
 * input errors keep their class and code; anything else is returned as it is.
 */
function atItem(error: unknown, index: number): unknown {
  if (error instanceof InvalidKeyError) {
    return new InvalidKeyError(`items[${index}].key: ${error.message}`, { cause: error })
  }
  if (error instanceof ConflictingDefaultsError) {
    return new ConflictingDefaultsError(`items[${index}].defaults: ${error.message}`, { cause: error })
  }
  return error
}

/**
 * Every item checked as `getOrCreate` checks its arguments, before any I/O: the key (a copy, then the
 * store's own `checkKey`) and an object `defaults`.
 */
function entriesOf<Row, Key, Values>(
  store: Store<Row, Key, Values>,
  items: readonly GetOrCreateItem<Key, Values>[],
): ManyEntry<Values>[] {
  // An index loop, not `map`: a hole in a sparse array is an item too (refused), and no Array subclass's
  // species is consulted.
  const entries: ManyEntry<Values>[] = []
  for (let index = 0; index < items.length; index++) {
    const item: unknown = items[index]
    if (!isPlainObject(item)) {
      throw new InvalidKeyError(
        `items[${index}] must be a plain object { key, defaults? }, got ${item === null ? 'null' : typeof item}.`,
      )
    }
    try {
      const key = validatedKeyCopy(item.key, store.fields)
      if (typeof store.checkKey === 'function') store.checkKey(key as Key)
      entries.push(new ManyEntry<Values>(key, item.defaults, store.fields, keyId(key)))
    } catch (error) {
      throw atItem(error, index)
    }
  }
  return entries
}

/**
 * Get or create the row of every item's key, as `getOrCreate` would for each: one `{ row, created }` per item,
 * in the order of `items`. Items whose keys are the same (as `encodeKey` encodes them: field order aside, `1`
 * and `'1'` differ) are settled once, with the first such item's `defaults`: every copy gets the same row (its
 * own copy of it), and at most the first `created: true`. Keys the database treats as equal but JavaScript
 * does not (`'bob'` and `'BOB'` under a case-insensitive collation) are settled apart, and the strategy keeps
 * them to one row as it does for two calls.
 *
 * Every item is checked before any I/O, as `getOrCreate` checks its arguments; an invalid one fails the call
 * with its error, its message prefixed with where (`items[3].key: …`), and nothing is written. The distinct
 * keys then go to the strategy's `getOrCreateMany` where it has one (`constraintStrategy()` does: three
 * statements per chunk on a store with `findMany` and `insertManyIfAbsentAtomically`, one for the keys whose
 * `defaults` are objects on a store with `findOrInsertManyAtomically` too, as the Postgres drizzle stores
 * have), else to its `getOrCreate`, {@link GET_OR_CREATE_MANY_CONCURRENCY} keys at a time. When a
 * key fails, no further key is started, the ones in flight finish, and the call rejects with the first error;
 * outside a transaction the keys settled before it keep their rows (each one is what `getOrCreate` would have
 * left), so the call can be run again as it is, but which of them it created is lost with the results.
 *
 * @param store - where the rows live, e.g. `drizzleStore(db, table)`.
 * @param items - `{ key, defaults? }` per row wanted.
 * @param strategy - how each race is settled. Default is `constraintStrategy()`.
 * @returns one `{ row, created }` per item, in input order.
 * @throws what `getOrCreate` throws; for an invalid item, its error with the item's index.
 *
 * @example
 * ```ts
 * const results = await getOrCreateMany(tags, [
 *   { key: { slug: 'news' }, defaults: { label: 'News' } },
 *   { key: { slug: 'sport' }, defaults: async () => ({ label: await labelFor('sport') }) },
 * ])
 * results[0].row.id // the row of 'news'; results[0].created: whether this call made it
 * ```
 */
export function getOrCreateMany<Row, Key, Values>(
  store: Store<Row, Key, Values>,
  items: readonly GetOrCreateItem<Key, Values>[],
  strategy: Strategy = defaultStrategy,
): Promise<GetOrCreateResult<Row>[]> {
  if (!getOrCreateManyTracing.active()) return settleItems(store, items, strategy)
  const context: GetOrCreateManyTrace = {
    operation: 'getOrCreateMany',
    store: nameOf(store),
    strategy: nameOf(strategy),
    items: Array.isArray(items) ? items.length : 0,
  }
  return getOrCreateManyTracing.channel.tracePromise(async () => {
    try {
      const results = await settleItems(store, items, strategy)
      context.outcome = 'ok'
      context.created = results.filter((result) => result.created).length
      return results
    } catch (error) {
      context.outcome = 'error'
      Object.assign(context, errorCodeOf(error))
      throw error
    }
  }, context)
}

/** {@link getOrCreateMany}, without its events. */
async function settleItems<Row, Key, Values>(
  store: Store<Row, Key, Values>,
  items: readonly GetOrCreateItem<Key, Values>[],
  strategy: Strategy,
): Promise<GetOrCreateResult<Row>[]> {
  if (typeof store !== 'object' || store === null || typeof store.find !== 'function') {
    throw new TypeError(
      'getOrCreateMany: store must be a Store (an object with find and insert), e.g. drizzleStore(db, table).',
    )
  }
  if (!Array.isArray(items)) {
    throw new TypeError(`getOrCreateMany: items must be an array of { key, defaults? }, got ${typeof items}.`)
  }
  if (typeof strategy?.getOrCreate !== 'function') {
    throw new TypeError(
      'getOrCreateMany: strategy must be a Strategy, e.g. constraintStrategy() or redisLockStrategy().',
    )
  }
  const entries = entriesOf(store, items)
  // The first item of each key settles it.
  const first = new Map<string, number>()
  entries.forEach((entry, index) => {
    if (!first.has(entry.id)) first.set(entry.id, index)
  })
  const settling = [...first.values()]
  // By item index: the result of each item that settled its key.
  const settled: (GetOrCreateResult<Row> | undefined)[] = new Array(entries.length)
  if (typeof strategy.getOrCreateMany === 'function') {
    // The entries themselves (a key and its values, and the id the strategy does not read): no object per key.
    const answers = await strategy.getOrCreateMany(
      store,
      settling.map(
        (index) => entries[index] as ManyEntry<Values> as { key: Key; values: NewRowValues<Values> },
      ),
    )
    if (!Array.isArray(answers) || answers.length !== settling.length) {
      throw new TypeError(
        `getOrCreateMany: strategy ${strategy.name}'s getOrCreateMany answered ${Array.isArray(answers) ? answers.length : typeof answers} results for ${settling.length} keys.`,
      )
    }
    settling.forEach((index, j) => {
      settled[index] = answers[j] as GetOrCreateResult<Row>
    })
    return resultsOf(entries, first, settled)
  }
  await boundedEach(settling, GET_OR_CREATE_MANY_CONCURRENCY, async (index) => {
    const entry = entries[index] as ManyEntry<Values>
    settled[index] = await strategy.getOrCreate(store, entry.key as Key, entry.values)
  })
  return resultsOf(entries, first, settled)
}

/** One result per entry: its own where it settled its key, else a copy of the first such entry's row. */
function resultsOf<Row, Values>(
  entries: readonly ManyEntry<Values>[],
  first: ReadonlyMap<string, number>,
  settled: readonly (GetOrCreateResult<Row> | undefined)[],
): GetOrCreateResult<Row>[] {
  return entries.map((entry, index) => {
    const own = settled[index]
    if (own) return own
    const { row } = settled[first.get(entry.id) as number] as GetOrCreateResult<Row>
    return { row: rowForFollower(row), created: false }
  })
}
