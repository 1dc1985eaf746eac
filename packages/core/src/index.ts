/**
 * `@getorcreate/core`: {@link getOrCreate} and {@link getOrCreateMany}, the default {@link constraintStrategy}, the errors (each with a
 * stable `code`), {@link memoryStore}, and the key helpers for authors of stores and strategies. Imports no
 * database driver.
 *
 * @module @getorcreate/core
 */

export {
  type AdvisoryLockStrategy,
  type AdvisoryLockStrategyOptions,
  advisoryLockIdFor,
  advisoryLockStrategy,
} from './advisory-lock-strategy.js'
export { boundedEach, byKeyShape } from './bounded-each.js'
export { type ConstraintStrategyOptions, constraintStrategy } from './constraint-strategy.js'
export {
  type CallTrace,
  configureDiagnostics,
  DIAGNOSTICS_CHANNELS,
  type DiagnosticsOptions,
  type GetOrCreateManyTrace,
  type GetOrCreateOutcome,
  type GetOrCreateTrace,
  type LockEvent,
  type LockNodeFailedEvent,
  type UpdateOrCreateTrace,
} from './diagnostics.js'
export {
  ConflictingDefaultsError,
  GetOrCreateError,
  type GetOrCreateErrorCode,
  type GetOrCreateErrorOptions,
  InvalidKeyError,
  isGetOrCreateError,
  KeyRewrittenError,
  type KeyRewrittenErrorOptions,
  LockInTransactionError,
  LockLostError,
  LockMisconfiguredError,
  LockUnavailableError,
  MissingUniqueConstraintError,
  type MissingUniqueConstraintErrorOptions,
  RowVanishedError,
  SerializationConflictError,
} from './errors.js'
export { FreshKeyGuess, type KeyMeeting } from './fresh-keys.js'
export { getOrCreate } from './get-or-create.js'
export {
  GET_OR_CREATE_MANY_CONCURRENCY,
  type GetOrCreateItem,
  getOrCreateMany,
} from './get-or-create-many.js'
export type {
  CheckedDefaults,
  CheckedValues,
  DefaultsAndStrategy,
  DefaultsArgument,
  DefaultsFor,
  DefaultsRequired,
  ExactKey,
  ExplicitDefaults,
  KeyArgument,
  NeedsDefaults,
  NoInferFrom,
  RequiredFields,
  TableOf,
  UnknownColumn,
  UnknownField,
  UnknownName,
} from './get-or-create-types.js'
export { encodeKey, validateKey } from './key.js'
export { type MemoryStore, type MemoryStoreOptions, memoryStore } from './memory-store.js'
export { resolveValues } from './new-row-values.js'
export { batchedFind } from './read-batch.js'
export { rowOrNone } from './store-answers.js'
export type {
  AdvisoryLock,
  BatchAnswer,
  BatchEntry,
  Defaults,
  Fence,
  FindOptions,
  GetOrCreateResult,
  InsertOptions,
  LockIdentity,
  NewRowValues,
  Store,
  Strategy,
  TableName,
  UniqueIndexFix,
  Uniqueness,
} from './types.js'
export { updateOrCreate } from './update-or-create.js'
export type {
  CheckedCreateDefaults,
  CheckedUpdateValues,
  CreateDefaultsRequired,
  GivenFields,
  MissingOnCreate,
  NeedsCreateDefaults,
  UpdateOrCreateArgumentOptions,
  UpdateOrCreateOptions,
  UpdateValues,
  UpdateValuesArgument,
} from './update-or-create-types.js'
