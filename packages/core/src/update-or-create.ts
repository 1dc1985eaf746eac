import { defaultStrategy } from './default-strategy.js'
import {
  errorCodeOf,
  KeyedContext,
  nameOf,
  type UpdateOrCreateTrace,
  updateOrCreateTracing,
} from './diagnostics.js'
import { ConflictingDefaultsError, RowVanishedError } from './errors.js'
import type { ExactKey, NoInferFrom, TableOf } from './get-or-create-types.js'
import { isPlainObject, mergeDefaults, validatedKeyCopy } from './key.js'
import { newRowValues } from './new-row-values.js'
import { rowOrNone } from './store-answers.js'
import type { Defaults, GetOrCreateResult, Store, Strategy } from './types.js'
import type {
  UpdateOrCreateArgumentOptions,
  UpdateOrCreateOptions,
  UpdateValues,
  UpdateValuesArgument,
} from './update-or-create-types.js'

/** How many times a row that vanished between its create-or-find and its update is settled again. */
const ATTEMPTS = 3

/**
 * Update the one row of `key` with `values`, or create it with `{ ...createDefaults, ...values, ...key }`:
 * Django's `update_or_create`, Laravel's `updateOrCreate`, Prisma's `upsert`, race-free, and with a `created`
 * that is true only for the call whose insert made the row.
 *
 * 1. The key, `values` (an object) and `createDefaults` (an object) are checked before any I/O, as
 *    `getOrCreate` checks its arguments; `values` may not give a key field another value than the key's
 *    (`CONFLICTING_DEFAULTS`): an update never moves a row to another key.
 * 2. The strategy's `getOrCreate(store, key, { ...createDefaults, ...values })` settles whether the row exists,
 *    by its own guarantee (the unique index, or the lock). It is called directly, without `getOrCreate`'s
 *    single flight: calls of one key in one process do not share it, since each has values of its own. The call that created it returns
 *    `{ row, created: true }`: the row holds `values` already.
 * 3. Else `store.update(key, values)` updates the row, comparing the key as `find` does, in one statement, and
 *    its row as updated is returned with `created: false`. If no row has the key any more (deleted between the
 *    two steps), the call starts again at 2, up to 3 times, then throws `ROW_VANISHED`.
 *
 * A function `values` is called once for each write it is for: with `undefined` for a create (only when the
 * strategy creates, as a `defaults` function is), with the row `getOrCreate` found for an update. So a create
 * that lost its race calls it twice: for its create, then with the winner's row for its update. The row is the
 * state that was read, not a lock on it: two calls that both read then write are last writer wins, as two
 * plain updates are; for a read-modify-write that must see every other write, lock the row in a transaction.
 *
 * Every row returned is a state the row was in: the values of one call over the row it updated.
 *
 * @param store - where the rows live; it must have `update` (every built-in store has).
 * @param key - the lookup, as `getOrCreate` takes it.
 * @param values - the fields to write, or a function of the row as read (`undefined` on a create).
 * @param options - `createDefaults`, `strategy`.
 * @throws what `getOrCreate` throws; `CONFLICTING_DEFAULTS` for values that change a key field; `ROW_VANISHED`;
 *   a `TypeError` for a store without `update`.
 *
 * @example
 * ```ts
 * const { row, created } = await updateOrCreate(
 *   drizzleStore(db, subscriptions),
 *   { userId, plan: 'pro' },
 *   { status: 'active', renewedAt: new Date() },
 *   { createDefaults: { startedAt: new Date() } },
 * )
 * ```
 */
export function updateOrCreate<
  Row,
  Key,
  Values,
  K extends Key = Key,
  V extends UpdateValues<Row, Values> = UpdateValues<Row, Values>,
  // Not constrained: a bad createDefaults then fails CheckedCreateDefaults, whose message names the column.
  C = Defaults<Partial<Values>> | undefined,
  S = unknown,
>(
  store: S & Store<Row, Key, Values>,
  key: K & NoInferFrom<ExactKey<K, Key, TableOf<S>>>,
  values: UpdateValuesArgument<Row, Values, K, V, C, TableOf<S>>,
  options?: UpdateOrCreateArgumentOptions<Values, C, TableOf<S>>,
): Promise<GetOrCreateResult<Row>>
export function updateOrCreate<Row, Key, Values>(
  store: Store<Row, Key, Values>,
  key: Key,
  values: UpdateValues<Row, Values>,
  options: UpdateOrCreateOptions<Values> = {},
): Promise<GetOrCreateResult<Row>> {
  if (!updateOrCreateTracing.active()) return updateOrInsert(store, key, values, options, undefined)
  const context = Object.assign(new KeyedContext(), {
    operation: 'updateOrCreate' as const,
    store: nameOf(store),
    strategy: nameOf(isPlainObject(options as unknown) ? (options.strategy ?? defaultStrategy) : undefined),
  }) as KeyedContext & UpdateOrCreateTrace
  return updateOrCreateTracing.channel.tracePromise(async () => {
    try {
      const result = await updateOrInsert(store, key, values, options, context)
      context.outcome = result.created ? 'created' : 'updated'
      return result
    } catch (error) {
      context.outcome = 'error'
      Object.assign(context, errorCodeOf(error))
      throw error
    }
  }, context)
}

