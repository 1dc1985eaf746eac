import { driverErrorIn } from '../../cause-chain.js'
import { SerializationConflictError } from '../../errors.js'

/** A SQLite driver's error with its extended result code (better-sqlite3's `SqliteError`). */
type SqliteDriverError = Error & { readonly code: string }

/** The first error on `error` or its causes with a SQLite result code (`SQLITE_…`). */
function sqliteDriverError(error: unknown): SqliteDriverError | undefined {
  return driverErrorIn(error, (candidate): candidate is SqliteDriverError => {
    const code = (candidate as { code?: unknown }).code
    return typeof code === 'string' && code.startsWith('SQLITE_')
  })
}

/**
 * A write's error in our terms: `SQLITE_BUSY_SNAPSHOT` becomes {@link SerializationConflictError}, with the
 * driver's error as `cause`; any other error, `SQLITE_BUSY` after the busy timeout included, is rethrown
 * unchanged.
 */
export function sqliteWriteError(error: unknown, table: string): never {
  const driver = sqliteDriverError(error)
  if (driver?.code === 'SQLITE_BUSY_SNAPSHOT') {
    throw new SerializationConflictError(
      `Another connection wrote to the database file after this transaction's first read, so SQLite refuses ` +
        `this transaction's write to ${table} (SQLITE_BUSY_SNAPSHOT). Roll back and run the whole ` +
        `transaction again (BEGIN IMMEDIATE avoids it).`,
      { cause: driver },
    )
  }
  throw error
}
