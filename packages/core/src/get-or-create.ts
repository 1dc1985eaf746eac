import { defaultStrategy } from './default-strategy.js'
import {
  CallContext,
  type CallTrace,
  errorCodeOf,
  type GetOrCreateTrace,
  getOrCreateTracing,
  nameOf,
} from './diagnostics.js'
import type { DefaultsArgument, ExplicitDefaults, KeyArgument, TableOf } from './get-or-create-types.js'
import { validatedKeyCopy } from './key.js'
import { newRowValues } from './new-row-values.js'
import { sharedGetOrCreate } from './single-flight.js'
import type { Defaults, GetOrCreateResult, NewRowValues, Store, Strategy, TableName } from './types.js'

/**
 * Get the row for `key`, or create it with `{ ...defaults, ...key }`: exactly one row per key and exactly one
 * `created: true`, whatever the number of concurrent callers, processes or machines.
 *
 * Input is checked before any I/O: the key must be a non-empty plain object of known fields without
 * `undefined` values; `defaults` (an object, or a function called at most once and only when a create is
 * attempted) must not give a key field another value. The call works on a copy of the key (its own
 * enumerable fields, each read once): changing the key object afterwards, in a `defaults` function or
 * anywhere else, does not change the key the call looks up and creates.
 *
 * And at compile time, with the store's types (a drizzle table's own): a key or defaults (an object, or what
 * a function returns) naming a column the table lacks does not compile (`UnknownColumn<"nope", "tags">`);
 * nor do defaults that leave out a column the insert model requires (NOT NULL, no default) and the key does
 * not give; `defaults` may be left out, `undefined` or possibly `undefined` only when the key leaves nothing
 * required out (`DefaultsRequired<"label", "tags">`). A key may be a union (`{ slug } | { id }`): each member
 * is checked.
 *
 * Two signatures, told apart by the number of arguments: `(store, key)`, and `(store, key, defaults,
 * strategy?)` where `defaults` may be `undefined` (to pass a strategy) when nothing is required.
 *
 * Type arguments are inferred from the call. Given explicitly, the first four (`Row`, `Key`, `Values`, `K`)
 * mean what they meant in 0.1, and the same checks apply to them, except that the compile errors name the
 * field but not the table (`UnknownField<"nope">`) and `defaults` is typed
 * {@link ExplicitDefaults | `ExplicitDefaults<Values, K>`}.
 *
 * @typeParam Row - what the store's reads return.
 * @typeParam Key - what the store's lookups take.
 * @typeParam Values - what the store's inserts take (a drizzle table's insert model).
 * @typeParam K - the key's own type.
 * @typeParam S - the store's own type, inferred from `store`: the compile errors name its table (see
 *   {@link TableName}). `unknown` when type arguments are given.
 * @param store - where the rows live, e.g. `drizzleStore(db, table)`.
 * @param key - the lookup, e.g. `{ slug: 'a' }` or `{ tenantId, slug }`; without `defaults`, it must give
 *   every column the insert model requires.
 * @returns the row, and whether this call created it.
 * @throws InvalidKeyError, ConflictingDefaultsError, MissingUniqueConstraintError, SerializationConflictError,
 *   RowVanishedError; with a lock strategy also LockUnavailableError and LockLostError. Database errors that
 *   are not about this key (a unique violation on another column) are rethrown as drizzle-orm threw them: a
 *   `DrizzleQueryError` whose `cause` is the driver's error (better-sqlite3: the driver's error itself).
 *
 * @example
 * ```ts
 * const store = drizzleStore(db, users)
 * const { row, created } = await getOrCreate(store, { email }, () => ({ name: guessName(email) }))
 * ```
 */
export function getOrCreate<Row, Key, Values, K extends Key, S = unknown>(
  store: S & Store<Row, Key, Values>,
  key: KeyArgument<K, Key, Values, [], TableOf<S>>,
): Promise<GetOrCreateResult<Row>>
/**
 * Get the row for `key`, or create it with `{ ...defaults, ...key }`: exactly one row per key and exactly one
 * `created: true`, whatever the number of concurrent callers, processes or machines. See the signature
 * above for the checks, at compile time and before any I/O.
 *
 * @typeParam Row - what the store's reads return.
 * @typeParam Key - what the store's lookups take.
 * @typeParam Values - what the store's inserts take (a drizzle table's insert model).
 * @typeParam K - the key's own type.
 * @typeParam S - the store's own type, inferred from `store`: the compile errors name its table (see
 *   {@link TableName}). `unknown` when type arguments are given.
 * @typeParam D - the type of `defaults`, inferred from `defaults`; {@link ExplicitDefaults} when type
 *   arguments are given.
 * @param store - where the rows live, e.g. `drizzleStore(db, table)`.
 * @param key - the lookup, e.g. `{ slug: 'a' }` or `{ tenantId, slug }`.
 * @param defaults - the other columns of a new row: an object, or a function (sync or async) called at most
 *   once and only when a create is attempted; `undefined` is `{}`. It must give every column the insert model
 *   requires (NOT NULL, no default) that the key does not give; then it may not be `undefined`.
 * @param strategy - how the race is settled. Default is `constraintStrategy()`: the database's unique index.
 * @returns the row, and whether this call created it.
 * @throws InvalidKeyError, ConflictingDefaultsError, MissingUniqueConstraintError, SerializationConflictError,
 *   RowVanishedError; with a lock strategy also LockUnavailableError and LockLostError. Database errors that
 *   are not about this key (a unique violation on another column) are rethrown as drizzle-orm threw them: a
 *   `DrizzleQueryError` whose `cause` is the driver's error (better-sqlite3: the driver's error itself).
 *
 * @example
 * ```ts
 * const strategy = redisLockStrategy({ redis })
 * const { row } = await getOrCreate(tags, { tenantId, slug }, { label: 'News' }, strategy)
 * ```
 */
