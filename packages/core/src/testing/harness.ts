import { constraintStrategy } from '../constraint-strategy.js'
import { isGetOrCreateError } from '../errors.js'
import { getOrCreate } from '../get-or-create.js'
import { getOrCreateMany } from '../get-or-create-many.js'
import type { GetOrCreateResult } from '../types.js'
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
  'findOrInsertManyAtomically',
  'update',
  'findOrInsertUnderAdvisoryLock',
]

/** Every shape, for cases that look at the store of each. */
export const SHAPES: readonly ConformanceShape[] = ['unique', 'composite', 'no-unique', 'nullable']

/**
 * The store methods whose calls {@link counted} counts: every one that may reach the database (reads, writes,
 * the catalog), the names before 0.3 included. `uniqueIndexFix` and `checkKey` are forwarded uncounted.
 */
const COUNTED_METHODS = [
  'find',
  'insert',
  'insertIfAbsentAtomically',
  'insertIfAbsent',
  'insertIfAbsentUnderLock',
  'insertUnlessFound',
  'insertIfAbsentFenced',
  'uniqueness',
  'lockIdentity',
  'insertTriggers',
  'findMany',
  'insertManyIfAbsentAtomically',
  'findOrInsertManyAtomically',
  'update',
  'findOrInsertUnderAdvisoryLock',
] as const satisfies readonly (keyof ConformanceStore)[]

/** Calls made to a store, by method, for "no I/O before validation" and "a hit is one read" checks. */
type Calls = Record<(typeof COUNTED_METHODS)[number], number>

/** A store wrapped by {@link counted}, its calls, and their total. */
export interface Counter {
  /** The wrapper: every member of the store, each method counting its calls. */
  readonly store: ConformanceStore
  /** Calls so far, by method. */
  readonly calls: Calls
  /** Calls so far, every counted method together. */
  total(): number
}

/**
 * Every member of `store`, own or inherited (`Object.prototype`'s aside), string or symbol keyed, each key
 * once (the nearest definition, as a property read finds it), with the descriptor that defines it.
 */
function membersWithDescriptors(store: object): [PropertyKey, PropertyDescriptor][] {
  const members = new Map<PropertyKey, PropertyDescriptor>()
  for (
    let level: object | null = store;
    level !== null && level !== Object.prototype;
    level = Object.getPrototypeOf(level) as object | null
  ) {
    for (const key of Reflect.ownKeys(level)) {
      if (key === 'constructor' && level !== store) continue
      const descriptor = Object.getOwnPropertyDescriptor(level, key)
      if (descriptor !== undefined && !members.has(key)) members.set(key, descriptor)
    }
  }
  return [...members]
}

/**
 * The store, wrapped to count its calls ({@link COUNTED_METHODS}). The wrapper has every member the store has
 * (own or inherited, string or symbol keyed: `name`, `fields`, `inTransaction`, `checksFence`, every method,
 * the names before 0.3, and members the suite does not know) and no other: a strategy given the wrapper sees
 * the store it was given. A method calls the store's current one with the store as `this`; any other member
 * is read from the store when read (a getter's value, or a flag the store changes, is never a stale copy).
 * Exported for the test that holds it to this (core's test/conformance-counted.test.ts).
 */
export function counted(store: ConformanceStore): Counter {
  const calls = Object.fromEntries(COUNTED_METHODS.map((method) => [method, 0])) as Calls
  const countedNames = new Set<PropertyKey>(COUNTED_METHODS)
  const wrapper = {} as ConformanceStore
  const source = store as unknown as Record<PropertyKey, unknown>
  for (const [key, descriptor] of membersWithDescriptors(store)) {
    const { enumerable = false } = descriptor
    if (typeof descriptor.value === 'function') {
      const method = (...args: unknown[]): unknown => {
        if (countedNames.has(key)) calls[key as keyof Calls]++
        const current = source[key]
        if (typeof current !== 'function') {
          throw new TypeError(`store.${String(key)} is no longer a function: the store changed it`)
        }
        return (current as (...a: unknown[]) => unknown).apply(store, args)
      }
      Object.defineProperty(method, 'name', { value: String(key) })
      Object.defineProperty(wrapper, key, { value: method, enumerable, writable: true, configurable: true })
    } else {
      Object.defineProperty(wrapper, key, { get: () => source[key], enumerable, configurable: true })
    }
  }
  return {
    store: wrapper,
    calls,
    total: () => COUNTED_METHODS.reduce((sum, method) => sum + calls[method], 0),
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
