import { driverErrorIn } from '../../cause-chain.js'
import { SerializationConflictError } from '../../errors.js'

/** MySQL / MariaDB error number of a duplicate key. */
export const ER_DUP_ENTRY = 1062
/** MySQL / MariaDB error number of a deadlock (SQLSTATE 40001). */
export const ER_LOCK_DEADLOCK = 1213

/** mysql2's error for a server error: `errno`, `code` (`'ER_DUP_ENTRY'`), `sqlState`, `sqlMessage`. */
export type MySqlDriverError = Error & { readonly errno: number; readonly sqlMessage?: string }

/**
 * The first MySQL / MariaDB error (numeric `errno`) on `error` or its causes, with the server's message, and
 * the driver's error itself (`error`), drizzle's `DrizzleQueryError` around it skipped.
 */
export function mysqlError(
  error: unknown,
): { errno: number; message: string; error: MySqlDriverError } | undefined {
  const driver = driverErrorIn(
    error,
    (candidate): candidate is MySqlDriverError =>
      typeof (candidate as { errno?: unknown }).errno === 'number',
  )
  if (!driver) return undefined
  const { sqlMessage, message } = driver as { sqlMessage?: unknown; message?: unknown }
  return {
    errno: driver.errno,
    message: typeof sqlMessage === 'string' ? sqlMessage : String(message ?? ''),
    error: driver,
  }
}

/**
 * The index a duplicate-key error names: `Duplicate entry 'x' for key 'slug'` (MariaDB, MySQL < 8.0.19) or
 * `… for key 'items.slug'` (MySQL ≥ 8.0.19). Lower-cased, table prefix removed.
 */
export function duplicateIndexName(message: string, table: string): string | undefined {
  const match = /for key '(.*)'\s*$/s.exec(message)
  if (!match?.[1]) return undefined
  const name = match[1].toLowerCase()
  const prefix = `${table.toLowerCase()}.`
  return name.startsWith(prefix) ? name.slice(prefix.length) : name
}

/**
 * A statement's error in our terms: a deadlock (1213) becomes {@link SerializationConflictError}, with the
 * driver's error (`errno` 1213) as `cause`, since InnoDB has already rolled the whole transaction back; any
 * other error is rethrown unchanged.
 */
export function mysqlStatementError(error: unknown, label: string): never {
  const driver = mysqlError(error)
  if (driver?.errno === ER_LOCK_DEADLOCK) {
    throw new SerializationConflictError(
      `A deadlock (MySQL error 1213, SQLSTATE 40001) ended this transaction while it got or created a row ` +
        `of ${label}; the server has rolled the whole transaction back. Run the whole transaction again.`,
      { cause: driver.error },
    )
  }
  throw error
}
