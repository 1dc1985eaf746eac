import { driverErrorIn } from '../../cause-chain.js'
import { SerializationConflictError } from '../../errors.js'

/** A Postgres driver's error (postgres.js `PostgresError`, node-postgres and PGlite `DatabaseError`). */
export type PgDriverError = Error & { readonly code: string }

/**
 * The driver's error on `error` or its causes: the first with a `code` that looks like a Postgres SQLSTATE
 * (five characters); drizzle's `DrizzleQueryError` around it is skipped.
 */
export function pgDriverError(error: unknown): PgDriverError | undefined {
  return driverErrorIn(
    error,
    (candidate): candidate is PgDriverError =>
      typeof (candidate as { code?: unknown }).code === 'string' &&
      /^[0-9A-Z]{5}$/.test((candidate as { code: string }).code),
  )
}

/** The first `code` on `error` or its causes that looks like a Postgres SQLSTATE (five characters). */
export function sqlState(error: unknown): string | undefined {
  return pgDriverError(error)?.code
}

/**
 * A deadlock (40P01) in our terms, as on MySQL / MariaDB: Postgres ended the statement to break a cycle of
 * transactions waiting for each other's rows (two transactions creating or updating the same keys in opposite
 * orders), and a transaction it ran in is aborted. {@link SerializationConflictError}, retryable, the driver's
 * error as `cause`.
 */
function deadlock(driver: PgDriverError, label: string, doing: string): SerializationConflictError {
  return new SerializationConflictError(
    `A deadlock (Postgres 40P01) ended this statement while it ${doing} a row of ${label}: it and another ` +
      `transaction each waited for a row the other had written or locked (keys taken in opposite orders). ` +
      `Inside a transaction, Postgres has aborted it: roll back and run the whole transaction again; outside ` +
      `one, run the call again. Taking keys in one order (getOrCreateMany sorts its own) avoids it.`,
    { cause: driver },
  )
}

/**
 * An insert's error in our terms: 40001 (serialization failure) and 40P01 (deadlock) become
 * {@link SerializationConflictError}, with the driver's error as `cause`; any other error is rethrown unchanged.
 */
export function pgInsertError(error: unknown, label: string): never {
  const driver = pgDriverError(error)
  if (driver?.code === '40P01') throw deadlock(driver, label, 'created')
  if (driver?.code === '40001') {
    throw new SerializationConflictError(
      `Another transaction created the row for this key of ${label} after this transaction's snapshot was ` +
        `taken (REPEATABLE READ or SERIALIZABLE): it can neither see that row nor create a second one. Roll ` +
        `back and run the whole transaction again.`,
      { cause: driver },
    )
  }
  throw error
}

/**
 * An update's error in our terms: 40001 (another transaction updated the row after this one's snapshot, under
 * REPEATABLE READ or SERIALIZABLE) and 40P01 (deadlock) become {@link SerializationConflictError}, with the
 * driver's error as `cause`; any other error is rethrown unchanged.
 */
export function pgUpdateError(error: unknown, label: string): never {
  const driver = pgDriverError(error)
  if (driver?.code === '40P01') throw deadlock(driver, label, 'updated')
  if (driver?.code === '40001') {
    throw new SerializationConflictError(
      `Another transaction changed the row of this key of ${label} after this transaction's snapshot was taken ` +
        `(REPEATABLE READ or SERIALIZABLE), so it cannot be updated over. Roll back and run the whole ` +
        `transaction again.`,
      { cause: driver },
    )
  }
  throw error
}
