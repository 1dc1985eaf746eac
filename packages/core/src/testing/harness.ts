import { constraintStrategy } from '../constraint-strategy.js'
import { isGetOrCreateError } from '../errors.js'
import { getOrCreate } from '../get-or-create.js'
import { getOrCreateMany } from '../get-or-create-many.js'
import type { FindOptions, GetOrCreateResult, InsertOptions } from '../types.js'
import { updateOrCreate } from '../update-or-create.js'
import type {
  ConformanceExpect,
  ConformanceShape,
  ConformanceStore,
  ConformanceTable,
  ConformanceTableOptions,
  ConformanceTestApi,
  StoreConformanceOptions,
} from './types.js'

/** An optional member the suite has cases for (see {@link StoreConformanceOptions.members}). */
type ConformanceMember = NonNullable<StoreConformanceOptions['members']>[number]

/** Every {@link ConformanceMember}, in the order the suite reports them. */
const OPTIONAL_MEMBERS: readonly ConformanceMember[] = [
  'insertIfAbsentAtomically',
  'insertIfAbsentUnderLock',
  'uniqueIndexFix',
  'statements',
  'insertIfAbsentFenced',
  'batch',
  'update',
  'findOrInsertUnderAdvisoryLock',
]

/** Every shape, for cases that look at the store of each. */
export const SHAPES: readonly ConformanceShape[] = ['unique', 'composite', 'no-unique', 'nullable']

/** Calls made to a store, by method, for "no I/O before validation" and "a hit is one read" checks. */
interface Calls {
  find: number
  insert: number
  insertIfAbsentAtomically: number
  insertIfAbsentUnderLock: number
  insertIfAbsentFenced: number
  uniqueness: number
  lockIdentity: number
  findMany: number
  insertManyIfAbsentAtomically: number
  update: number
  findOrInsertUnderAdvisoryLock: number
}

/** A store wrapped by {@link counted}, its calls, and their total. */
interface Counter {
  /** The wrapper: the same members as the store, each counting its calls. */
  readonly store: ConformanceStore
  /** Calls so far, by method. */
  readonly calls: Calls
  /** Calls so far, every method together. */
  total(): number
}

