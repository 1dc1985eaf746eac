import type { Store, Strategy } from '../types.js'

/**
 * The table shapes the suite asks for. Each has an `id` filled in by the store (auto-increment, serial,
 * rowid: any value unique per row) and text columns:
 * - `'unique'`: `slug` NOT NULL with a unique index; `email` nullable with its own unique index (the "other
 *   unique constraint"); `title` nullable.
 * - `'composite'`: `prefix` and `slug`, both NOT NULL, unique together (and neither alone); `title` nullable.
 * - `'no-unique'`: `slug` NOT NULL and `title` nullable, no unique index on either.
 * - `'nullable'`: `slug` nullable with a unique index; `title` nullable.
 */
export type ConformanceShape = 'unique' | 'composite' | 'no-unique' | 'nullable'

/** A store as the suite handles it: rows, keys and values are plain records. */
export type ConformanceStore = Store<
  Record<string, unknown>,
  Record<string, unknown>,
  Record<string, unknown>
>

/** A fresh, empty table of one {@link ConformanceShape}, made by {@link StoreConformanceOptions.table}. */
export interface ConformanceTable {
  /** The store under test, over this table only. */
  readonly store: ConformanceStore
  /** How many rows the table holds; with `where`, how many match it (`null` matches NULL). */
  count(where?: Record<string, unknown>): Promise<number>
  /**
   * Insert a row behind the store's back: another connection or client where the store has one, as another
   * process would. The suite checks that `find(key, { fresh: true })` and `getOrCreate` see it.
   */
  insertBehind(values: Record<string, unknown>): Promise<void>
  /**
   * How many statements (round trips) the store has sent so far, if the test can count them (a drizzle
   * logger can). With it, and `'statements'` in {@link StoreConformanceOptions.members}, the suite also
   * checks that a hit costs one statement and bad input none.
   */
  statements?(): number
  /**
   * The token in the fence row of `lockKey`, read behind the store's back (`undefined`: no row). Required of
   * a table made with `{ fenced: true }` (see {@link ConformanceTableOptions.fenced}); the fenced cases check
   * with it that a write raised the fence, or left it alone.
   */
  fence?(lockKey: string): Promise<number | undefined>
  /** Release what the table holds (connections). Called at the end of each test. */
  close?(): Promise<void>
}

/** What the suite asks of {@link StoreConformanceOptions.table} besides the shape. */
export interface ConformanceTableOptions {
  /**
   * A store with fenced writes (`checksFence: true` and `insertIfAbsentFenced`, over a fences table of its
   * own or one shared with other tables: the suite gives every test lock keys of its own) and a table with
   * {@link ConformanceTable.fence}. Asked only for `'no-unique'` tables (only the fence keeps a second row
   * out), by the `'insertIfAbsentFenced'` cases, and once by the case that checks `members`. A factory
   * without fenced writes ignores it.
   */
  readonly fenced?: boolean
}

/** The subset of vitest's (or Jest's) `expect` the suite uses, typed structurally. */
export type ConformanceExpect = (
  actual: unknown,
  message?: string,
) => {
  /** Fails unless `actual` is `expected` (`Object.is`). */
  toBe(expected: unknown): void
  /** Fails unless `actual` deeply equals `expected`. */
  toEqual(expected: unknown): void
  /** Fails unless `actual` is a number ≤ `expected`. */
  toBeLessThanOrEqual(expected: number): void
}

/** vitest's `describe`, `test` and `expect` (or any runner's equivalents), passed in so core needs no test runner. */
export interface ConformanceTestApi {
  /** Groups tests: `describe(name, body)`. */
  readonly describe: (name: string, body: () => void) => void
  /** Declares one test: `test(name, body)`. */
  readonly test: (name: string, body: () => Promise<void>) => void
  /** Assertions: see {@link ConformanceExpect}. */
  readonly expect: ConformanceExpect
}

