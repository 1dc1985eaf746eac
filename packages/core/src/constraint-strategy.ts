import { boundedEach, byKeyShape, GET_OR_CREATE_MANY_CONCURRENCY } from './bounded-each.js'
import type { CallTrace } from './diagnostics.js'
import {
  InvalidKeyError,
  KeyRewrittenError,
  MissingUniqueConstraintError,
  RowVanishedError,
} from './errors.js'
import { FreshKeyGuess } from './fresh-keys.js'
import { onlyField } from './key.js'
import { entryValuesAtHand } from './new-row-values.js'
import { batchedFind } from './read-batch.js'
import { SHARED_OPERATION, type SharingStrategy } from './single-flight.js'
import { answersOrNone, rowOrNone } from './store-answers.js'
import type {
  BatchAnswer,
  BatchEntry,
  GetOrCreateResult,
  NewRowValues,
  Store,
  Strategy,
  UniqueIndexFix,
  Uniqueness,
} from './types.js'
import { batchedFindOrInsert } from './write-batch.js'

/** A store's atomic insert ({@link Store.insertIfAbsentAtomically}). */
type AtomicInsert<Row, Key, Values> = NonNullable<Store<Row, Key, Values>['insertIfAbsentAtomically']>

/** Keys per batch statement of `getOrCreateMany` (each key's fields are parameters: far under any limit). */
const BATCH_KEYS = 1000

/** Keys settled at once, one `getOrCreate` each, where a store cannot batch (as `getOrCreateMany` does). */
const MANY_AT_ONCE = GET_OR_CREATE_MANY_CONCURRENCY

/** Whether a field of `key` (a validated key: own fields only) is null. */
function hasNull(key: Record<string, unknown>): boolean {
  for (const field in key) if (key[field] === null && Object.hasOwn(key, field)) return true
  return false
}

/** Options of {@link constraintStrategy}. */
export interface ConstraintStrategyOptions {
  /**
   * How many times to try the insert when the row that blocked it is deleted before it can be read, before
   * giving up with `RowVanishedError`. Default is `3`.
   */
  readonly maxAttempts?: number
  /**
   * Share one operation among this process's calls for the same store object and key made in the same tick
   * (see `Strategy.singleFlight`): one read and at most one insert for a burst of callers of one key, or one
   * statement that does both where the store has {@link Store.findOrInsertManyAtomically} and its previous
   * shared operation found no row (see {@link constraintStrategy}). Default is `true`; `false` sends every
   * call's own statements (as race tests do, to make the database settle every race).
   */
  readonly singleFlight?: boolean
  /**
   * Send the plain reads (read first) of one store object asked for in the same turn of the event loop
   * together, as one {@link Store.findMany} where the store has it and is not bound to a transaction: one
   * statement for the hits of many callers. The statement runs in the async context of the call that began
   * the batch: a custom store that picks its connection or transaction per call from `AsyncLocalStorage`
   * needs `false`, as it needs `singleFlight: false`. Default is `true`; `false` sends one `find` per call.
   */
  readonly batchReads?: boolean
  /**
   * Send the statements that read and insert a likely fresh key in one ({@link Store.findOrInsertManyAtomically},
   * one entry: see {@link constraintStrategy}) of one store object asked for in the same turn of the event
   * loop together, as one statement and one commit for all their keys, as `batchReads` sends reads: the
   * first at once, those asked for while it is out after the turn. Each caller gets its own key's row and
   * `created`; a batch the database refuses (one key's values break a constraint, a deadlock) goes again key
   * by key, so each caller gets its own statement's answer or error; a batch that fails otherwise (a lost
   * connection, after which the commit may have happened) fails each of its callers with that error. The
   * statement runs in the async context of the call that began the batch, as a batched read. Default is
   * `true`; `false` sends one statement per key.
   */
  readonly batchWrites?: boolean
}

/**
 * How long the constraint strategy remembers that a (store, key fields) pair has no unique index, in
 * milliseconds: one second. Within it, a call for that pair throws `MissingUniqueConstraintError` again
 * without a round trip (a hot caller does not hammer the catalog); after it, the catalog is read again, so once
 * the statement the error prints has run, the same store works within about a second, without a restart. An
 * index found is remembered for the store's lifetime.
 */
export const MISSING_INDEX_RECHECK_MS = 1000