/** The store, wrapped to count calls; optional methods stay absent when the store lacks them. */
function counted(store: ConformanceStore): Counter {
  const calls: Calls = {
    find: 0,
    insert: 0,
    insertIfAbsentAtomically: 0,
    insertIfAbsentUnderLock: 0,
    insertIfAbsentFenced: 0,
    uniqueness: 0,
    lockIdentity: 0,
    findMany: 0,
    insertManyIfAbsentAtomically: 0,
    update: 0,
    findOrInsertUnderAdvisoryLock: 0,
  }
  const wrapper: ConformanceStore = {
    name: store.name,
    ...(store.fields ? { fields: store.fields } : {}),
    ...(store.inTransaction !== undefined ? { inTransaction: store.inTransaction } : {}),
    ...(store.checksFence !== undefined ? { checksFence: store.checksFence } : {}),
    find(key: Record<string, unknown>, opts?: FindOptions) {
      calls.find++
      return store.find(key, opts)
    },
    insert(values: Record<string, unknown>, opts?: InsertOptions) {
      calls.insert++
      return store.insert(values, opts)
    },
  }
  const {
    insertIfAbsentAtomically,
    insertIfAbsentUnderLock,
    insertIfAbsentFenced,
    uniqueness,
    uniqueIndexFix,
  } = store
  const { update } = store
  if (update) {
    wrapper.update = (key, values) => {
      calls.update++
      return update.call(store, key, values)
    }
  }
  const { findOrInsertUnderAdvisoryLock } = store
  if (findOrInsertUnderAdvisoryLock) {
    wrapper.findOrInsertUnderAdvisoryLock = (key, values, lock) => {
      calls.findOrInsertUnderAdvisoryLock++
      return findOrInsertUnderAdvisoryLock.call(store, key, values, lock)
    }
  }
  if (insertIfAbsentFenced) {
    wrapper.insertIfAbsentFenced = (key, values, fence) => {
      calls.insertIfAbsentFenced++
      return insertIfAbsentFenced.call(store, key, values, fence)
    }
  }
  if (insertIfAbsentUnderLock) {
    wrapper.insertIfAbsentUnderLock = (key, values) => {
      calls.insertIfAbsentUnderLock++
      return insertIfAbsentUnderLock.call(store, key, values)
    }
  }
  if (insertIfAbsentAtomically) {
    wrapper.insertIfAbsentAtomically = (key, values) => {
      calls.insertIfAbsentAtomically++
      return insertIfAbsentAtomically.call(store, key, values)
    }
  }
  if (uniqueness) {
    wrapper.uniqueness = (fields) => {
      calls.uniqueness++
      return uniqueness.call(store, fields)
    }
  }
  if (uniqueIndexFix) wrapper.uniqueIndexFix = (fields) => uniqueIndexFix.call(store, fields)
  const { findMany, insertManyIfAbsentAtomically } = store
  if (findMany) {
    wrapper.findMany = (keys) => {
      calls.findMany++
      return findMany.call(store, keys)
    }
  }
  if (insertManyIfAbsentAtomically) {
    wrapper.insertManyIfAbsentAtomically = (entries) => {
      calls.insertManyIfAbsentAtomically++
      return insertManyIfAbsentAtomically.call(store, entries)
    }
  }
  const { checkKey, lockIdentity } = store
  if (checkKey) wrapper.checkKey = (key) => checkKey.call(store, key)
  if (lockIdentity) {
    wrapper.lockIdentity = (key) => {
      calls.lockIdentity++
      return lockIdentity.call(store, key)
    }
  }
  return {
    store: wrapper,
    calls,
    total: () =>
      calls.find +
      calls.insert +
      calls.insertIfAbsentAtomically +
      calls.insertIfAbsentUnderLock +
      calls.insertIfAbsentFenced +
      calls.uniqueness +
      calls.lockIdentity +
      calls.findMany +
      calls.insertManyIfAbsentAtomically +
      calls.findOrInsertUnderAdvisoryLock,
  }
}

/** The error a promise rejects with; fails the test if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('Expected the call to fail, but it succeeded.')
}

/** The `code` of one of our errors; anything else, described, so a mismatch says what was thrown. */
export function codeOf(error: unknown): string {
  if (isGetOrCreateError(error)) return error.code
  return `not a GetOrCreateError: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`
}

/** What every case gets: the runner's functions, the options with their defaults, and the table lifecycle. */
export interface Suite {
  /** The runner's `test`. */
  readonly test: ConformanceTestApi['test']
  /** The runner's `expect`. */
  readonly expect: ConformanceExpect
  /** Callers at once in races. */
  readonly concurrency: number
  /** See {@link StoreConformanceOptions.nullKeys}. */
  readonly nullKeys: 'refused' | 'allowed'
  /** See {@link StoreConformanceOptions.enforcedBy}. */
  readonly enforcedBy: 'index' | 'strategy'
  /**
   * The optional members every table must have, as declared, in {@link OPTIONAL_MEMBERS}' order; without
   * `insertIfAbsentAtomically` with `enforcedBy: 'index'`, where it is required, not optional (and absent
   * from a store that cannot insert atomically without a unique index: `memoryStore` without `uniqueBy`).
   */
  readonly members: readonly ConformanceMember[]
  /** The members {@link membersOf} compares with {@link members}: every optional one, in this mode. */
  readonly checked: readonly ConformanceMember[]
  /** Whether `member`'s case is registered: declared, or required by the mode. */
  has(member: ConformanceMember): boolean
  /**
   * Open a table of `shape` (with `options`, e.g. fenced), run `body` with its store wrapped by a
   * {@link Counter}, always close it.
   */
  withTable(
    shape: ConformanceShape,
    body: (table: ConformanceTable, counter: Counter) => Promise<void>,
    options?: ConformanceTableOptions,
  ): Promise<void>
  /** `getOrCreate` with the strategy under test. */
  run(
    store: ConformanceStore,
    key: Record<string, unknown>,
    defaults?: unknown,
  ): Promise<GetOrCreateResult<Record<string, unknown>>>
  /** `updateOrCreate` with the strategy under test. */
  runUpdate(
    store: ConformanceStore,
    key: Record<string, unknown>,
    values: unknown,
    createDefaults?: unknown,
  ): Promise<GetOrCreateResult<Record<string, unknown>>>
  /** `getOrCreateMany` with the strategy under test. */
  runMany(
    store: ConformanceStore,
    items: readonly { key: Record<string, unknown>; defaults?: unknown }[],
  ): Promise<GetOrCreateResult<Record<string, unknown>>[]>
  /**
   * `value` (a member of a table or its store), which {@link StoreConformanceOptions.members} declares:
   * asserts that it is there, and fails the test, naming the member, when it is not.
   */
  declared<T>(value: T | undefined, member: ConformanceMember): T
}

