import { GetOrCreateError, type GetOrCreateErrorOptions } from './base.js'

/**
 * `LOCK_UNAVAILABLE`: a lock strategy could not take the lock within its bound: another caller held it for the
 * whole wait, the lock server is down or unreachable, or no quorum of lock servers answered. The message says
 * which. Nothing was written; the call may be retried. `cause`: from `advisoryLockStrategy` in its own
 * transaction, the driver's own error (`code` `'55P03'`, lock_timeout); in the caller's transaction, none; from
 * the Redis lock, an `AggregateError` of the nodes' errors when some failed (for `getOrCreateMany`, the
 * `LockUnavailableError` of the lock it could not take).
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
 * index and the constraint strategy, which is safe inside transactions. `advisoryLockStrategy` holds its lock to
 * the transaction's end and takes such stores, except in a transaction at REPEATABLE READ or SERIALIZABLE, whose
 * snapshot, taken before the lock, could hide another creator's row: refused before the lock is taken, the
 * transaction left usable.
 */
export class LockInTransactionError extends GetOrCreateError {
  constructor(message: string, options?: GetOrCreateErrorOptions) {
    super('LOCK_IN_TRANSACTION', message, options)
    this.name = 'LockInTransactionError'
  }
}

/**
 * `LOCK_MISCONFIGURED`: a lock strategy was given clients or options with which its lock cannot be safe: a client
 * that resends a cut-off lock command after reconnecting, a client with a key prefix of its own, one Redis node
 * given twice, or a key prefix that splits a lock from its fencing counter across Redis Cluster slots; or
 * `advisoryLockStrategy` a store that cannot take Postgres advisory locks. The message says which, and what to
 * set. Thrown when the strategy is made (for a node reached under two
 * addresses: on its first lock), before any write. Not retryable: fix the configuration.
 */
export class LockMisconfiguredError extends GetOrCreateError {
  constructor(message: string, options?: GetOrCreateErrorOptions) {
    super('LOCK_MISCONFIGURED', message, options)
    this.name = 'LockMisconfiguredError'
  }
}