export function getOrCreate<Row, Key, Values, K extends Key, S = unknown, D = ExplicitDefaults<Values, K>>(
  store: S & Store<Row, Key, Values>,
  key: KeyArgument<K, Key, Values, [D], TableOf<S>>,
  defaults: DefaultsArgument<D, Values, K, TableOf<S>>,
  strategy?: Strategy,
): Promise<GetOrCreateResult<Row>>
export function getOrCreate<Row, Key, Values>(
  store: Store<Row, Key, Values>,
  key: Key,
  defaults?: Defaults<Values>,
  strategy: Strategy = defaultStrategy,
): Promise<GetOrCreateResult<Row>> {
  // Nobody listening: nothing made for the channel, no layer on the call.
  if (!getOrCreateTracing.active()) {
    try {
      const { checkedKey, values } = prepare(store, key, defaults, strategy)
      // A native promise, always, as from an async function: a custom strategy may return another thenable.
      return Promise.resolve(settle(store, checkedKey, values, strategy, undefined))
    } catch (error) {
      return Promise.reject(error)
    }
  }
  return traced(store, key, defaults, strategy)
}

/** {@link getOrCreate} with its `getorcreate:getOrCreate` events (see "Observability" in the README). */
function traced<Row, Key, Values>(
  store: Store<Row, Key, Values>,
  key: Key,
  defaults: Defaults<Values> | undefined,
  strategy: Strategy,
): Promise<GetOrCreateResult<Row>> {
  const context = new GetOrCreateContext(nameOf(store), nameOf(strategy))
  const start = getOrCreateTracing.channel.start
  let prepared: Prepared<Values>
  try {
    // A strategy that asks for the values tried to create, so a row it returns uncreated is a racer's, even if
    // it does not say so in the trace: the values note it on the context.
    prepared = prepare(store, key, defaults, strategy, context)
  } catch (error) {
    // Refused before any I/O: the events still tell the call and its error.
    return start.runStores(context, publishOutcome<Row>, undefined, Promise.reject(error), context)
  }
  context.keyChecked(store.name, prepared.checkedKey)
  // Node's `tracePromise`, written out: the same events in the same order (start, with the stores bound to
  // it around the call; end; then error, asyncStart, asyncEnd), with the outcome noted in the one `then`
  // that publishes them (through `tracePromise`, a call took one more promise, its `then` and four closures).
  // With no store bound to `start`, `runStores` would only publish and call: done here without the closure,
  // the arguments' array and the iterator it makes a call.
  if (noStoreBound(start)) {
    start.publish(context)
    return runTraced(store, prepared.checkedKey, prepared.values, strategy, context)
  }
  return start.runStores(
    context,
    runTraced<Row, Key, Values>,
    undefined,
    store,
    prepared.checkedKey,
    prepared.values,
    strategy,
    context,
  )
}

/**
 * Whether no store is bound to `channel` (`bindStore`), so that its `runStores` would only publish and call.
 * Node keeps the bound stores in the channel's own `_stores`: a map (Node's own `SafeMap`, not an `instanceof
 * Map`), or `undefined` while the channel has no subscriber. Where that property is not there as such (another
 * Node), `false`: `runStores` is called, as always correct.
 */
function noStoreBound(channel: object): boolean {
  const stores = (channel as { _stores?: unknown })._stores
  if (stores === undefined) return Object.hasOwn(channel, '_stores')
  return typeof stores === 'object' && stores !== null && (stores as { size?: unknown }).size === 0
}

