import { copyRow } from './copy-value.js'
import type { CallTrace } from './diagnostics.js'
import { isPlainObject, keyId, onlyField } from './key.js'
import type { GetOrCreateResult, NewRowValues, Store, Strategy } from './types.js'

/**
 * Where a strategy keeps its own way of running an operation that other calls joined (at least one call
 * besides the leader), called in place of its `getOrCreate` with the same arguments. Internal: the
 * constraint strategy's (which may read and insert in one statement, its cost shared by every caller).
 */
export const SHARED_OPERATION: unique symbol = Symbol('getorcreate.sharedOperation')

/** A strategy that may have a {@link SHARED_OPERATION}. */
export type SharingStrategy = Strategy & { readonly [SHARED_OPERATION]?: Strategy['getOrCreate'] }

/** A call that joined a {@link Flight}: how to settle its promise, and what it asks again with on a retry. */
interface Follower {
  readonly resolve: (result: GetOrCreateResult<unknown> | Promise<GetOrCreateResult<unknown>>) => void
  readonly reject: (error: unknown) => void
  readonly key: Record<string, unknown>
  readonly values: NewRowValues<unknown>
  readonly trace: CallTrace | undefined
}

/**
 * One operation (a strategy's `getOrCreate`), begun by its first call (the leader), and the calls that joined
 * it. The leader's promise and every follower's are settled in one callback, when the operation settles, so
 * that all of their callers resume in the same round of microtasks. Callers that then call again at once (one
 * event's handlers, a pool of workers taking the next keys) make their next calls before the first of them
 * begins its operation, and share it as the first calls did. (A follower settled one round later, as an
 * `async` function awaiting the leader's promise would be, calls again after the next operation began: a
 * burst of callers shared only its first operation.)
 */
class Flight {
  /** The calls that joined the operation, in the order they came. */
  readonly followers: Follower[] = []
  /**
   * Set once the operation asked for its leader's values (a create was attempted): a failure from then on may
   * come from those values (its `defaults` function, or a row the database refused: NOT NULL, CHECK, a
   * foreign key…), which are no reason to fail the calls that joined it, so they try again on their own.
   */
  valuesAsked = false
  /** The leader's trace, when it is traced: a joining call's `missed` is the leader's. */
  trace: CallTrace | undefined
}

/**
 * One store's open operations, per key: the operation begun in this tick, which the calls made in the same
 * tick join. An operation leaves it when it begins, the microtasks of the tick it was opened in having run:
 * its key's entry is set to `undefined`, not deleted. A `Map` shrinks its table as entries are deleted and
 * grows it again as they are added, and a store's open operations go from none to a tick's calls and back
 * every tick: deleted, that cost 0.2-0.3 µs a call. The entries are dropped all at once (the map cleared, in
 * {@link OpenFlights.begin}) when no operation is open and they are more than {@link OpenFlights.KEPT}.
 */
export class OpenFlights {
  /** Past this many entries, the map is cleared once no operation is open. */
  static readonly KEPT = 1024
  readonly #byKey = new Map<string, Flight | undefined>()
  /** How many operations are open (not yet begun). */
  #open = 0

  /** How many keys it holds an entry for: open operations, and keys whose operation began since the last clear. */
  get size(): number {
    return this.#byKey.size
  }

  /** The open operation for `id`, if any. */
  get(id: string): Flight | undefined {
    return this.#byKey.get(id)
  }

  /** Opens `flight` for `id`. */
  open(id: string, flight: Flight): void {
    this.#byKey.set(id, flight)
    this.#open++
  }

