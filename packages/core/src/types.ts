import type { CallTrace } from './diagnostics.js'
import type {
  AdvisoryLock,
  BatchAnswer,
  BatchEntry,
  Fence,
  FindOptions,
  InsertOptions,
  LockIdentity,
  UniqueIndexFix,
  Uniqueness,
} from './store-types.js'

export type {
  AdvisoryLock,
  BatchAnswer,
  BatchEntry,
  Fence,
  FindOptions,
  InsertOptions,
  LockIdentity,
  UniqueIndexFix,
  Uniqueness,
} from './store-types.js'

/**
 * Where rows live, as the strategies see it. `drizzleStore(db, table)` and `memoryStore()` implement it; so
 * can any object, for any database (see "Write your own store" in the README and the conformance suite in
 * `@getorcreate/core/testing`).
 *
 * A store object must always talk through one connection context (the database, or one transaction): the
 * in-process single flight (`Strategy.singleFlight`) shares calls per store object, so a store that picks
 * its transaction per call (from `AsyncLocalStorage`, say) must be used with `singleFlight: false`.
 *
 * @typeParam Row - what a read returns.
 * @typeParam Key - the lookup: a plain object of field → value.
 * @typeParam Values - what an insert takes.
 */
export interface Store<Row, Key = Partial<Row>, Values = Partial<Row>> {
  /**
   * The store's name in messages and errors (for example `'pg:public.items'`), known without any I/O. For a
   * store without {@link Store.lockIdentity} it is also the table's identity, from which lock strategies
   * derive their lock keys: then it must be the same in every process that talks to the table, for every way
   * of naming it. A store whose declaration does not say which table it is (drizzle's `pgTable('t')` is
   * resolved by `search_path`, `mysqlTable('t')` by the connection's database) answers the table itself in
   * `lockIdentity().table` instead, which may cost the round trip that `name` cannot.
   */
  readonly name: string
  /**
   * The fields rows have. When present, the facade refuses keys and defaults that name any other field
   * (drizzle, for one, silently drops unknown properties on insert). Optional.
   */
  readonly fields?: readonly string[]
  /**
   * True when the store is bound to an open transaction, so that what it inserts is committed (and visible to
   * other callers) only later. Lock strategies refuse such stores; the constraint strategy is safe in them.
   * Default is `false`.
   */
  readonly inTransaction?: boolean
  /**
   * True when {@link Store.insert} checks `opts.fence`: it refuses a write whose fencing token is lower than
   * one it has already seen. Lock strategies take a fencing token (a Redis round trip) only for such stores:
   * a token nobody checks protects nothing. Default is `false`.
   */
  readonly checksFence?: boolean
  /** One row whose fields equal the key's values, or `undefined`. */
  find(key: Key, opts?: FindOptions): Promise<Row | undefined>
  /** Insert unconditionally and return the row as stored. Used by lock strategies. */
  insert(values: Values, opts?: InsertOptions): Promise<Row>
  /**
   * Insert unless a row with this key exists, atomically (the database's unique index decides, as `INSERT …
   * ON CONFLICT (key) DO NOTHING RETURNING *` does), without aborting the caller's transaction on that
   * conflict; return the inserted row, or `undefined` when a row with this key exists. A conflict on any
   * other unique constraint must be thrown. Stores that cannot do this atomically must not implement it: the
   * constraint strategy then refuses them. Named `insertIfAbsent` before 0.3.
   */
  insertIfAbsentAtomically?(key: Key, values: Values): Promise<Row | undefined>
  /**
   * @deprecated Renamed {@link Store.insertIfAbsentAtomically} in 0.3: the old name did not say that it must
   * be atomic. Still honoured when the new name is absent; removed in 0.4.
   */
  insertIfAbsent?(key: Key, values: Values): Promise<Row | undefined>
  /**
   * Insert unless a fresh read finds a row with this key, in one round trip (`INSERT … SELECT … WHERE NOT
   * EXISTS (…)`); return the inserted row, or `undefined` when such a row exists. Not atomic against other
   * creators: lock strategies call it only while they hold the key's lock, in place of a fresh `find` followed
   * by `insert`. A conflict on a unique constraint must be thrown. It takes no fencing token: for a store with
   * `checksFence`, lock strategies use `find(key, { fresh: true })` and `insert(values, { fence })` instead, as
   * they do for a store without this method. Named `insertUnlessFound` before 0.3.
   */
  insertIfAbsentUnderLock?(key: Key, values: Values): Promise<Row | undefined>
  /**
   * For lock strategies, on a store with `checksFence`: in one transaction, raise the fence of `fence.lockKey`
   * to `fence.token` unless it already holds that token or a larger one (then throw `LockLostError`: a newer
   * owner exists; nothing is written), then, while holding that fence (every creator of the lock key waits
   * for it), read the key fresh and insert unless a row is found. Returns the inserted row, or `undefined`
   * when a row with this key exists. A holder paused past its lock's expiry, whose token is older than the
   * next owner's, so cannot write a second row. A row found by a read before the raise should end the call
   * with `undefined` and nothing written, the fence neither raised nor checked (a read needs no lock): the
   * Redis-lock strategy calls this before any read for keys it guesses new, and a wrong guess should then
   * cost a read, not a write. The built-in stores do so.
   */
  insertIfAbsentFenced?(key: Key, values: Values, fence: Fence): Promise<Row | undefined>
  /**
   * @deprecated Renamed {@link Store.insertIfAbsentUnderLock} in 0.3: the old name did not say that it is safe
   * only under a lock. Still honoured when the new name is absent; removed in 0.4.
   */
  insertUnlessFound?(key: Key, values: Values): Promise<Row | undefined>
  /**
   * For `getOrCreateMany`: the row of each key, in the order of `keys` (`undefined` where none), each compared
   * as `find` compares it (the database's equality), read in as few statements as the database allows, each
   * a new statement (as `find(key, { fresh: true })`). The keys have the same fields. Optional: with it and
   * {@link Store.insertManyIfAbsentAtomically}, the constraint strategy settles a batch in three statements
   * (where the store has {@link Store.findOrInsertManyAtomically} too: in one where the `defaults` are objects
   * and the store is not bound to a transaction, else in this read and that statement for the keys that
   * missed); without, one key at a time. The constraint strategy also sends the plain reads of `getOrCreate`
   * calls made in one turn of the event loop through it (`batchReads`, outside a transaction), so a key must
   * find here exactly the row `find` finds for it, and each entry should be a row object of its own.
   */
  findMany?(keys: readonly Key[]): Promise<(Row | undefined)[]>
  /**
   * For `getOrCreateMany`: insert each entry unless a row with its key exists, atomically as
   * {@link Store.insertIfAbsentAtomically} does (the unique index on the keys' fields decides, all entries in
   * one statement where the database allows), then read each key's row back; answer, in the order of
   * `entries`, the row that now holds the key (`undefined` if none does, say it was deleted meanwhile) and
   * whether this call inserted it. Two entries whose keys the database treats as equal get the same row, and
   * at most the first of them `inserted: true`. A conflict on any other unique constraint is thrown. The keys
   * have the same fields. Answer `undefined` (nothing written) where it cannot: then the strategy settles the
   * entries one at a time.
   */
  insertManyIfAbsentAtomically?(
    entries: readonly BatchEntry<Key, Values>[],
  ): Promise<readonly BatchAnswer<Row>[] | undefined>
  /**
   * For `getOrCreateMany`, with each entry's values at hand (from an object; or from a `defaults` function,
   * called once {@link Store.findMany} missed the key: outside a transaction, keys whose `defaults` are objects
   * come here unread, a transaction's after that read, since the statement is an INSERT even for keys that
   * all exist, which a read-only transaction refuses): read each key's row and insert the entries whose keys
   * have none, in one statement where the database allows, the insert atomic as
   * {@link Store.insertIfAbsentAtomically} (the unique index on the keys' fields decides).
   * Answer, in the order of `entries`, each key's row (compared as `find` compares it) and whether this call
   * inserted it; two entries the database treats as equal get the same row, and at most the first of them
   * `inserted: true`. `row: undefined` for a key it could settle neither way (a row committed by another
   * caller after the statement began, which the insert did not overwrite): the strategy settles those one at
   * a time. A conflict on any other unique constraint is thrown. The keys have the same fields. Answer
   * `undefined` (nothing written) where it cannot: then the strategy reads with {@link Store.findMany} (if it
   * has not yet) and inserts the keys that missed with {@link Store.insertManyIfAbsentAtomically}. Optional,
   * and only with those two. The constraint strategy also sends it one entry for a `getOrCreate` whose key
   * most likely has no row (a key this process has not met lately, where the keys met for the first time mostly had none; an operation that several calls
   * share, where the store's previous shared operation missed): a round trip for a fresh key instead of two;
   * answering `undefined` there makes it read first. Those of one turn go together, as one call with all their
   * entries (`batchWrites`), so it must be atomic as its name says: all of its writes in one statement or one
   * transaction, kept together or not at all. Where it fails with a database's refusal of the statement (a
   * Postgres SQLSTATE outside classes 08, 57P and XX, not `FATAL` or `PANIC`; a MySQL / MariaDB error not fatal
   * to the connection; a SQLite result code), or throws synchronously, nothing it wrote may remain: then each
   * entry is sent again alone. Any other failure (a lost connection) fails each caller of the batch with it.
   */
  findOrInsertManyAtomically?(
    entries: readonly BatchEntry<Key, Values>[],
  ): Promise<readonly BatchAnswer<Row>[] | undefined>
  /**
   * For `updateOrCreate`: write `values` over the row of `key` (compared as `find` compares it: the database's
   * equality) in one statement, and answer the row as updated; `undefined` when no row has the key. Where
   * several rows have it (a table without a unique index that holds duplicates), every one of them is
   * updated and one is answered. `values` never hold a key field with another value.
   */
  update?(key: Key, values: Partial<Values>): Promise<Row | undefined>
  /**
   * For `advisoryLockStrategy` (Postgres): in a READ COMMITTED transaction, take the transaction-scoped
   * advisory lock `lock.id` (`pg_advisory_xact_lock`, waiting at most `lock.timeoutMs`, else
   * `LockUnavailableError` with nothing written), then, in a new statement (so a new snapshot, which sees a row
   * the lock's previous holder committed), read the key and insert `values` unless a row is found; commit,
   * which releases the lock. Answers the row found (`created: false`) or inserted (`created: true`). On a store
   * bound to an open transaction that transaction is used, and the lock is held to its end; a transaction at
   * REPEATABLE READ or SERIALIZABLE, whose snapshot may predate the lock, is refused with
   * `LockInTransactionError` before the lock is taken, and the wait must not abort the transaction (a
   * `LockUnavailableError` leaves it usable).
   */
  findOrInsertUnderAdvisoryLock?(
    key: Key,
    values: Values,
    lock: AdvisoryLock,
  ): Promise<GetOrCreateResult<Row>>
  /** Whether the store itself enforces uniqueness of exactly these fields (see {@link Uniqueness}). */
  uniqueness?(fields: readonly string[]): Promise<Uniqueness>
  /**
   * How to add the unique index on exactly these fields that {@link Store.uniqueness} found missing (or that
   * a store without `insertIfAbsentAtomically` needs): the table's and the columns' names in the database, and a
   * statement in the store's dialect that runs as printed (see {@link UniqueIndexFix}). The constraint
   * strategy calls it only to build a `MissingUniqueConstraintError`, so it may cost a round trip. Optional:
   * without it (or if it throws) the error names the store and the key's fields, and prints no SQL.
   */
  uniqueIndexFix?(fields: readonly string[]): UniqueIndexFix | Promise<UniqueIndexFix>
  /**
   * Refuse, before any I/O, a key the table can never hold as given: `null` for a NOT NULL column, a value
   * of the wrong JavaScript type for its column. Throws `InvalidKeyError` naming the field, the value and
   * what the column takes. `getOrCreate` calls it after its own checks, before the strategy. Optional.
   */
  checkKey?(key: Key): void
  /**
   * For lock strategies, which must take one lock for all keys the database treats as equal: the table as
   * the database resolves it, and the key's values as the database compares them (see {@link LockIdentity}).
   * It may cost a round trip (lock strategies call it only on a miss, before taking the lock; hits never
   * lock). It throws `InvalidKeyError` for a key column whose equality has no sound canonical form (say, a
   * nondeterministic collation), naming the collation and the fix. Optional: without it lock strategies use
   * `name` and the key as JavaScript sees it, which is right only for exact types and binary collations.
   */
  lockIdentity?(key: Key): LockIdentity | Promise<LockIdentity>
  /**
   * The names of the triggers that run before each row inserted into the table, which may rewrite key columns
   * or skip the row (`[]`: none). The constraint strategy asks only when an insert was refused for a key that
   * no row holds, `maxAttempts` times in a row, to tell such a trigger (`KeyRewrittenError`) from rows deleted
   * as fast as they are created (`RowVanishedError`). May cost a round trip. Optional.
   */
  insertTriggers?(): Promise<readonly string[]>
}