/** A (store, key fields) pair found without a unique index, and until when that answer holds. */
class MissingIndex {
  constructor(
    /** The strategy's clock reading after which the catalog is asked again. */
    readonly until: number,
    /** The store's description of the fix, looked up once per answer; `undefined` when it cannot say. */
    readonly fix: Promise<UniqueIndexFix | undefined>,
  ) {}
}

/** What the strategy remembers per (store, key fields): an answer, or the question in flight. */
type Known = 'enforced' | 'nulls-distinct' | MissingIndex

/**
 * The store's description of the missing index ({@link Store.uniqueIndexFix}), or `undefined` when it has
 * none or its look-up fails: the error is about the missing index, and a failed look-up of names must not
 * hide it.
 */
async function uniqueIndexFixOf(
  store: Store<unknown, unknown, unknown>,
  fields: readonly string[],
): Promise<UniqueIndexFix | undefined> {
  try {
    return await store.uniqueIndexFix?.(fields)
  } catch {
    return undefined
  }
}

/**
 * The `MissingUniqueConstraintError` for a key's `fields`, in the database's names and with the statement
 * that adds the index, when the store said (`fix`); else with the store's name and the fields. `why` replaces
 * the store's hint when the store cannot say (no `insertIfAbsentAtomically`).
 */
function missingUniqueConstraint(
  store: Store<unknown, unknown, unknown>,
  fields: readonly string[],
  fix: UniqueIndexFix | undefined,
  why?: string,
  cause?: Error,
): MissingUniqueConstraintError {
  const columns = fix && fix.columns.length === fields.length ? fix.columns : fields
  // Without insertIfAbsentAtomically an index alone does not help: say what the store lacks, unless it says
  // better.
  const sql = why === undefined ? fix?.sql : undefined
  const hint = why === undefined ? fix?.hint : (fix?.hint ?? why)
  return new MissingUniqueConstraintError(fix?.table ?? store.name, columns, {
    fields,
    store: store.name,
    ...(sql === undefined ? {} : { sql }),
    ...(hint === undefined ? {} : { hint }),
    ...(cause === undefined ? {} : { cause }),
  })
}

/**
 * What tests may change of {@link constraintStrategy}: its clock. Not part of the public API (not exported
 * from the package).
 */
export interface ConstraintStrategyTestingOptions {
  /** Milliseconds on a monotonic clock. Default is `performance.now()`. */
  readonly now?: () => number
}

/**
 * The default strategy: the database's unique index settles the race.
 *
 * 1. `find(key)`: a hit costs one round trip and writes nothing.
 * 2. `insertIfAbsentAtomically(key, values)` (`INSERT … ON CONFLICT (key) DO NOTHING RETURNING *`): a row back means
 *    this call created it.
 * 3. Otherwise `find(key, { fresh: true })`, a new statement that sees the winner's row.
 * 4. Nothing (the row was deleted in between): back to 2, up to `maxAttempts`, then `RowVanishedError`; or
 *    `KeyRewrittenError` when the store names triggers that run before each insert
 *    ({@link Store.insertTriggers}): one of them rewrites the key, so the row that blocks it holds another.
 *
 * Before the first call for a (store, key fields) pair it asks the store, once, whether a unique index covers
 * exactly those fields, and throws `MissingUniqueConstraintError` if not: without one, two callers can create
 * two rows, and no transaction prevents it. The error carries the statement that adds the index, in the
 * store's dialect ({@link Store.uniqueIndexFix}). An index found is remembered; a missing one for
 * `MISSING_INDEX_RECHECK_MS` (one second), during which the same call throws again without a round trip,
 * and is looked for again after it: once the index is added, the same store works within about a second.
 *
 * Where a fresh key is likely, steps 1 and 2 are one statement (the store's
 * {@link Store.findOrInsertManyAtomically} with one entry: one round trip for a fresh key), if `defaults` is an
 * object (or absent) and the store is not bound to a transaction: for a single call whose key this process has
 * not met lately where the keys met for the first time mostly had no row (as in a miss storm), and for an
 * operation that other calls joined (single flight) where the store's previous shared operation found no row
 * (fresh keys arriving in bursts), its cost shared by every caller. Where the store declines, as above.
 *
 * @example
 * ```ts
 * const strategy = constraintStrategy({ maxAttempts: 5 })
 * const { row, created } = await getOrCreate(store, { slug: 'a' }, { title: 'A' }, strategy)
 * ```
 */