/** The traced call's body, run inside `start.runStores` (see {@link traced}). */
function runTraced<Row, Key, Values>(
  store: Store<Row, Key, Values>,
  checkedKey: Record<string, unknown>,
  values: NewRowValues<Values>,
  strategy: Strategy,
  context: GetOrCreateContext,
): Promise<GetOrCreateResult<Row>> {
  let running: Promise<GetOrCreateResult<Row>>
  try {
    running = Promise.resolve(settle(store, checkedKey, values, strategy, context))
  } catch (error) {
    running = Promise.reject(error)
  }
  return publishOutcome(running, context)
}

/**
 * `end` now, and once `running` settles its outcome, then `asyncStart` and `asyncEnd` (with `error` before them
 * when it rejects), as `tracePromise` publishes them; run inside `start.runStores`.
 */
function publishOutcome<Row>(
  running: Promise<GetOrCreateResult<Row>>,
  context: GetOrCreateContext,
): Promise<GetOrCreateResult<Row>> {
  try {
    return running.then(
      (result) => callSettled(context, result),
      (error: unknown) => callFailed(context, error),
    )
  } finally {
    getOrCreateTracing.channel.end.publish(context)
  }
}

/** A traced call resolved: its outcome, then `asyncStart` and `asyncEnd`, as `tracePromise` publishes them. */
function callSettled<Row>(
  context: GetOrCreateContext,
  result: GetOrCreateResult<Row>,
): GetOrCreateResult<Row> {
  context.outcome = result.created ? 'created' : context.missed ? 'raced' : 'hit'
  context.result = result
  const { asyncStart, asyncEnd } = getOrCreateTracing.channel
  asyncStart.publish(context)
  asyncEnd.publish(context)
  return result
}

/**
 * A traced call failed: its outcome and error code, then `error`, `asyncStart` and `asyncEnd`, as
 * `tracePromise` publishes them; rethrows `error`.
 */
function callFailed(context: GetOrCreateContext, error: unknown): never {
  context.outcome = 'error'
  Object.assign(context, errorCodeOf(error))
  context.error = error
  const channel = getOrCreateTracing.channel
  channel.error.publish(context)
  channel.asyncStart.publish(context)
  channel.asyncEnd.publish(context)
  throw error
}

/**
 * The context of a traced `getOrCreate` call, its fields set in one order from the start (one object shape for
 * every call).
 */
class GetOrCreateContext extends CallContext implements GetOrCreateTrace {
  readonly operation = 'getOrCreate' as const
  declare outcome?: GetOrCreateTrace['outcome']
  declare errorCode?: string
  declare result?: unknown
  declare error?: unknown
  constructor(
    readonly store: string,
    readonly strategy: string,
  ) {
    super()
  }
}

/** A call's input, checked. */
interface Prepared<Values> {
  /** `getOrCreate`'s own copy of the key. */
  readonly checkedKey: Record<string, unknown>
  /** The new row's values, as strategies get them. */
  readonly values: NewRowValues<Values>
}

/** Every check before any I/O: the store, the key, the store's own key check, `defaults`, the strategy. */
function prepare<Row, Key, Values>(
  store: Store<Row, Key, Values>,
  key: Key,
  defaults: Defaults<Values> | undefined,
  strategy: Strategy,
  trace?: CallTrace,
): Prepared<Values> {
  if (typeof store !== 'object' || store === null || typeof store.find !== 'function') {
    throw new TypeError(
      'getOrCreate: store must be a Store (an object with find and insert), e.g. drizzleStore(db, table).',
    )
  }
  // From here on only the copy: code that changes the caller's key object cannot change the call's key.
  const checkedKey = validatedKeyCopy(key, store.fields)
  // The store's own refusals (NULL in a NOT NULL column, a value its column cannot hold), before any I/O.
  if (typeof store.checkKey === 'function') store.checkKey(checkedKey as Key)
  // The one shape every strategy gets: the values of the new row, checked, the key merged in once; a defaults
  // object is checked now, before any I/O, a function only when (and if) the strategy asks for the values.
  const values = newRowValues<Values>(checkedKey, defaults, store.fields, trace)
  if (typeof strategy?.getOrCreate !== 'function') {
    throw new TypeError(
      'getOrCreate: strategy must be a Strategy, e.g. constraintStrategy() or redisLockStrategy().',
    )
  }
  return { checkedKey, values }
}

/** The strategy's part: shared with the same tick's calls of the key (single flight) where it allows. */
function settle<Row, Key, Values>(
  store: Store<Row, Key, Values>,
  checkedKey: Record<string, unknown>,
  values: NewRowValues<Values>,
  strategy: Strategy,
  trace: CallTrace | undefined,
): Promise<GetOrCreateResult<Row>> {
  if (strategy.singleFlight === true) return sharedGetOrCreate(strategy, store, checkedKey, values, trace)
  // Untraced, the strategy is called as before tracing existed: three arguments.
  return trace
    ? strategy.getOrCreate(store, checkedKey as Key, values, trace)
    : strategy.getOrCreate(store, checkedKey as Key, values)
}