/** The key of {@link TableName}'s type-only member: no value ever has it. */
declare const tableNameKey: unique symbol

/**
 * Type-level only: a store whose table's name the compiler knows, so that compile errors about keys and
 * defaults can name the table (`UnknownColumn<"nope", "tags">`). `drizzleStore` returns one; a custom store
 * may declare itself `Store<Row> & TableName<'tags'>`. Nothing is set at run time.
 */
export interface TableName<Name extends string> {
  /** Never present at run time: it only carries `Name` for the compiler. */
  readonly [tableNameKey]?: Name
}

/** What `getOrCreate` resolves to. */
export interface GetOrCreateResult<Row> {
  /** The one row for the key: found, or created by this call. */
  readonly row: Row
  /** `true` only for the one call that inserted the row; every other caller of the key gets `false`. */
  readonly created: boolean
}

/**
 * `defaults` of `getOrCreate`, as its caller gives them: the other values of a new row, or a function (sync
 * or async) that makes them, called at most once and only when a create is attempted. Strategies never see
 * this union: `getOrCreate` checks it, merges the key over it, and hands them one shape, {@link NewRowValues}.
 */
export type Defaults<Values> = Values | (() => Values | Promise<Values>)

/**
 * What a {@link Strategy} receives in place of `defaults`, whatever the caller gave (an object, a function, or
 * nothing): a function that resolves to the values of the new row, `{ ...defaults, ...key }`, checked (no
 * field the store lacks, no key field with another value than the key's) and with the key merged in once, by
 * `getOrCreate`. Insert what it resolves to as it is.
 *
 * Call it only when a create is attempted (after a read found no row): it runs the caller's `defaults`
 * function, which must never run on a hit. It is memoized: the first call makes the values, every later call
 * returns the same promise (the same object, or the same error), so the caller's function runs at most once
 * however often a strategy asks. It rejects with `ConflictingDefaultsError` when what a `defaults` function
 * returned fails the checks, or with that function's own error, unchanged.
 *
 * A strategy written for 0.2, which took `defaults` and merged the key over them itself, still works: this is
 * a function, so it calls it, and merging the key over values that hold it already changes nothing.
 *
 * @typeParam Values - what the store's inserts take.
 */
