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

/** A call that joined a {@link Flight}: how to settle the promise it waits on, and its trace. */
interface Follower {
  readonly resolve: (result: GetOrCreateResult<unknown>) => void
  readonly reject: (error: unknown) => void
  readonly trace: CallTrace | undefined
}

/**
 * What a follower's promise is rejected with when it should try again on its own (see {@link failFollowers}):
 * never seen by a caller, as the `then` that {@link follow} registered turns it into the call's own operation.
 */
const TRY_AGAIN: unique symbol = Symbol('getorcreate.tryAgain')

/**
 * One operation (a strategy's `getOrCreate`), begun by its first call (the leader), and the calls that joined
 * it. It holds what the operation runs with, so that one function begins every operation (see
 * {@link beginNext}). The leader's promise and every follower's are settled in the same round of microtasks,
 * so that all of their callers resume together. Callers that then call again at once (one event's handlers, a
 * pool of workers taking the next keys) make their next calls before the first of them begins its operation,
 * and share it as the first calls did. (A follower settled one round later, as an `async` function awaiting
 * the leader's promise would be, calls again after the next operation began: a burst of callers shared only
 * its first operation.)
 */
export class Flight {
  /**
   * The calls that joined the operation, in the order they came; `undefined` while none has (most
   * operations: an array a call would cost every call).
   */
  followers: Follower[] | undefined = undefined
  /** Set once it began: no call joins it from then on (see {@link OpenFlights.begin}). */
  begun = false
  /** The next older open operation in its slot's chain (see {@link OpenFlights}). */
  chain: Flight | undefined = undefined
  /** Set when its slot's chain was full: it is in its store's `Map` instead. */
  crowded = false
  /**
   * Set once the operation asked for its leader's values (a create was attempted): a failure from then on may
   * come from those values (its `defaults` function, or a row the database refused: NOT NULL, CHECK, a
   * foreign key…), which are no reason to fail the calls that joined it, so they try again, each on its own.
   */
  valuesAsked = false
  constructor(
    /** Where it is open, under `id`. */
    readonly byKey: OpenFlights,
    readonly id: string,
    /** `slotOf(id)`. */
    readonly slot: number,
    readonly strategy: Strategy,
    readonly store: Store<unknown, unknown, unknown>,
    readonly key: Record<string, unknown>,
    /** The leader's values. */
    readonly values: NewRowValues<unknown>,
    /** The leader's trace, when it is traced: a joining call's `missed` is the leader's. */
    readonly trace: CallTrace | undefined,
  ) {}
}

/** How many slots {@link OpenFlights}' shared table has: a power of two. */
const SLOTS = 4096

/**
 * The slot of `id` in {@link OpenFlights}' table: a hash of its length and of its characters, all of them when
 * it has at most 48, else its first 16, its last 16 and 16 spread between (a long key costs no more than a
 * short one; keys that differ only between those land in one slot, and the table still finds each).
 */
export function slotOf(id: string): number {
  const n = id.length
  let h = n
  if (n <= 48) {
    for (let i = 0; i < n; i++) h = Math.imul(h, 31) + id.charCodeAt(i)
  } else {
    for (let i = 0; i < 16; i++) h = Math.imul(h, 31) + id.charCodeAt(i)
    const step = Math.floor((n - 32) / 16)
    for (let i = 16; i < n - 16; i += step) h = Math.imul(h, 31) + id.charCodeAt(i)
    for (let i = n - 16; i < n; i++) h = Math.imul(h, 31) + id.charCodeAt(i)
  }
  h ^= h >>> 15
  return Math.imul(h, 0x2c1b3c6d) >>> 20
}

/** {@link OpenFlights}' table, shared by every store: each slot's newest open operation (the rest through `chain`). */
const table: (Flight | undefined)[] = new Array<Flight | undefined>(SLOTS).fill(undefined)

/**
 * One store's open operations, per key: the operation opened in this tick, which the calls made in the same
 * tick join; it leaves when it begins, the microtasks of the tick it was opened in having run. Every store's
 * open operations are in one table of {@link SLOTS} slots shared by all (a flight knows its store's
 * `OpenFlights`), each slot a chain of the operations whose id has that {@link slotOf}, newest first; a chain
 * longer than {@link OpenFlights.CHAIN} goes on in a `Map` of this store's.
 *
 * Why not a `Map` for all: the open operations go from none to a tick's calls and back every tick, and a `Map`
 * per store that each operation was set in when opened and set to `undefined` in when begun (deleted, its
 * table shrank and grew again) made single flight cost a hit about 0.23 µs in one process with a store that
 * answers at once; with this table, 0.13-0.17 µs. A chain is an array store and a field's; the slot's hash
 * reads the key's characters once.
 */
