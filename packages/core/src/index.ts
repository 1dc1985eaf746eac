/**
 * `@getorcreate/core`: {@link getOrCreate}, the default {@link constraintStrategy}, the errors (each with a
 * stable `code`), {@link memoryStore}, and the key helpers for authors of stores and strategies. Imports no
 * database driver.
 *
 * @module @getorcreate/core
 */
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
  type MissingUniqueConstraintErrorOptions,
  RowVanishedError,
  SerializationConflictError,
} from './errors.js'
export {
  type CheckedDefaults,
  type CheckedValues,
  type DefaultsAndStrategy,
  type DefaultsArgument,
  type DefaultsFor,
  type DefaultsRequired,
  type ExactKey,
  type ExplicitDefaults,
  getOrCreate,
  type KeyArgument,
  type NeedsDefaults,
  type NoInferFrom,
  type RequiredFields,
  type TableOf,
  type UnknownColumn,
  type UnknownField,
  type UnknownName,
} from './get-or-create.js'
export { encodeKey, validateKey } from './key.js'
export { type MemoryStore, type MemoryStoreOptions, memoryStore } from './memory-store.js'
export type {
  Defaults,
  FindOptions,
  GetOrCreateResult,
  InsertOptions,
  LockIdentity,
  Store,
  Strategy,
  TableName,
  UniqueIndexFix,
  Uniqueness,
} from './types.js'
