/**
 * The errors this library throws on its own account, one class per stable `code` (the base class and the
 * type of codes in `errors/base.ts`, the lock strategies' errors in `errors/lock-errors.ts`).
 */
import { GetOrCreateError, type GetOrCreateErrorOptions } from './errors/base.js'

export {
  GetOrCreateError,
  type GetOrCreateErrorCode,
  type GetOrCreateErrorOptions,
  isGetOrCreateError,
} from './errors/base.js'
export {
  LockInTransactionError,
  LockLostError,
  LockMisconfiguredError,
  LockUnavailableError,
} from './errors/lock-errors.js'
export {
  MissingUniqueConstraintError,
  type MissingUniqueConstraintErrorOptions,
} from './errors/missing-unique-constraint-error.js'

/**
 * `INVALID_KEY`: the key cannot identify one row. It is empty, not a plain object, has an `undefined` value,
 * names a column the table lacks, holds a value of an unsupported type, or holds `null` where the unique index
 * treats NULLs as distinct. Thrown before anything is written; for a value of the wrong type, before any I/O.
 * NULL under a NULLs-distinct index needs the index's definition, so a store's first call may read the catalog
 * first (the README's "Errors" section counts it). Fix the call.
 */
export class InvalidKeyError extends GetOrCreateError {
  constructor(message: string, options?: GetOrCreateErrorOptions) {
    super('INVALID_KEY', message, options)
    this.name = 'InvalidKeyError'
  }
}

/**
 * `CONFLICTING_DEFAULTS`: `defaults` are not a plain object, name a column the table lacks, or give a key
 * column a value other than the key's; or, for `memoryStore`, hold a value it cannot copy (a function, a
 * symbol, a class instance other than Date, Map, Set and binary data). Thrown before the insert. Fix the call:
 * a created row always has the key's values.
 */
export class ConflictingDefaultsError extends GetOrCreateError {
  constructor(message: string, options?: GetOrCreateErrorOptions) {
    super('CONFLICTING_DEFAULTS', message, options)
    this.name = 'ConflictingDefaultsError'
  }
}

/**
 * `SERIALIZATION_CONFLICT` (retryable): inside a REPEATABLE READ or SERIALIZABLE transaction, another caller
 * created the row after this transaction's snapshot was taken, so this transaction can neither see it nor
 * create a second one (or, for `updateOrCreate`, changed it); or, at any isolation level, the database ended
 * the statement to break a deadlock (transactions taking the same keys in opposite orders). `cause` is the
 * driver's own error: on Postgres its `code` is `'40001'`, or `'40P01'` for a deadlock; on MySQL / MariaDB a
 * deadlock, `errno` 1213 (`sqlState` `'40001'`); on SQLite `code` `'SQLITE_BUSY_SNAPSHOT'`. None where no
 * statement failed (a fence moved after the snapshot). Roll back and run the whole transaction again (outside
 * a transaction, the call).
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
 * blocked. `written` says whether a row was left behind (see the README). Where the database refused the
 * insert, `cause` is the driver's own error (Postgres `code` `'22P02'`, MariaDB `errno` 1690). Not retryable:
 * normalize the key before calling, the way the trigger does, or make the trigger leave key columns alone.
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