export class OpenFlights {
  /** Past this many operations in one slot's chain, the next ones of this store go in its `Map`. */
  static readonly CHAIN = 8
  /** The open operations that found their slot's chain full, by id. */
  readonly #crowded = new Map<string, Flight>()
  /** How many operations are open (not yet begun). */
  #open = 0

  /** How many operations are open (not yet begun). */
  get size(): number {
    return this.#open
  }

  /** The open operation for `id`, whose slot is `slot` ({@link slotOf}), if any. */
  get(id: string, slot: number): Flight | undefined {
    for (let flight = table[slot]; flight !== undefined; flight = flight.chain) {
      if (flight.byKey === this && flight.id === id) return flight
    }
    return this.#crowded.size === 0 ? undefined : this.#crowded.get(id)
  }

  /** Opens `flight`, made for this store and slot `flight.slot` (none open for its id). */
  open(flight: Flight): void {
    let length = 0
    for (let other = table[flight.slot]; other !== undefined; other = other.chain) length++
    if (length < OpenFlights.CHAIN) {
      flight.chain = table[flight.slot]
      table[flight.slot] = flight
    } else {
      flight.crowded = true
      this.#crowded.set(flight.id, flight)
    }
    this.#open++
  }

  /** `flight`, opened here, begins: no call joins it from now on, and nothing here holds it. */
  begin(flight: Flight): void {
    if (flight.begun) return
    flight.begun = true
    this.#open--
    if (flight.crowded) {
      this.#crowded.delete(flight.id)
      return
    }
    if (table[flight.slot] === flight) table[flight.slot] = flight.chain
    else {
      let before = table[flight.slot]
      while (before !== undefined && before.chain !== flight) before = before.chain
      if (before !== undefined) before.chain = flight.chain
    }
    flight.chain = undefined
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
 * `row` for one of the callers a batch answers in turn: the row itself the first time `given` meets it, a copy
 * ({@link rowForFollower}) where the batch answered the same object to an earlier caller (a store that answers
 * one object for keys it found alike), so that no two callers share a row object.
 */
export function rowOfItsOwn<Row>(row: Row, given: Set<unknown>): Row {
  if (row === undefined || !given.has(row)) {
    given.add(row)
    return row
  }
  return rowForFollower(row)
}

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
 *   `defaults` function, or a row the database refused), so the other calls try again at once, each with an
 *   operation of its own and its own values, in its own async context. Not shared again: calls that shared
 *   each retry would fail one after another on a failure that is not the values' (a lost connection), each
 *   waiting for all the attempts before its own.
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
  const slot = slotOf(id)
  const open = byKey.get(id, slot)
  if (!open) return lead(byKey, id, slot, strategy, store, key, values, trace)
  return follow<Row>(open, key, values as NewRowValues<unknown>, trace)
}

/**
 * A call that joins `open`: a promise that the operation's end settles (see {@link Flight}), through a `then`
 * registered now, in this call's async context (`AsyncLocalStorage`): where the call must try again on its
 * own ({@link TRY_AGAIN}), its operation runs there, not in the context of the leader whose failure it saw.
 */
function follow<Row>(
  open: Flight,
  key: Record<string, unknown>,
  values: NewRowValues<unknown>,
  trace: CallTrace | undefined,
): Promise<GetOrCreateResult<Row>> {
  const joined = new Promise<GetOrCreateResult<unknown>>((resolve, reject) => {
    const follower: Follower = { resolve, reject, trace }
    if (open.followers === undefined) open.followers = [follower]
    else open.followers.push(follower)
  })
  return joined.then(undefined, (reason: unknown) => {
    if (reason !== TRY_AGAIN) throw reason
    const { strategy, store } = open
    return trace ? strategy.getOrCreate(store, key, values, trace) : strategy.getOrCreate(store, key, values)
  }) as Promise<GetOrCreateResult<Row>>
}

/** Settled: each operation begins in a `then` of it (`queueMicrotask` makes an async resource a call). */
const SETTLED = Promise.resolve()

/**
 * The operations opened and not yet begun, in the order they were opened: `beginning[next]` to `beginning[end
 * - 1]`. Each was opened with one `SETTLED.then(beginNext)`, and those callbacks run in the order they were
 * queued, so each takes the first one left: one function for every operation, not one made for each.
 */