/** The strategy the suite runs when none is given: the constraint strategy, without single flight. */
const conformanceDefaultStrategy = constraintStrategy({ singleFlight: false })

/** The {@link Suite} of one {@link runStoreConformance} call. */
export function suiteOf(api: ConformanceTestApi, options: StoreConformanceOptions): Suite {
  const { test, expect } = api
  const enforcedBy = options.enforcedBy ?? 'index'
  const required: ConformanceMember[] = enforcedBy === 'index' ? ['insertIfAbsentAtomically'] : []
  const checked = OPTIONAL_MEMBERS.filter((member) => !required.includes(member))
  const listed = new Set<ConformanceMember>(options.members ?? [])
  const members = checked.filter((member) => listed.has(member))
  // By default the constraint strategy without single flight: the races are the store's to settle, so every
  // caller must reach it.
  const strategy = options.strategy ?? conformanceDefaultStrategy
  return {
    test,
    expect,
    concurrency: options.concurrency ?? 16,
    nullKeys: options.nullKeys ?? 'refused',
    enforcedBy,
    members,
    checked,
    has: (member) => listed.has(member) || required.includes(member),
    async withTable(shape, body, tableOptions) {
      const table = await (tableOptions ? options.table(shape, tableOptions) : options.table(shape))
      try {
        const counter = counted(table.store)
        await body({ ...table, store: counter.store }, counter)
      } finally {
        await table.close?.()
      }
    },
    run: (store, key, defaults) =>
      getOrCreate(store, key, defaults as Record<string, unknown> | undefined, strategy),
    runUpdate: (store, key, values, createDefaults) =>
      updateOrCreate(store, key, values as Record<string, unknown>, {
        createDefaults: createDefaults as Record<string, unknown> | undefined,
        strategy,
      }),
    runMany: (store, items) =>
      getOrCreateMany(
        store,
        items as readonly { key: Record<string, unknown>; defaults?: Record<string, unknown> }[],
        strategy,
      ),
    declared<T>(value: T | undefined, member: ConformanceMember): T {
      const why =
        member === 'insertIfAbsentAtomically' && enforcedBy === 'index'
          ? 'the constraint strategy needs insertIfAbsentAtomically'
          : `members lists ${member}`
      expect(typeof value, `${why}, but the table has none`).toBe('function')
      if (value === undefined) throw new Error(`${why}, but the table has none.`)
      return value
    },
  }
}

/**
 * Which of the `checked` members `table` and its store have, in {@link OPTIONAL_MEMBERS}' order; a store has
 * `insertIfAbsentFenced` only with `checksFence: true` too, and the table {@link ConformanceTable.fence}.
 */
export function membersOf(
  table: ConformanceTable,
  checked: readonly ConformanceMember[],
): ConformanceMember[] {
  const { store } = table
  return checked.filter((member) => {
    if (member === 'statements') return typeof table.statements === 'function'
    if (member === 'batch') {
      return typeof store.findMany === 'function' && typeof store.insertManyIfAbsentAtomically === 'function'
    }
    if (member === 'insertIfAbsentFenced') {
      return (
        typeof store.insertIfAbsentFenced === 'function' &&
        store.checksFence === true &&
        typeof table.fence === 'function'
      )
    }
    return typeof store[member] === 'function'
  })
}
