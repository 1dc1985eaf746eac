import { SerializationConflictError } from '../../errors.js'
import { causeChain } from '../common/cause-chain.js'

/** The first SQLite result code (`SQLITE_…`) on `error` or its causes. */
function sqliteCode(error: unknown): string | undefined {
  for (const current of causeChain(error)) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string' && code.startsWith('SQLITE_')) return code
  }
  return undefined
}

/**
 * A write's error in our terms: `SQLITE_BUSY_SNAPSHOT` becomes {@link SerializationConflictError}, cause
 * kept; any other error, `SQLITE_BUSY` after the busy timeout included, is rethrown unchanged.
 */
export function sqliteWriteError(error: unknown, table: string): never {
  if (sqliteCode(error) === 'SQLITE_BUSY_SNAPSHOT') {
    throw new SerializationConflictError(
      `Another connection wrote to the database file after this transaction's first read, so SQLite refuses ` +
        `this transaction's write to ${table} (SQLITE_BUSY_SNAPSHOT). Roll back and run the whole ` +
        `transaction again (BEGIN IMMEDIATE avoids it).`,
      { cause: error },
    )
  }
  throw error
}
