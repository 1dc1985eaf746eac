export { type ConstraintStrategyOptions, constraintStrategy, resolveValues } from './constraint-strategy.js'
export {
  ConflictingDefaultsError,
  GetOrCreateError,
  type GetOrCreateErrorCode,
  type GetOrCreateErrorOptions,
  InvalidKeyError,
  isGetOrCreateError,
  LockInTransactionError,
  LockLostError,
  LockUnavailableError,
  MissingUniqueConstraintError,
  RowVanishedError,
  SerializationConflictError,
} from './errors.js'
export { type DefaultsFor, type ExactKey, getOrCreate } from './get-or-create.js'
export { encodeKey, type KeyValue, validateKey } from './key.js'
export { type MemoryStore, type MemoryStoreOptions, memoryStore } from './memory-store.js'
export type {
  Defaults,
  FindOptions,
  GetOrCreateResult,
  InsertOptions,
  Store,
  Strategy,
  Uniqueness,
} from './types.js'