const beginning: (Flight | undefined)[] = []
let next = 0
let end = 0

/**
 * How many begun entries {@link beginning} may hold at its front before the rest move down: callers that
 * open operations out of step (a store that answers within microtasks) may keep it from ever emptying.
 */
const COMPACT_AT = 1024

/** How many entries {@link beginning} holds, begun ones included (for tests: it stays bounded). */
export function beginQueueLength(): number {
  return beginning.length
}

/**
 * Open the operation for `id`, led by this call, and begin it in a microtask: every call made before that
 * (synchronously after this one, or from a microtask queued before it) joins it, and it reads nothing before
 * they were made, even on a store whose reads run synchronously (memoryStore, better-sqlite3). The `then`
 * runs in this call's async context (`AsyncLocalStorage`), and so does the operation.
 */
function lead<Row, Key, Values>(
  byKey: OpenFlights,
  id: string,
  slot: number,
  strategy: Strategy,
  store: Store<Row, Key, Values>,
  key: Record<string, unknown>,
  values: NewRowValues<Values>,
  trace: CallTrace | undefined,
): Promise<GetOrCreateResult<Row>> {
  const flight = new Flight(
    byKey,
    id,
    slot,
    strategy,
    store as Store<unknown, unknown, unknown>,
    key,
    values as NewRowValues<unknown>,
    trace,
  )
  byKey.open(flight)
  beginning[end++] = flight
  // The leader's promise: the operation's, adopted (see beginNext for how its followers settle with it).
  return SETTLED.then(beginNext) as Promise<GetOrCreateResult<Row>>
}

/**
 * Begins the first operation of {@link beginning}: no call joins it from now on. Alone (as most calls are),
 * the operation as it is, nothing to watch or share: the leader's promise adopts it. Joined, the leader's
 * promise adopts one that settles with the operation, and settles the followers' when it does: the leader's
 * adoption and each follower's `then` (see {@link follow}) take one more round, so the callers of all of them
 * resume in one round of microtasks (see {@link Flight}).
 */
function beginNext(): Promise<GetOrCreateResult<unknown>> {
  const flight = beginning[next] as Flight
  beginning[next++] = undefined
  if (next === end) {
    next = 0
    end = 0
    // Emptied: grown past its bound while it was not (below), it is cut back.
    if (beginning.length > COMPACT_AT) beginning.length = 0
  } else if (next >= COMPACT_AT && next * 2 >= end) {
    // Never emptied, as when every operation opens another before it begins: the waiting ones move down.
    beginning.copyWithin(0, next, end)
    end -= next
    next = 0
    beginning.length = end
  }
  flight.byKey.begin(flight)
  const { strategy, store, key, trace } = flight
  if (flight.followers === undefined) {
    return trace
      ? strategy.getOrCreate(store, key, flight.values, trace)
      : strategy.getOrCreate(store, key, flight.values)
  }
  let operation: Promise<GetOrCreateResult<unknown>>
  try {
    const given = watchedValues(flight.values, flight)
    // Joined by other calls: the strategy's way for a shared operation, if any.
    const run = (strategy as SharingStrategy)[SHARED_OPERATION] ?? strategy.getOrCreate
    operation = Promise.resolve(
      trace ? run.call(strategy, store, key, given, trace) : run.call(strategy, store, key, given),
    )
  } catch (error) {
    operation = Promise.reject(error)
  }
  // The followers' promises are settled here, and each caller's promise one round later, through the `then`
  // that `follow` registered; the leader's adopts this one, which also takes that round.
  return operation.then(
    (settled) => {
      settleFollowers(flight, settled)
      return settled
    },
    (error: unknown) => {
      failFollowers(flight, error)
      throw error
    },
  )
}

/** The operation of `flight` gave `settled`: each follower gets the row, a copy of its own, not created. */
function settleFollowers(flight: Flight, settled: GetOrCreateResult<unknown>): void {
  for (const follower of flight.followers as Follower[]) {
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
}

/**
 * The operation of `flight` failed with `error`: before it asked for the leader's values, every follower
 * fails with it; after, it may be the leader's values' failure, so each follower tries again with its own, in
 * an operation of its own ({@link TRY_AGAIN}; see {@link sharedGetOrCreate}).
 */
function failFollowers(flight: Flight, error: unknown): void {
  const reason = flight.valuesAsked ? TRY_AGAIN : error
  for (const follower of flight.followers as Follower[]) follower.reject(reason)
}
