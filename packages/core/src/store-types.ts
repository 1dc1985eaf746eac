/** What a `Store` takes and answers besides rows (re-exported by types.ts, where `Store` is). */

/**
 * What `Store.uniqueness` answers for a set of fields:
 * - `'enforced'`: a unique index or constraint covers exactly these fields, and treats NULLs as equal
 *   (`NULLS NOT DISTINCT`), or the fields can hold no NULL at all in the index's eyes;
 * - `'nulls-distinct'`: such an index exists, but a key with a NULL in it is not protected by it;
 * - `'not-enforced'`: nothing stops two rows with the same values.
 */
export type Uniqueness = 'enforced' | 'not-enforced' | 'nulls-distinct'

/**
 * What a store says about a unique index it lacks, for `MissingUniqueConstraintError`: the names the
 * database uses, and a statement in the store's own dialect that adds the index. See
 * `Store.uniqueIndexFix`.
 */
export interface UniqueIndexFix {
  /** The table as the database names it, schema-qualified where it has one, unquoted: `'public.tags'`. */
  readonly table: string
  /** The columns as the database names them (`['tenant_id']`), one per field asked about, in that order. */
  readonly columns: readonly string[]
  /**
   * A statement that adds a unique index on exactly these columns, with quoted names, in the store's
   * dialect, that runs as printed (no trailing semicolon): `CREATE UNIQUE INDEX ON "public"."tags" ("slug")`.
   */
  readonly sql?: string
  /** What to do where there is no SQL (`memoryStore`: its `uniqueBy` option), or a caveat to the SQL. */
  readonly hint?: string
}

/** Options of `Store.find`. */
export interface FindOptions {
  /**
   * Ask for the newest committed version of the row: a separate statement, and a shared locking read where
   * the isolation level would otherwise hide a row committed after the snapshot (MySQL / MariaDB). Default
   * is `false`: a plain read.
   */
  readonly fresh?: boolean
}

/** Options of `Store.insert`. */
export interface InsertOptions {
  /**
   * A fencing token from a lock strategy: a number that grows with every new lock owner of the key. A store
   * that can check it (refuse a write whose token is lower than one it has seen) closes the gap a lock cannot
   * close alone: a holder paused past its lock's expiry. Stores may ignore it.
   */
  readonly fence?: number
  /**
   * The lock key the {@link InsertOptions.fence} token belongs to: tokens are compared per lock key (one
   * key's owners draw from one counter). Lock strategies pass it with every token.
   */
  readonly lockKey?: string
  /**
   * The key the row is created for (lock strategies pass it). A store that can check, in the insert's own
   * statement, that the row as stored still compares equal to it (a trigger may rewrite key columns) throws
   * `KeyRewrittenError` when it does not, undoing the insert where it can. Stores may ignore it.
   */
  readonly key?: unknown
}

/** A fencing token and the lock key it belongs to, as `Store.insertIfAbsentFenced` takes them. */
export interface Fence {
  /** The token: a non-negative safe integer that grows with every new owner of the lock key. */
  readonly token: number
  /** The lock key (the Redis key of the lock), whose tokens it is compared with. */
  readonly lockKey: string
}

/** The longest lock wait Postgres takes (`lock_timeout`), in milliseconds: `INT_MAX`. */
export const MAX_LOCK_TIMEOUT_MS = 2_147_483_647

/** The lock `Store.findOrInsertUnderAdvisoryLock` takes: which one, and how long to wait for it. */
export interface AdvisoryLock {
  /**
   * The lock: a signed 64-bit integer, as `pg_advisory_xact_lock(bigint)` takes it (`advisoryLockIdFor` makes
   * it from the table and the key as the database compares them).
   */
  readonly id: bigint
  /** How long to wait for it, in milliseconds, before throwing `LockUnavailableError`: a positive integer. */
  readonly timeoutMs: number
}

/** What `Store.lockIdentity` answers: the names a lock key is made of. */
export interface LockIdentity {
  /**
   * The table itself, the same for every declaration of it and in every process: the schema that
   * `search_path` resolves, the database a MySQL connection uses, the file of a SQLite database
   * (`'pg:app.items'`, `'mysql:shop.items'`, `'sqlite:/srv/app.db:items'`).
   */
  readonly table: string
  /**
   * The key's values as the database compares them: keys the database treats as equal (`'bob'` and `'BOB '`
   * under a case-insensitive PAD SPACE collation, `7` and `'7.00'` in a numeric column, a `Date` and the same
   * instant rounded to the column's precision) give equal values here, and keys it tells apart give
   * different ones. Plain JSON-like values (strings, numbers, booleans, `null`), under the key's fields.
   */
  readonly key: Readonly<Record<string, unknown>>
}

/** One entry of `Store.insertManyIfAbsentAtomically`: a key, and the values of its row if it is inserted. */
export interface BatchEntry<Key, Values> {
  /** The key, as `insertIfAbsentAtomically` takes it. */
  readonly key: Key
  /** The new row's values, the key merged in. */
  readonly values: Values
}

/** What `Store.insertManyIfAbsentAtomically` answers for one entry. */
export interface BatchAnswer<Row> {
  /** The row that holds the entry's key after the insert; `undefined` when none does (deleted meanwhile). */
  readonly row: Row | undefined
  /** Whether this call inserted that row (at most one entry of several the database treats as equal). */
  readonly inserted: boolean
}
