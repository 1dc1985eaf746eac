/**
 * Every error this library throws on its own account, by stable `code`.
 *
 * Errors that come from the database itself (a unique violation on another column, a lost connection) are
 * not this library's: they reach the caller as drizzle-orm throws them, neither wrapped again nor unwrapped.
 * That is drizzle's `DrizzleQueryError` (`Failed query: …`, with `query` and `params`) whose `cause` is the
 * driver's error, every field the driver set (postgres.js, node-postgres, PGlite, mysql2); on better-sqlite3,
 * which drizzle does not wrap, the driver's `SqliteError` itself. The README's "Errors" section lists the
 * exceptions (a transaction the library opens itself).
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
  | 'LOCK_MISCONFIGURED'

/** A brand that survives two copies of this package (ESM and CJS, or two versions) in one process. */
const BRAND: unique symbol = Symbol.for('getorcreate.error')

/** Options every {@link GetOrCreateError} takes. */
export interface GetOrCreateErrorOptions {
  /**
   * The underlying error, kept as `error.cause`. Where this library raises its error from a database error,
   * the driver's own error (`code` on Postgres drivers and better-sqlite3, `errno` on mysql2), never drizzle's
   * `DrizzleQueryError` around it; from the Redis lock, the nodes' errors (see `LockUnavailableError`).
   */
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