export function constraintStrategy(options: ConstraintStrategyOptions = {}): Strategy {
  return createConstraintStrategy(options)
}

/** {@link constraintStrategy} with a clock of the test's own. Not part of the public API. */
export function createConstraintStrategy(
  options: ConstraintStrategyOptions = {},
  testing: ConstraintStrategyTestingOptions = {},
): SharingStrategy {
  const now = testing.now ?? (() => performance.now())
  const maxAttempts = options.maxAttempts ?? 3
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new RangeError(
      `constraintStrategy: maxAttempts must be a whole number ≥ 1, got ${String(maxAttempts)}.`,
    )
  }
  // Per store object, per sorted key fields: the catalog answer once known (so a hit waits for nothing), or
  // the question in flight. An index found is kept; a missing one for MISSING_INDEX_RECHECK_MS.
  const checked = new WeakMap<object, Map<string, Known | Promise<Known>>>()
  // A store without insertIfAbsentAtomically never gains one: its error's names are looked up once per key
  // shape, so a hot caller of a misconfigured store does not read the catalog on every call.
  const withoutInsertIfAbsent = new WeakMap<object, Map<string, Promise<UniqueIndexFix | undefined>>>()
  const fixOfStoreWithoutInsert = (store: Store<unknown, unknown, unknown>, fields: readonly string[]) => {
    let byFields = withoutInsertIfAbsent.get(store)
    if (!byFields) {
      byFields = new Map()
      withoutInsertIfAbsent.set(store, byFields)
    }
    const id = fields.join('\u0000')
    let fix = byFields.get(id)
    if (!fix) {
      fix = uniqueIndexFixOf(store, fields)
      byFields.set(id, fix)
    }
    return fix
  }

  function uniquenessOf(
    store: Store<unknown, unknown, unknown>,
    fields: readonly string[],
  ): Known | Promise<Known> {
    let perStore = checked.get(store)
    if (!perStore) {
      perStore = new Map()
      checked.set(store, perStore)
    }
    const id = fields.length === 1 ? (fields[0] as string) : fields.join('\u0000')
    let answer = perStore.get(id)
    // A missing index is asked about again once its window has passed: the index the error prints may have
    // been added since, and then the same store works without a restart.
    if (answer instanceof MissingIndex && now() >= answer.until) answer = undefined
    if (answer === undefined) {
      const ask = store.uniqueness ? store.uniqueness(fields) : Promise.resolve<Uniqueness>('enforced')
      const asking = ask.then(
        (uniqueness): Known => {
          const known =
            uniqueness === 'not-enforced'
              ? new MissingIndex(now() + MISSING_INDEX_RECHECK_MS, uniqueIndexFixOf(store, fields))
              : uniqueness
          perStore.set(id, known)
          return known
        },
        (error: unknown) => {
          perStore.delete(id) // a failed look-up (connection lost) is asked again next time
          throw error
        },
      )
      perStore.set(id, asking)
      answer = asking
    }
    return answer
  }

  const singleFlight = options.singleFlight ?? true
  if (typeof singleFlight !== 'boolean') {
    throw new TypeError(`constraintStrategy: singleFlight must be a boolean, got ${typeof singleFlight}.`)
  }
  const batchReads = options.batchReads === undefined ? true : options.batchReads
  if (typeof batchReads !== 'boolean') {
    throw new TypeError(`constraintStrategy: batchReads must be a boolean, got ${typeof batchReads}.`)
  }
  const batchWrites = options.batchWrites === undefined ? true : options.batchWrites
  if (typeof batchWrites !== 'boolean') {
    throw new TypeError(`constraintStrategy: batchWrites must be a boolean, got ${typeof batchWrites}.`)
  }
  /**
   * What must hold before a key of `store` is read: an atomic insert, a unique index on exactly the key's
   * fields (asked once per store and fields), and no NULL where that index treats NULLs as distinct. Returns
   * the store's atomic insert, at once when the index is known (a hit waits for nothing).
   */
  function checkedInsert<Row, Key, Values>(
    store: Store<Row, Key, Values>,
    key: Key,
  ): AtomicInsert<Row, Key, Values> | Promise<AtomicInsert<Row, Key, Values>> {
    const record = key as Record<string, unknown>
    // `insertIfAbsent`: the name before 0.3, honoured until 0.4.
    const insertAtomically = store.insertIfAbsentAtomically ?? store.insertIfAbsent
    // The common case at once: a key of one field whose index is known to be enforced (no array of its
    // fields, no closure); NULLs matter only to an index that treats them as distinct.
    if (typeof insertAtomically === 'function') {
      const only = onlyField(record)
      if (only !== undefined && checked.get(store)?.get(only) === 'enforced') return insertAtomically
    }
    const fields = Object.keys(record)
    if (fields.length > 1) fields.sort()
    if (typeof insertAtomically !== 'function') {
      return fixOfStoreWithoutInsert(store as Store<unknown, unknown, unknown>, fields).then((fix) => {
        throw missingUniqueConstraint(
          store,
          fields,
          fix,
          `give store ${store.name} an insertIfAbsentAtomically that inserts atomically on the key (INSERT … ON ` +
            `CONFLICT (key) DO NOTHING RETURNING *), never a find then an insert`,
          new Error(
            `Store ${store.name} has no insertIfAbsentAtomically: it cannot insert atomically on a unique key.`,
          ),
        )
      })
    }
    const known = uniquenessOf(store, fields)
    if (known instanceof Promise) {
      return known.then((uniqueness) => insertFor(store, record, fields, insertAtomically, uniqueness))
    }
    return insertFor(store, record, fields, insertAtomically, known)
  }

  /** {@link checkedInsert}'s answer once the index on `fields` is known (a function, not a closure a call). */
  function insertFor<Row, Key, Values>(
    store: Store<Row, Key, Values>,
    record: Record<string, unknown>,
    fields: readonly string[],
    insertAtomically: AtomicInsert<Row, Key, Values>,
    uniqueness: Known,
  ): AtomicInsert<Row, Key, Values> | Promise<never> {
    if (uniqueness instanceof MissingIndex) {
      return uniqueness.fix.then((fix) => {
        throw missingUniqueConstraint(store, fields, fix)
      })
    }
    if (uniqueness === 'nulls-distinct') {
      const nulls = fields.filter((field) => record[field] === null)
      if (nulls.length > 0) {
        throw new InvalidKeyError(
          `Key field(s) ${nulls.join(', ')} of ${store.name} are null, but its unique index treats NULLs as distinct: ` +
            `any number of rows may hold that key, so none can be "the" row. Use a non-null value, or make the ` +
            `index NULLS NOT DISTINCT (Postgres 15+).`,
        )
      }
    }
    return insertAtomically
  }

  /**
   * The rest of {@link Strategy.getOrCreate} once the key was read and missed: insert, re-read the winner,
   * retry a vanished row, tell a rewritten key.
   */
  async function createAfterMiss<Row, Key, Values>(
    store: Store<Row, Key, Values>,
    key: Key,
    newRow: NewRowValues<Values>,
    insertAtomically: AtomicInsert<Row, Key, Values>,
    trace?: CallTrace,
  ): Promise<GetOrCreateResult<Row>> {
    const values = await newRow()
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      if (trace) {
        trace.attempts = attempt
        trace.storeCalls++
      }
      const inserted = rowOrNone(
        await insertAtomically.call(store, key, values),
        store,
        'insertIfAbsentAtomically',
      )
      if (inserted !== undefined) return { row: inserted, created: true }
      if (trace) trace.storeCalls++
      const winner = rowOrNone(await store.find(key, { fresh: true }), store, 'find')
      if (winner !== undefined) return { row: winner, created: false }
    }
    // Every insert was refused, yet no row holds the key: a trigger that rewrites key columns makes a row
    // for another key block ours every time. Asked only here, so that no other path pays for it; a failed
    // look-up leaves the error as it was.
    const triggers = (await store.insertTriggers?.().catch(() => undefined)) ?? []
    if (triggers.length > 0) {
      throw new KeyRewrittenError(
        `An insert for this key of ${store.name} was refused ${maxAttempts} times, yet no row has the key: ` +
          `trigger(s) ${triggers.join(', ')} run before each insert and most likely rewrite a key column, so ` +
          `the row that blocks this key holds another (it exists; nothing was written by this call). ` +
          `Normalize the key before calling, as the trigger does, or make the trigger leave key columns alone.`,
        { store: store.name, triggers },
      )
    }
    throw new RowVanishedError(
      `A row for this key of ${store.name} blocked the insert but was deleted before it could be read, ` +
        `${maxAttempts} times in a row. Something deletes these rows as fast as they are created; retry later.`,
    )
  }

  /** Per store object: what its calls met lately ({@link FreshKeyGuess}). */
  const guesses = new WeakMap<object, FreshKeyGuess>()

  /**
   * The read-first way: the checks, a read, and on a miss {@link createAfterMiss}. Not `async`: a hit is the
   * read's promise and one `then` (an `async` function made one more promise, and resumed, a call).
   */
  function readFirst<Row, Key, Values>(
    store: Store<Row, Key, Values>,
    key: Key,
    newRow: NewRowValues<Values>,
    trace: CallTrace | undefined,
    count?: (missed: boolean) => void,
  ): Promise<GetOrCreateResult<Row>> {
    try {
      const checked = checkedInsert(store, key)
      if (typeof checked === 'function') return readThenCreate(store, key, newRow, checked, trace, count)
      return checked.then((insertAtomically) =>
        readThenCreate(store, key, newRow, insertAtomically, trace, count),
      )
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** {@link readFirst} once the store's insert is known to be atomic on the key. */
  function readThenCreate<Row, Key, Values>(
    store: Store<Row, Key, Values>,
    key: Key,
    newRow: NewRowValues<Values>,
    insertAtomically: AtomicInsert<Row, Key, Values>,
    trace: CallTrace | undefined,
    count: ((missed: boolean) => void) | undefined,
  ): Promise<GetOrCreateResult<Row>> {
    if (trace) trace.storeCalls++
    // A custom store may answer with another thenable, or throw: Promise.resolve and the caller's `try` see to it.
    const read = batchReads ? batchedFind(store, key) : store.find(key)
    return Promise.resolve(read).then((answered) => {
      const found = rowOrNone(answered, store, batchReads ? 'find (or findMany)' : 'find')
      if (found !== undefined) {
        count?.(false)
        return { row: found, created: false }
      }
      count?.(true)
      if (trace) trace.missed = true
      return createAfterMiss(store, key, newRow, insertAtomically, trace)
    })
  }

  /**
   * The key read and, where no row holds it, inserted in one statement ({@link Store.findOrInsertManyAtomically},
   * one entry): one round trip for a fresh key. `undefined` where it cannot be, nothing written: the store has
   * no such statement or declines it; `defaults` is a function (never called for a key that exists); the
   * store is bound to a transaction (the statement's INSERT, run even for a key that is found, is refused by
   * a read-only transaction, and its error aborts the transaction). `missed` is told whether the statement
   * found no row at first.
   */
  async function inOneStatement<Row, Key, Values>(
    store: Store<Row, Key, Values>,
    key: Key,
    newRow: NewRowValues<Values>,
    trace: CallTrace | undefined,
    missed: (missed: boolean) => void,
  ): Promise<GetOrCreateResult<Row> | undefined> {
    const findOrInsert = store.findOrInsertManyAtomically
    if (typeof findOrInsert !== 'function' || newRow.lazy || store.inTransaction === true) return undefined
    const checked = checkedInsert(store, key)
    const insertAtomically = typeof checked === 'function' ? checked : await checked
    const values = await newRow()
    if (trace) trace.storeCalls++
    const answers = batchWrites
      ? await batchedFindOrInsert(store, { key, values })
      : answersOrNone(await findOrInsert.call(store, [{ key, values }]), store, 'findOrInsertManyAtomically')
    if (answers === undefined) return undefined
    const answer = answers[0] as BatchAnswer<Row> | undefined
    const row = rowOrNone(answer?.row, store, 'findOrInsertManyAtomically')
    if (row !== undefined && answer !== undefined) {
      missed(answer.inserted)
      if (trace) {
        // Taking the values marked a miss; a row the statement found was there at first.
        trace.missed = answer.inserted
        if (answer.inserted) trace.attempts = 1
      }
      return { row, created: answer.inserted }
    }
    // No row in the statement's snapshot, and its insert met one committed since: a new read sees it.
    missed(true)
    if (trace) {
      trace.missed = true
      trace.attempts = 1
      trace.storeCalls++
    }
    const winner = rowOrNone(await store.find(key, { fresh: true }), store, 'find')
    if (winner !== undefined) return { row: winner, created: false }
    return createAfterMiss(store, key, newRow, insertAtomically, trace)
  }

  /**
   * {@link Strategy.getOrCreate}: read first ({@link readFirst}); but for a key this process has not met
   * lately, where the keys met for the first time mostly had no row (fresh keys, as in a miss storm: see
   * {@link FreshKeyGuess}), read and insert in one statement ({@link inOneStatement}) where it can be.
   */
  function getOrCreateOne<Row, Key, Values>(
    store: Store<Row, Key, Values>,
    key: Key,
    newRow: NewRowValues<Values>,
    trace?: CallTrace,
  ): Promise<GetOrCreateResult<Row>> {
    // Not `async`: a hit returns readFirst's own promise, not one more that waits for it (two microtasks a
    // call); what throws comes as a rejection all the same.
    try {
      if (
        typeof store.findOrInsertManyAtomically !== 'function' ||
        newRow.lazy ||
        store.inTransaction === true
      ) {
        return readFirst(store, key, newRow, trace)
      }
      let guess = guesses.get(store)
      if (guess === undefined) {
        guess = new FreshKeyGuess()
        guesses.set(store, guess)
      }
      const meeting = guess.meet(key as Record<string, unknown>)
      if (meeting === 'met') return readFirst(store, key, newRow, trace)
      if (meeting === 'fresh') return freshFirst(store, key, newRow, trace, guess.count)
      return readFirst(store, key, newRow, trace, guess.count)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** A key most likely fresh: read and insert in one statement where it can be ({@link inOneStatement}). */
  async function freshFirst<Row, Key, Values>(
    store: Store<Row, Key, Values>,
    key: Key,
    newRow: NewRowValues<Values>,
    trace: CallTrace | undefined,
    count: (missed: boolean) => void,
  ): Promise<GetOrCreateResult<Row>> {
    const result = await inOneStatement(store, key, newRow, trace, count)
    return result ?? (await readFirst(store, key, newRow, trace, count))
  }

  // Per store object: whether its latest shared operation found no row at first (it created one, or lost the
  // race for it). Fresh keys that many callers ask for at once (one event fanned out) keep it true; a hot key
  // that exists keeps it false.
  const sharedMissed = new WeakMap<object, boolean>()

  /**
   * The strategy's way for an operation that other calls joined (single flight): where the store's latest
   * shared operation missed, in one statement ({@link inOneStatement}), its cost shared by every caller;
   * otherwise, and where that cannot be, read first.
   */
  async function getOrCreateShared<Row, Key, Values>(
    store: Store<Row, Key, Values>,
    key: Key,
    newRow: NewRowValues<Values>,
    trace?: CallTrace,
  ): Promise<GetOrCreateResult<Row>> {
    if (sharedMissed.get(store) === true) {
      const result = await inOneStatement(store, key, newRow, trace, (missed) =>
        sharedMissed.set(store, missed),
      )
      if (result !== undefined) return result
    }
    const result = await readFirst(store, key, newRow, trace)
    sharedMissed.set(store, result.created || trace?.missed === true)
    return result
  }

  /**
   * `getOrCreateMany`'s entries (distinct keys), per chunk of one key shape where the store can batch
   * ({@link Store.findMany} and {@link Store.insertManyIfAbsentAtomically}): the entries whose values are at
   * hand (no `defaults` function) in one statement where the store has
   * {@link Store.findOrInsertManyAtomically}, outside a transaction; the others (and those, where it
   * declines) read first, then the `defaults` of the keys that missed called and those keys settled in that
   * one statement (two in all), or where the store has none or declines, inserted in one statement and read
   * back (three). A key the batch could not settle (a row committed by another caller meanwhile, or deleted;
   * a store that declined) goes the way of `getOrCreate`, as does every key of a store that cannot batch,
   * {@link MANY_AT_ONCE} at a time.
   */
  async function settleMany<Row, Key, Values>(
    store: Store<Row, Key, Values>,
    entries: readonly { readonly key: Key; readonly values: NewRowValues<Values> }[],
  ): Promise<GetOrCreateResult<Row>[]> {
    type Entry = (typeof entries)[number]
    const results: GetOrCreateResult<Row>[] = new Array(entries.length)
    // Every key checked first (the index, the NULL rule): nothing is read or written for a batch that fails.
    // The index is a matter of the fields, so one key of each shape asks; the NULL rule is each key's own.
    const shapes = byKeyShape(entries.map((entry) => entry.key))
    for (const indexes of shapes) {
      for (let n = 0; n < indexes.length; n++) {
        const { key } = entries[indexes[n] as number] as Entry
        if (n > 0 && !hasNull(key as Record<string, unknown>)) continue
        const insert = checkedInsert(store, key)
        if (typeof insert !== 'function') await insert
      }
    }
    const one = async (i: number) => {
      const entry = entries[i] as Entry
      results[i] = await getOrCreateOne(store, entry.key, entry.values)
    }
    const alone: number[] = []
    /** Settles `answers[j]` as the result of `indexes[j]`; a key without a row is settled alone. */
    const take = (
      indexes: readonly number[],
      answers: readonly BatchAnswer<Row>[] | undefined,
      method: string,
    ) => {
      indexes.forEach((i, j) => {
        const answer = answers?.[j]
        const row = rowOrNone(answer?.row, store, method)
        if (row === undefined || answer === undefined) alone.push(i)
        else results[i] = { row, created: answer.inserted }
      })
    }
    const {
      findMany,
      insertManyIfAbsentAtomically: insertMany,
      findOrInsertManyAtomically: findOrInsert,
    } = store
    if (typeof findMany !== 'function' || typeof insertMany !== 'function') {
      alone.push(...entries.keys())
    } else {
      // In a transaction every key is read first: the statement that reads and inserts is an INSERT even
      // for keys that all exist, which a read-only transaction refuses, aborting it (getOrCreate reads first
      // there too), so a batch of hits is one read wherever a single call's hit is.
      const readsFirst = store.inTransaction === true
      // One key shape per statement: its fields, in order.
      for (const indexes of shapes) {
        for (let from = 0; from < indexes.length; from += BATCH_KEYS) {
          let chunk = indexes.slice(from, from + BATCH_KEYS)
          if (typeof findOrInsert === 'function' && !readsFirst) {
            // Values an object gave cost nothing to hand over for a key that turns out to exist (and are at
            // hand without a promise); a defaults function is called only for a key that missed.
            const atHand: number[] = []
            const rest: number[] = []
            const batch: BatchEntry<Key, Values>[] = []
            for (const i of chunk) {
              const entry = entries[i] as Entry
              const values = entryValuesAtHand(entry)
              if (values === undefined) rest.push(i)
              else {
                atHand.push(i)
                batch.push({ key: entry.key, values })
              }
            }
            if (batch.length > 0) {
              const answers = answersOrNone(
                await findOrInsert.call(store, batch),
                store,
                'findOrInsertManyAtomically',
              )
              if (answers !== undefined) {
                take(atHand, answers, 'findOrInsertManyAtomically')
                chunk = rest
                if (chunk.length === 0) continue
              }
            }
          }
          const found = await findMany.call(
            store,
            chunk.map((i) => (entries[i] as Entry).key),
          )
          const missing: number[] = []
          chunk.forEach((i, j) => {
            const row = rowOrNone(found[j], store, 'findMany')
            if (row === undefined) missing.push(i)
            else results[i] = { row, created: false }
          })
          if (missing.length === 0) continue
          // Defaults only for the keys that missed, each at most once (values() is memoized).
          const values = await Promise.all(missing.map((i) => (entries[i] as Entry).values()))
          const batch = missing.map((i, j) => ({
            key: (entries[i] as Entry).key,
            values: values[j] as Values,
          }))
          // The keys that missed in one statement that reads them again and inserts those still missing,
          // where the store has it and does not decline; else an insert and its read back.
          const settled =
            typeof findOrInsert === 'function'
              ? answersOrNone(await findOrInsert.call(store, batch), store, 'findOrInsertManyAtomically')
              : undefined
          if (settled !== undefined) take(missing, settled, 'findOrInsertManyAtomically')
          else {
            const inserted = answersOrNone(
              await insertMany.call(store, batch),
              store,
              'insertManyIfAbsentAtomically',
            )
            take(missing, inserted, 'insertManyIfAbsentAtomically')
          }
        }
      }
    }
    await boundedEach(alone, MANY_AT_ONCE, one)
    return results
  }

  return {
    name: 'constraint',
    singleFlight,
    getOrCreate: getOrCreateOne,
    [SHARED_OPERATION]: getOrCreateShared,
    getOrCreateMany: (store, entries) => settleMany(store, entries),
  }
}
