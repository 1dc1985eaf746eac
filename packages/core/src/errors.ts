/**
 * Every error this library throws on its own account, by stable `code`.
 *
 * Errors that come from the database itself (a unique violation on another column, a lost connection) are
 * not wrapped: they reach the caller unchanged, with every field the driver set.
 */
export type GetOrCreateErrorCode =
  | 'INVALID_KEY'
  | 'CONFLICTING_DEFAULTS'
  | 'MISSING_UNIQUE_CONSTRAINT'
  | 'SERIALIZATION_CONFLICT'
  | 'ROW_VANISHED'
  | 'LOCK_UNAVAILABLE'
  | 'LOCK_LOST'
  | 'LOCK_IN_TRANSACTION'

/** A brand that survives two copies of this package (ESM and CJS, or two versions) in one process. */
const BRAND: unique symbol = Symbol.for('getorcreate.error')

/** Options every {@link GetOrCreateError} takes. */
export interface GetOrCreateErrorOptions {
  /** The underlying error (a driver error, a Redis error), kept as `error.cause`. */
  cause?: unknown
}

/**
 * Base class of every error this library throws. Check `error.code`, a stable string, rather than the
 * message, which may be reworded; use {@link isGetOrCreateError} rather than `instanceof` where two copies
 * of the package may be loaded.
 *
 * @example
 * ```ts
 * try {
 *   await getOrCreate(store, { slug }, defaults)
 * } catch (error) {
 *   if (isGetOrCreateError(error) && error.retryable) return retryTransaction()
 *   throw error
 * }
 * ```
 */
export class GetOrCreateError extends Error {
  /** A stable identifier of what went wrong; see the README's errors section for each code. */
  readonly code: GetOrCreateErrorCode
  /** True when running the same call again (for a transaction: the whole transaction) can succeed. */
  readonly retryable: boolean
  declare readonly [BRAND]: true

  constructor(code: GetOrCreateErrorCode, message: string, options: GetOrCreateErrorOptions = {}) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined)
    this.name = 'GetOrCreateError'
    this.code = code
    this.retryable = false
    Object.defineProperty(this, BRAND, { value: true, enumerable: false })
  }
}

/**
 * True when `error` is a {@link GetOrCreateError}, from this copy of the package or from any other one
 * (ESM and CJS builds, two installed versions). Narrow further with `error.code`.
 */
export function isGetOrCreateError(error: unknown): error is GetOrCreateError {
  return typeof error === 'object' && error !== null && (error as { [BRAND]?: unknown })[BRAND] === true
}

/**
 * `INVALID_KEY`: the key cannot identify one row. It is empty, not a plain object, has an `undefined` value,
 * names a column the table lacks, holds a value of an unsupported type, or holds `null` where the unique index
 * treats NULLs as distinct. Thrown before any I/O. Fix the call.
 */
export class InvalidKeyError extends GetOrCreateError {
  constructor(message: string, options?: GetOrCreateErrorOptions) {
    super('INVALID_KEY', message, options)
    this.name = 'InvalidKeyError'
  }
}

/**
 * `CONFLICTING_DEFAULTS`: `defaults` are not a plain object, name a column the table lacks, or give a key
 * column a value other than the key's. Thrown before the insert. Fix the call: a created row always has the
 * key's values.
 */
export class ConflictingDefaultsError extends GetOrCreateError {
  constructor(message: string, options?: GetOrCreateErrorOptions) {
    super('CONFLICTING_DEFAULTS', message, options)
    this.name = 'ConflictingDefaultsError'
  }
}

/**
 * `MISSING_UNIQUE_CONSTRAINT`: the constraint strategy found no unique index or constraint that covers
 * exactly the key's columns (partial indexes, deferrable constraints and indexes on more or fewer columns do
 * not count). Without one the database cannot stop two callers from creating two rows. Nothing was written.
 * Fix: add the constraint, or use `redisLockStrategy` from `@getorcreate/redis-lock`.
 */
export class MissingUniqueConstraintError extends GetOrCreateError {
  /** The table (or store) that was checked. */
  readonly table: string
  /** The key's columns that no unique index covers exactly. */
  readonly columns: readonly string[]

  constructor(table: string, columns: readonly string[], options?: GetOrCreateErrorOptions) {
    const list = columns.join(', ')
    super(
      'MISSING_UNIQUE_CONSTRAINT',
      `No unique index or constraint on ${table} covers exactly (${list}), so the database cannot stop two ` +
        `callers from creating two rows for one key. Nothing was written. Fix: add one, e.g. ` +
        `CREATE UNIQUE INDEX ON ${table} (${list}); or, where the database cannot enforce it (a partitioned ` +
        `table, existing duplicates), use redisLockStrategy from @getorcreate/redis-lock.`,
      options,
    )
    this.name = 'MissingUniqueConstraintError'
    this.table = table
    this.columns = Object.freeze([...columns])
  }
}

/**
 * `SERIALIZATION_CONFLICT` (retryable): inside a REPEATABLE READ or SERIALIZABLE transaction, another caller
 * created the row after this transaction's snapshot was taken, so this transaction can neither see it nor
 * create a second one. The database's error (SQLSTATE 40001 or 23505) is kept as `cause`. Roll back and run
 * the whole transaction again.
 */
export class SerializationConflictError extends GetOrCreateError {
  override readonly retryable = true

  constructor(message: string, options?: GetOrCreateErrorOptions) {
    super('SERIALIZATION_CONFLICT', message, options)
    this.name = 'SerializationConflictError'
  }
}

/**
 * `ROW_VANISHED`: the row for the key existed when the insert was refused but was deleted before it could be
 * read, again and again, up to the attempt limit. Something deletes rows as fast as they are created; the call
 * may be retried.
 */
export class RowVanishedError extends GetOrCreateError {
  override readonly retryable = true

  constructor(message: string, options?: GetOrCreateErrorOptions) {
    super('ROW_VANISHED', message, options)
    this.name = 'RowVanishedError'
  }
}

/**
 * `LOCK_UNAVAILABLE`: a lock strategy could not take the lock within its bound: another caller held it for the
 * whole wait, the lock server is down or unreachable, or no quorum of lock servers answered. The message says
 * which. Nothing was written; the call may be retried.
 */
export class LockUnavailableError extends GetOrCreateError {
  override readonly retryable = true

  constructor(message: string, options?: GetOrCreateErrorOptions) {
    super('LOCK_UNAVAILABLE', message, options)
    this.name = 'LockUnavailableError'
  }
}

/**
 * `LOCK_LOST`: a lock strategy lost its lock (it expired or was taken) before the write. Nothing was written;
 * the call may be retried. Frequent occurrences mean the lock's TTL is too short for the store.
 */
export class LockLostError extends GetOrCreateError {
  override readonly retryable = true

  constructor(message: string, options?: GetOrCreateErrorOptions) {
    super('LOCK_LOST', message, options)
    this.name = 'LockLostError'
  }
}

/**
 * `LOCK_IN_TRANSACTION`: a lock strategy was given a store bound to an open transaction
 * (`drizzleStore(tx, table)`). The lock is released when the call returns, but the row is committed only when
 * the transaction commits: in between, the next lock holder cannot see it and creates a second one. Nothing
 * was written. Call it with a store over the database itself (its insert commits at once), or use a unique
 * index and the constraint strategy, which is safe inside transactions.
 */
export class LockInTransactionError extends GetOrCreateError {
  constructor(message: string, options?: GetOrCreateErrorOptions) {
    super('LOCK_IN_TRANSACTION', message, options)
    this.name = 'LockInTransactionError'
  }
}