/** Options of {@link runStoreConformance}. */
export interface StoreConformanceOptions {
  /** Name of the `describe` block, e.g. `'mariadb'`. */
  readonly name: string
  /**
   * Make a fresh, empty table of `shape` (unique name per call) and a store over it; with `{ fenced: true }`,
   * a store with fenced writes (see {@link ConformanceTableOptions.fenced}).
   */
  table(shape: ConformanceShape, options?: ConformanceTableOptions): Promise<ConformanceTable>
  /**
   * How many callers run at once in the race tests. The race cases start this many callers of one key all at
   * once (and assert that all of them were in flight together), on three keys one after another; the other
   * races keep up to this many calls in flight. Make the store's connection pool at least this large, else the
   * callers queue for connections and the race proves nothing. Default is `16`.
   */
  readonly concurrency?: number
  /**
   * What a key holding `null` in a nullable unique column does: `'refused'` (`InvalidKeyError`, the rule for
   * unique indexes that treat NULLs as distinct: Postgres by default, MySQL, SQLite) or `'allowed'` (NULL
   * equals NULL: `NULLS NOT DISTINCT`, `memoryStore`). Default is `'refused'`.
   */
  readonly nullKeys?: 'refused' | 'allowed'
  /**
   * The strategy under test. Default is the constraint strategy without single flight
   * (`constraintStrategy({ singleFlight: false })`): every racing caller reaches the store, so the races test
   * the store's own atomicity, not the sharing of calls in this process.
   */
  readonly strategy?: Strategy
  /**
   * What keeps one row per key: `'index'` (the constraint strategy: a unique index on the key is required,
   * keys without one are refused) or `'strategy'` (a lock strategy: the suite then races on a table without
   * a unique index and expects exact counts there too, and `insertIfAbsentAtomically` is optional). Default is
   * `'index'`.
   */
  readonly enforcedBy?: 'index' | 'strategy'
  /**
   * Keys the store's database treats as equal though JavaScript does not (a collation that ignores case and
   * trailing spaces, a column that rounds on write, a numeric spelled two ways): the "key equality" cases run
   * each, under the strategy under test, and expect what the database would: one row, one `created: true`,
   * one id for every caller, however the key is spelled. Default is none.
   */
  readonly equalKeys?: readonly EqualKeys[]
  /**
   * The optional members your tables have, whose cases the suite then runs (in any order):
   * - `'insertIfAbsentUnderLock'`: {@link Store.insertIfAbsentUnderLock};
   * - `'uniqueIndexFix'`: {@link Store.uniqueIndexFix};
   * - `'statements'`: {@link ConformanceTable.statements};
   * - `'insertIfAbsentAtomically'`: {@link Store.insertIfAbsentAtomically}, optional with `enforcedBy:
   *   'strategy'` only. With `'index'` the constraint strategy requires it: its case always runs, and listing
   *   it changes nothing;
   * - `'insertIfAbsentFenced'`: {@link Store.insertIfAbsentFenced} with `checksFence`, on a table made with
   *   `{ fenced: true }` (see {@link ConformanceTableOptions.fenced}): a larger token raises the fence and
   *   writes, a row found under the fence is not written again, an older token is a `LockLostError` with
   *   nothing written (from `insert(values, { fence, lockKey })` too), the same token is accepted, bad tokens
   *   and lock keys are `TypeError`s, lock keys differing in case have their own fences, and racing owners of
   *   one key make exactly one row;
   * - `'batch'`: {@link Store.findMany} and {@link Store.insertManyIfAbsentAtomically} (one goes without the
   *   other nowhere): rows in the order of the keys, `undefined` for a miss; the insert's answers in order,
   *   one `inserted: true` per new row, a repeated key given the same row, an existing key its row, another
   *   unique constraint thrown.
   * - `'findOrInsertManyAtomically'`: {@link Store.findOrInsertManyAtomically} (with `'batch'`): answers in
   *   order, a found row (one written behind the store's back too) answered as it is, one `inserted: true`
   *   per new row, a repeated key given the same row, another unique constraint thrown with nothing of the
   *   statement written.
   * - `'update'`: {@link Store.update} and `updateOrCreate` over it: a create with `createDefaults`, `values` and
   *   the key (`created: true`), then an update with `values` only (`created: false`), a `values` function
   *   called with `undefined` for the create and the row for the update, a key field changed by `values`
   *   refused before any I/O, `update` of a missing key `undefined`, and callers racing to update or create
   *   the same keys with different values: one row and one `created: true` per key, every row returned one
   *   call's values.
   * - `'findOrInsertUnderAdvisoryLock'`: {@link Store.findOrInsertUnderAdvisoryLock} (Postgres advisory locks):
   *   a new key inserted (`created: true`), the same key found (`created: false`, its row unchanged), a row
   *   written behind the store's back found, callers racing on one key of a table without a unique index with
   *   one lock: one row and one `created: true`, and a lock that is not a 64-bit bigint with a `timeoutMs` from 1 to
   *   2,147,483,647 refused (`TypeError`) with nothing written.
   *
   * The suite declares its tests before any table exists, so it cannot look for itself. Instead one case,
   * always registered, opens a table of each shape and fails unless the table and its store have exactly
   * the members listed, naming the ones they have, so that no optional member goes untested by mistake; and
   * the case of a listed member fails if a table lacks it. Default is none.
   */
  readonly members?: readonly (
    | 'insertIfAbsentAtomically'
    | 'insertIfAbsentUnderLock'
    | 'uniqueIndexFix'
    | 'statements'
    | 'insertIfAbsentFenced'
    | 'batch'
    | 'findOrInsertManyAtomically'
    | 'update'
    | 'findOrInsertUnderAdvisoryLock'
  )[]
}

/**
 * One case of {@link StoreConformanceOptions.equalKeys}: a table, and spellings of one key that its
 * database treats as equal.
 */
export interface EqualKeys {
  /** What the spellings show, for the test's name: `'utf8mb4_general_ci: case and trailing spaces'`. */
  readonly name: string
  /**
   * A fresh, empty table (unique name per call) whose `field` column has a unique index, and a store over
   * it; every other column nullable or with a default.
   */
  table(): Promise<ConformanceTable>
  /** The key column. */
  readonly field: string
  /** Two or more values of `field` that the database compares as equal. */
  readonly spellings: readonly unknown[]
}