export interface NewRowValues<Values> {
  /** The values to insert; see {@link NewRowValues}. */
  (): Promise<Values>
  /**
   * `true` when `defaults` is a function: the first call runs the caller's code, which may take its time (a
   * lock strategy confirms that it still holds its lock after it, before writing). `false` when `defaults` was
   * an object or absent: the values were made and checked before the strategy was called, and the call
   * resolves at once.
   */
  readonly lazy: boolean
}

/**
 * How the race between callers is settled. `constraintStrategy()` (the default) leaves it to the database's
 * unique index; `redisLockStrategy()` from `@getorcreate/redis-lock` to a lock every caller takes. Strategies
 * receive validated input from the facade and speak only to the {@link Store}.
 */
export interface Strategy {
  /** A short name for logs and errors, e.g. `'constraint'`. */
  readonly name: string
  /**
   * `true` to let `getOrCreate` share one operation among the calls of this process for the same strategy
   * object, store object and key made in the same tick (in-process single flight), as when one event fans out
   * to several handlers: one read, at most one insert for all of them. The first call queues the operation in
   * a microtask, and the calls made before it begins join it; the first gets its result as it is, the others
   * `{ row, created: false }` with their own copy of the row, and their `defaults` are never called. A call
   * made later runs its own operation, so none gets a row read before it was made. A failure before the
   * operation asks for the first call's values fails every call sharing it with the same error; one after
   * (its `defaults`, or a row the database refused) fails the first call only, and the others try again at
   * once, each on its own, in its own async context.
   * Never across two store objects (two transactions must not see each other's rows) nor two strategy
   * objects. `constraintStrategy()` sets it (its option `singleFlight`, default `true`). Default is `false`:
   * each call runs on its own.
   */
  readonly singleFlight?: boolean
  /**
   * Return the row for `key`, creating it with `await values()` if none exists.
   *
   * @param store - where the rows live.
   * @param key - the key, validated: a non-empty plain object of the store's fields, `getOrCreate`'s own
   *   copy of the caller's (own enumerable fields, each read once), which nothing else changes.
   * @param values - the new row's values, checked and with the key merged in (see {@link NewRowValues}): call
   *   it only when a create is attempted, never on a hit.
   * @param trace - only while somebody subscribes to the `getorcreate:getOrCreate` channel: what the strategy
   *   may report of this call (its store calls, create attempts, lock wait, whether its first read missed),
   *   for the channel's subscribers. Optional to fill; a strategy that ignores it works the same.
   */
  getOrCreate<Row, Key, Values>(
    store: Store<Row, Key, Values>,
    key: Key,
    values: NewRowValues<Values>,
    trace?: CallTrace,
  ): Promise<GetOrCreateResult<Row>>
  /**
   * Optional: `getOrCreate` for many keys at once, for `getOrCreateMany`, which calls it with distinct keys
   * (as `encodeKey` encodes them), each validated, with its values; answer one result per entry, in order.
   * Read `values` from the entry itself: it is made on first read (a getter), so a spread copy has none.
   * Without it, `getOrCreateMany` calls {@link Strategy.getOrCreate} per key.
   */
  getOrCreateMany?<Row, Key, Values>(
    store: Store<Row, Key, Values>,
    entries: readonly BatchEntry<Key, NewRowValues<Values>>[],
  ): Promise<GetOrCreateResult<Row>[]>
}
