import { SerializationConflictError } from '../../errors.js'
import { causeChain } from '../common/cause-chain.js'

/** The first `code` on `error` or its causes that looks like a Postgres SQLSTATE (five characters). */
export function sqlState(error: unknown): string | undefined {
  for (const current of causeChain(error)) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code
  }
  return undefined
}

/**
 * An insert's error in our terms: 40001 (serialization failure) becomes {@link SerializationConflictError},
 * cause kept; any other error is rethrown unchanged.
 */
export function pgInsertError(error: unknown, label: string): never {
  if (sqlState(error) === '40001') {
    throw new SerializationConflictError(
      `Another transaction created the row for this key of ${label} after this transaction's snapshot was ` +
        `taken (REPEATABLE READ or SERIALIZABLE): it can neither see that row nor create a second one. Roll ` +
        `back and run the whole transaction again.`,
      { cause: error },
    )
  }
  throw error
}

/**
 * An update's error in our terms: 40001 (another transaction updated the row after this one's snapshot, under
 * REPEATABLE READ or SERIALIZABLE) becomes {@link SerializationConflictError}, cause kept; any other error is
 * rethrown unchanged.
 */
export function pgUpdateError(error: unknown, label: string): never {
  if (sqlState(error) === '40001') {
    throw new SerializationConflictError(
      `Another transaction changed the row of this key of ${label} after this transaction's snapshot was taken ` +
        `(REPEATABLE READ or SERIALIZABLE), so it cannot be updated over. Roll back and run the whole ` +
        `transaction again.`,
      { cause: error },
    )
  }
  throw error
}