/** {@link updateOrCreate}; with `trace`, its context gets the key's hash once the key is checked. */
async function updateOrInsert<Row, Key, Values>(
  store: Store<Row, Key, Values>,
  key: Key,
  values: UpdateValues<Row, Values>,
  options: UpdateOrCreateOptions<Values>,
  trace: KeyedContext | undefined,
): Promise<GetOrCreateResult<Row>> {
  if (typeof store !== 'object' || store === null || typeof store.find !== 'function') {
    throw new TypeError(
      'updateOrCreate: store must be a Store (an object with find and insert), e.g. drizzleStore(db, table).',
    )
  }
  if (typeof store.update !== 'function') {
    throw new TypeError(
      `updateOrCreate: ${store.name} has no update(key, values); every built-in store has one, add it to this store.`,
    )
  }
  if (!isPlainObject(options as unknown))
    throw new TypeError('updateOrCreate: options must be a plain object.')
  const strategy: Strategy = options.strategy ?? defaultStrategy
  if (typeof strategy?.getOrCreate !== 'function') {
    throw new TypeError(
      'updateOrCreate: strategy must be a Strategy, e.g. constraintStrategy() or redisLockStrategy().',
    )
  }
  const checkedKey = validatedKeyCopy(key, store.fields)
  trace?.keyChecked(store.name, checkedKey)
  if (typeof store.checkKey === 'function') store.checkKey(checkedKey as Key)
  /**
   * `values` (given, or a function's result) as written: a copy (each field read once), checked, without
   * `undefined` fields (drizzle's "not given", on a create as on an update) or key fields.
   */
  const patchOf = (given: unknown): Record<string, unknown> => {
    if (!isPlainObject(given)) {
      throw new ConflictingDefaultsError(
        `values must be a plain object (or a function of the row returning one), got ${given === null ? 'null' : typeof given}.`,
      )
    }
    const copy: Record<string, unknown> = {}
    for (const [field, value] of Object.entries(given)) if (value !== undefined) copy[field] = value
    try {
      mergeDefaults(checkedKey, copy, store.fields)
    } catch (error) {
      if (!(error instanceof ConflictingDefaultsError)) throw error
      throw new ConflictingDefaultsError(
        `${error.message.replace(/\bdefaults\b/g, 'values')} An update never moves a row to another key.`,
        { cause: error },
      )
    }
    // A key field the check let through holds the key's own value: writing it could only change its spelling.
    for (const field of Object.keys(checkedKey)) delete copy[field]
    return copy
  }
  const fixed = typeof values === 'function' ? undefined : patchOf(values)
  if (typeof options.createDefaults !== 'function')
    mergeDefaults(checkedKey, options.createDefaults, store.fields)

  /**
   * `values` for one write: an object's copy, made once, before any I/O; a function called with the row as read
   * (`undefined` for a create), its result copied and checked.
   */
  const valuesFor = (current: Row | undefined): Promise<Record<string, unknown>> =>
    fixed
      ? Promise.resolve({ ...fixed })
      : new Promise<unknown>((resolve) =>
          resolve((values as (row: Row | undefined) => unknown)(current)),
        ).then(patchOf)
  const createDefaults = options.createDefaults
  for (let attempt = 1; ; attempt++) {
    const newRow = newRowValues<Values>(
      checkedKey,
      async () => {
        const base =
          typeof createDefaults === 'function' ? await (createDefaults as () => unknown)() : createDefaults
        return { ...mergeDefaults(checkedKey, base, store.fields), ...(await valuesFor(undefined)) }
      },
      store.fields,
    )
    const { row, created } = await strategy.getOrCreate(store, checkedKey as Key, newRow)
    if (created) return { row, created }
    const patch = await valuesFor(row)
    const updated = rowOrNone(
      await store.update(checkedKey as Key, patch as Partial<Values>),
      store,
      'update',
    )
    if (updated !== undefined) return { row: updated, created: false }
    if (attempt >= ATTEMPTS) {
      throw new RowVanishedError(
        `The row of this key of ${store.name} was deleted between being found and being updated, ${attempt} ` +
          'times. Something deletes rows as fast as they are written; the call may be retried.',
      )
    }
  }
}
