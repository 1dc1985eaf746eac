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
  | 'KEY_REWRITTEN'
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
  /**
   * Marks errors of this library across copies of the package: what {@link isGetOrCreateError} checks.
   * @internal
   */
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

/** Options of {@link MissingUniqueConstraintError}: what the store could say about the missing index. */
export interface MissingUniqueConstraintErrorOptions extends GetOrCreateErrorOptions {
  /** The key's fields as the caller named them (property names, sorted). Default is `columns`. */
  readonly fields?: readonly string[]
  /** The store's name (`'pg:public.tags'`). Default is `table`. */
  readonly store?: string
  /** A statement in the store's dialect that adds the missing unique index and runs as printed. */
  readonly sql?: string
  /**
   * What to do where there is no SQL (e.g. `memoryStore`'s `uniqueBy`; a partitioned table: the lock
   * strategy), or a caveat to the SQL (a nullable column). Printed in the message; a hint that names
   * `redisLockStrategy` is printed as the whole fix.
   */
  readonly hint?: string
}

/**
 * `MISSING_UNIQUE_CONSTRAINT`: the constraint strategy found no unique index or constraint that covers
 * exactly the key's columns (partial indexes, deferrable constraints and indexes on more or fewer columns do
 * not count). Without one the database cannot stop two callers from creating two rows. Nothing was written.
 * Fix: run `error.sql` (the statement that adds the index, in the store's dialect, with the database's own
 * names), or use `redisLockStrategy` from `@getorcreate/redis-lock`.
 */
export class MissingUniqueConstraintError extends GetOrCreateError {
  /**
   * The table as the database names it, schema-qualified where it has one (`'public.tags'`, `'shop.tags'`);
   * the store's name when the store cannot say (a custom store without `uniqueIndexFix`).
   */
  readonly table: string
  /**
   * The key's columns as the database names them (`['tenant_id']`), in the order of {@link fields}; the
   * key's fields themselves when the store cannot say.
   */
  readonly columns: readonly string[]
  /** The key's fields as the caller named them (`['tenantId']`: drizzle property names), sorted. */
  readonly fields: readonly string[]
  /** The store's name, e.g. `'pg:public.tags'`. */
  readonly store: string
  /**
   * A statement in the store's dialect, with quoted names, that adds a unique index on exactly
   * {@link columns} and runs as printed; `undefined` when the store cannot say (not SQL, or a custom store)
   * or no such index can be added (a Postgres partitioned table whose partition key the key lacks).
   */
  readonly sql: string | undefined
  /**
   * What to do besides or instead of {@link sql}, also printed in the message, or `undefined`: e.g.
   * `memoryStore`'s `uniqueBy`; that a nullable key column must be made NOT NULL for a key with a NULL in it
   * to be one row (MySQL / MariaDB, SQLite, Postgres before 15); or, for a partitioned table, to use
   * `redisLockStrategy`.
   */
  readonly hint: string | undefined

  constructor(table: string, columns: readonly string[], options: MissingUniqueConstraintErrorOptions = {}) {
    const list = columns.join(', ')
    const fields = options.fields ?? columns
    const named =
      fields.length === columns.length && fields.every((field, i) => field === columns[i])
        ? `(${list})`
        : `(${list}: the key's ${fields.join(', ')})`
    const instead =
      'where the database cannot enforce it (a partitioned table, existing duplicates), use ' +
      'redisLockStrategy from @getorcreate/redis-lock.'
    let fix: string
    if (options.sql !== undefined) {
      fix = `Fix: add one, e.g.\n  ${options.sql};\n${options.hint ? `${options.hint}\n` : ''}or, ${instead}`
    } else if (options.hint !== undefined) {
      // A hint that already says to use the lock strategy (no index can enforce this key) is the whole fix.
      fix = options.hint.includes('redisLockStrategy')
        ? `Fix: ${options.hint}.`
        : `Fix: ${options.hint}; or, ${instead}`
    } else {
      fix = `Fix: add a unique index or constraint on exactly these columns; or, ${instead}`
    }
    super(
      'MISSING_UNIQUE_CONSTRAINT',
      `No unique index or constraint on ${table} covers exactly ${named}, so the database cannot stop two ` +
        `callers from creating two rows for one key. Nothing was written. ${fix}`,
      'cause' in options ? { cause: options.cause } : {},
    )
    this.name = 'MissingUniqueConstraintError'
    this.table = table
    this.columns = Object.freeze([...columns])
    this.fields = Object.freeze([...fields])
    this.store = options.store ?? table
    this.sql = options.sql
    this.hint = options.hint
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

/** Options of {@link KeyRewrittenError}. */
export interface KeyRewrittenErrorOptions extends GetOrCreateErrorOptions {
  /** The store's name (`'pg:public.tags'`). */
  readonly store: string
  /** The triggers that run before each inserted row, by name, where the store looked them up; else empty. */
  readonly triggers?: readonly string[]
  /** Whether the row the database stored for another key exists (a store that cannot undo its insert). */
  readonly written?: boolean
}

/**
 * `KEY_REWRITTEN`: the database does not store the key as given: a trigger that runs before each inserted
 * row (Postgres, MySQL / MariaDB `BEFORE INSERT … FOR EACH ROW`) changed a key column, or skipped the row.
 * No row compares equal to the key, and none can be created for it, so no caller gets a row: not the one
 * whose insert was rewritten (it would hold another key), nor the ones whose insert the rewritten row then
 * blocked. `written` says whether a row was left behind (see the README). Not retryable: normalize the key
 * before calling, the way the trigger does, or make the trigger leave key columns alone.
 */
export class KeyRewrittenError extends GetOrCreateError {
  /** The store's name, e.g. `'pg:public.tags'`. */
  readonly store: string
  /** The triggers that run before each inserted row of the table, where known (may be empty). */
  readonly triggers: readonly string[]
  /** True when the row stored under the rewritten key exists: only where the store could not undo it. */
  readonly written: boolean

  constructor(message: string, options: KeyRewrittenErrorOptions) {
    super('KEY_REWRITTEN', message, 'cause' in options ? { cause: options.cause } : {})
    this.name = 'KeyRewrittenError'
    this.store = options.store
    this.triggers = Object.freeze([...(options.triggers ?? [])])
    this.written = options.written === true
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