  /** `flight`, opened for `id`, begins: no call joins it from now on. */
  begin(id: string, flight: Flight): void {
    if (this.#byKey.get(id) === flight) this.#byKey.set(id, undefined)
    if (--this.#open === 0 && this.#byKey.size > OpenFlights.KEPT) this.#byKey.clear()
  }
}

/**
 * One store's open operations (for one strategy object), in two {@link OpenFlights}: `byValue` for the keys of
 * one field holding a string (the first such field met: most stores take one key shape), by the string itself;
 * `byId` for every other key, by its {@link keyId}. Two keys of that field are one key exactly when their
 * strings are equal, as their `keyId`s would be (the field's quoted name, a tag for strings, the string): the
 * string itself spares building and hashing a new string a call (a tenth of a hit's CPU in one process).
 */
class StoreFlights {
  /** The field whose string values key {@link byValue}: the first one-field key with a string value's. */
  field: string | undefined = undefined
  readonly byValue = new OpenFlights()
  readonly byId = new OpenFlights()
}

/**
 * Per strategy object, per store object: its {@link StoreFlights}. WeakMaps, so that a strategy or a store the
 * caller dropped takes its entries with it.
 */
const flights = new WeakMap<object, WeakMap<object, StoreFlights>>()

function flightsOf(strategy: object, store: object): StoreFlights {
  let byStore = flights.get(strategy)
  if (!byStore) {
    byStore = new WeakMap()
    flights.set(strategy, byStore)
  }
  let byKey = byStore.get(store)
  if (!byKey) {
    byKey = new StoreFlights()
    byStore.set(store, byKey)
  }
  return byKey
}

/** `values`, noting in `flight` when the operation asks for them (see {@link Flight.valuesAsked}). */
function watchedValues<Values>(values: NewRowValues<Values>, flight: Flight): NewRowValues<Values> {
  const watched = () => {
    flight.valuesAsked = true
    return values()
  }
  watched.lazy = values.lazy
  return watched
}

/** A value no copy can reproduce exactly: the row is then shared, as it is. */
const UNCOPYABLE = Symbol('uncopyable')

/**
 * The row for a call that joined another's operation (or a repeated key of `getOrCreateMany`): a deep copy, so that a caller that changes its row
 * does not change another's; the row itself when it holds a value that cannot be copied exactly (a class
 * instance from a custom column type) or is not a plain object.
 */
export function rowForFollower<Row>(row: Row): Row {
  if (!isPlainObject(row)) return row
  try {
    return copyRow(row, () => {
      throw UNCOPYABLE
    }) as Row
  } catch (error) {
    if (error === UNCOPYABLE) return row
    throw error
  }
}

/**
 * `strategy.getOrCreate(store, key, values)`, shared with the other calls of this process for the same
 * strategy object, store object and key (keys that encode alike, as `encodeKey` says) made in the same tick:
 * see {@link Strategy.singleFlight}.
 *
 * - The first call leads: the operation runs with its `values`, and it gets the operation's result as it is.
 *   Every call that joins it gets `{ row, created: false }`, its own copy of the row; its `defaults` are never
 *   called.
 * - The operation begins in a microtask queued by the first call; the calls made before that microtask runs
 *   (synchronously after the first, or from microtasks queued before it) join it. No event can reach the
 *   process between the first call and the operation's start, so what each gets is the state of the
 *   database at some moment during its own call, even on stores whose reads run synchronously. A call made
 *   later runs its own operation, concurrently with the first, as without single flight.
 * - A failure before the operation asked for the leader's values (a read, the catalog check) fails every
 *   call that shared it, with the same error. A failure after it may come from those values (the leader's
 *   `defaults` function, or a row the database refused), so the other calls try again: the first of them
 *   leads a new operation with its own values, which the rest join.
 */
export function sharedGetOrCreate<Row, Key, Values>(
  strategy: Strategy,
  store: Store<Row, Key, Values>,
  key: Record<string, unknown>,
  values: NewRowValues<Values>,
  trace?: CallTrace,
): Promise<GetOrCreateResult<Row>> {
  const ofStore = flightsOf(strategy, store)
  const name = onlyField(key)
  const value = name === undefined ? undefined : key[name]
  let byKey: OpenFlights
  let id: string
  // The first one-field key with a string value names the field (`name` is defined: `value` is its value).
  if (typeof value === 'string' && (ofStore.field ?? name) === name) {
    ofStore.field = name
    byKey = ofStore.byValue
    id = value
  } else {
    byKey = ofStore.byId
    id = keyId(key)
  }
  const open = byKey.get(id)
  // The leader's caller gets the promise the operation's end settles, in the same callback as its followers'.
  if (!open) return lead(byKey, id, strategy, store, key, values, trace)
  return follow<Row>(open, key, values as NewRowValues<unknown>, trace)
}

/** A call that joins `open`: a promise that the operation's end settles (see {@link Flight}). */
function follow<Row>(
  open: Flight,
  key: Record<string, unknown>,
  values: NewRowValues<unknown>,
  trace: CallTrace | undefined,
): Promise<GetOrCreateResult<Row>> {
  return new Promise<GetOrCreateResult<Row>>((resolve, reject) => {
    open.followers.push({
      resolve: resolve as Follower['resolve'],
      reject,
      key,
      values,
      trace,
    })
  })
}

/** Settled: each operation begins in a `then` of it (`queueMicrotask` makes an async resource a call). */
const SETTLED = Promise.resolve()

/**
 * Open the operation for `id`, led by this call, and begin it in a microtask: every call made before that
 * (synchronously after this one, or from a microtask queued before it) joins it, and it reads nothing before
 * they were made, even on a store whose reads run synchronously (memoryStore, better-sqlite3).
 */
function lead<Row, Key, Values>(
  byKey: OpenFlights,
  id: string,
  strategy: Strategy,
  store: Store<Row, Key, Values>,
  key: Record<string, unknown>,
  values: NewRowValues<Values>,
  trace: CallTrace | undefined,
): Promise<GetOrCreateResult<Row>> {
  const flight = new Flight()
  flight.trace = trace
  let resolve!: (result: GetOrCreateResult<Row>) => void
  let reject!: (error: unknown) => void
  const result = new Promise<GetOrCreateResult<Row>>((settle, fail) => {
    resolve = settle
    reject = fail
  })
  byKey.open(id, flight)
  // Nothing in it throws (the operation's own throw is caught below): the `then`'s promise is never rejected.
  void SETTLED.then(() => {
    byKey.begin(id, flight)
    // Alone (none can join from now on), as most calls are: the operation as it is, nothing to watch or
    // share, and its end settles the leader's promise.
    const alone = flight.followers.length === 0
    let operation: Promise<GetOrCreateResult<Row>>
    try {
      const given = alone ? values : watchedValues(values, flight)
      // Joined by other calls: the strategy's way for a shared operation, if any.
      const shared = alone ? undefined : (strategy as SharingStrategy)[SHARED_OPERATION]
      const runner: Pick<Strategy, 'getOrCreate'> = shared ? { getOrCreate: shared } : strategy
      operation = Promise.resolve(
        trace
          ? runner.getOrCreate(store, key as Key, given, trace)
          : runner.getOrCreate(store, key as Key, given),
      )
    } catch (error) {
      operation = Promise.reject(error)
    }
    if (alone) {
      operation.then(resolve, reject)
      return
    }
    operation.then(
      (settled) => {
        resolve(settled)
        for (const follower of flight.followers) {
          try {
            if (follower.trace) {
              // Its own store calls: none. Whether the row was there at first: the leader's first read says.
              follower.trace.joined = true
              follower.trace.missed = flight.trace?.missed ?? flight.valuesAsked
            }
            follower.resolve({ row: rowForFollower(settled.row), created: false })
          } catch (error) {
            // A row that cannot be read to be copied (a getter that throws): this caller gets the error.
            follower.reject(error)
          }
        }
      },
      (error: unknown) => {
        reject(error)
        for (const follower of flight.followers) {
          // A failure that may be the leader's values': the followers try again with their own (the first
          // of them leads a new operation, which the rest join).
          if (flight.valuesAsked) {
            follower.resolve(
              sharedGetOrCreate(
                strategy,
                store,
                follower.key,
                follower.values as NewRowValues<Values>,
                follower.trace,
              ),
            )
          } else follower.reject(error)
        }
      },
    )
  })
  return result
}
