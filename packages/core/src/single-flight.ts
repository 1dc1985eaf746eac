import { copyRow } from './copy-value.js'
import { KeyRewrittenError } from './errors.js'
import { isPlainObject, keyId } from './key.js'
import type { GetOrCreateResult, NewRowValues, Store, Strategy } from './types.js'

/**
 * One operation (a strategy's `getOrCreate`), begun by its first call (the leader), and the state the calls
 * that joined it read.
 */
class Flight {
  /** The operation's result. */
  result!: Promise<GetOrCreateResult<unknown>>
  /** Set when the operation's failure came from its leader's own `defaults`: its followers try again. */
  leaderDefaultsFailed = false
}

/**
 * Per strategy object, per store object, per key: the operation begun in this tick, which the calls made in
 * the same tick join. An entry lives until the microtasks of the tick it was made in have run. WeakMaps, so
 * that a strategy or a store the caller dropped takes its entries with it.
 */
const flights = new WeakMap<object, WeakMap<object, Map<string, Flight>>>()

function flightsOf(strategy: object, store: object): Map<string, Flight> {
  let byStore = flights.get(strategy)
  if (!byStore) {
    byStore = new WeakMap()
    flights.set(strategy, byStore)
  }
  let byKey = byStore.get(store)
  if (!byKey) {
    byKey = new Map()
    byStore.set(store, byKey)
  }
  return byKey
}

/**
 * `values`, remembering in `flight` whether it rejected: the leader's own `defaults` failed (its function
 * threw, or what it returned was refused), which is no reason to fail the calls that joined it.
 */
function watchedValues<Values>(values: NewRowValues<Values>, flight: Flight): NewRowValues<Values> {
  // Values made from an object (or none) were checked before the call: they cannot fail.
  if (values.lazy === false) return values
  const watched = () =>
    values().catch((error: unknown) => {
      flight.leaderDefaultsFailed = true
      throw error
    })
  return Object.assign(watched, { lazy: values.lazy })
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
 * The error of a shared operation, for a call that joined it: the same error, but for one that tells of
 * the leader's own write (a row stored under a rewritten key, `written: true`), which this call did not make.
 */
function errorForFollower(error: unknown): unknown {
  if (!(error instanceof KeyRewrittenError) || !error.written) return error
  return new KeyRewrittenError(
    `A trigger rewrote the key of the row that another call of this process inserted for this key of ` +
      `${error.store} (this call shared that call's operation: single flight), so no row compares equal to ` +
      `the key. Nothing was written by this call. Normalize the key before calling, as the trigger does, or ` +
      `make the trigger leave key columns alone.`,
    { store: error.store, triggers: error.triggers, cause: error },
  )
}

/**
 * `strategy.getOrCreate(store, key, values)`, shared with the other calls of this process for the same
 * strategy object, store object and key (keys that encode alike, as `encodeKey` says) made in the same tick:
 * see {@link Strategy.singleFlight}.
 *
 * - The first call leads: the operation runs at once with its `values`, and it gets the operation's result as
 *   it is. Every call that joins it gets `{ row, created: false }`, its own copy of the row; its `defaults`
 *   are never called.
 * - Only calls made in the leader's tick join: synchronously after it, or from microtasks queued before it
 *   began (its entry is dropped by a microtask queued then). No event can reach the process between the
 *   leader's call and theirs, so what they get is what a read of their own sent at that moment would get. A call made
 *   later runs its own operation, concurrently with the first, as without single flight: it never waits
 *   for another call's operation to end.
 * - A failed operation fails every call that shared it, with the same error; but when it failed in its
 *   leader's own `defaults` (its function threw, or what it returned was refused), the other calls try again,
 *   in an operation of their own, and a `KeyRewrittenError` that reports the leader's row as `written`
 *   reaches the others as one that does not.
 */
export function sharedGetOrCreate<Row, Key, Values>(
  strategy: Strategy,
  store: Store<Row, Key, Values>,
  key: Record<string, unknown>,
  values: NewRowValues<Values>,
): Promise<GetOrCreateResult<Row>> {
  const byKey = flightsOf(strategy, store)
  const id = keyId(key)
  const open = byKey.get(id)
  // The leader's caller gets the operation's own promise: no layer of ours on the path every hit takes.
  if (!open) return lead(byKey, id, strategy, store, key, values)
  return follow(open, strategy, store, key, values)
}

/** A call that joined `open`: its row (a copy), or its error; or, if the leader's defaults failed, its own. */
async function follow<Row, Key, Values>(
  open: Flight,
  strategy: Strategy,
  store: Store<Row, Key, Values>,
  key: Record<string, unknown>,
  values: NewRowValues<Values>,
): Promise<GetOrCreateResult<Row>> {
  try {
    const { row } = await open.result
    return { row: rowForFollower(row as Row), created: false }
  } catch (error) {
    // The leader's own defaults failed: try again, in an operation of this call's own (or one that another
    // such call, resuming in the same tick, leads).
    if (open.leaderDefaultsFailed) return sharedGetOrCreate(strategy, store, key, values)
    throw errorForFollower(error)
  }
}

/** Begin the operation for `id`, led by this call, open to the calls made until this tick ends. */
function lead<Row, Key, Values>(
  byKey: Map<string, Flight>,
  id: string,
  strategy: Strategy,
  store: Store<Row, Key, Values>,
  key: Record<string, unknown>,
  values: NewRowValues<Values>,
): Promise<GetOrCreateResult<Row>> {
  const flight = new Flight()
  let result: Promise<GetOrCreateResult<Row>>
  try {
    result = strategy.getOrCreate(store, key as Key, watchedValues(values, flight))
  } catch (error) {
    result = Promise.reject(error)
  }
  // Followers await it; the leader's caller gets `result` itself, so a rejection is always handled.
  flight.result = result as Promise<GetOrCreateResult<unknown>>
  byKey.set(id, flight)
  queueMicrotask(() => {
    if (byKey.get(id) === flight) byKey.delete(id)
  })
  return result
}
