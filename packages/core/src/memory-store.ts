import { copyRow } from './copy-value.js'
import { ConflictingDefaultsError } from './errors.js'
import { encodeKey, isPlainObject } from './key.js'
import type { FindOptions, InsertOptions, Store, UniqueIndexFix, Uniqueness } from './types.js'

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /** The store's identity (what lock keys derive from). Default is `'memory'` followed by a counter. */
  readonly name?: string
  /**
   * The field sets that are unique, e.g. `[['slug'], ['tenantId', 'slug']]`. With it the store enforces
   * them (NULL equals NULL, as `NULLS NOT DISTINCT`) and implements `insertIfAbsentAtomically`, so it works
   * with the constraint strategy; without it, it holds duplicates like a table with no unique index and only
   * a lock strategy can keep it clean.
   */
  readonly uniqueBy?: readonly (readonly string[])[]
  /** A field numbered 1, 2, 3… on insert, like a serial primary key. Default is none. */
  readonly autoIncrement?: string
}

/** A store in memory, from {@link memoryStore}: a {@link Store} plus a look at what it holds. */
export interface MemoryStore<Row extends Record<string, unknown>>
  extends Store<Row, Partial<Row>, Partial<Row>> {
  /**
   * Insert unless a row with this key exists (see {@link Store.insertIfAbsentUnderLock}); every memory store
   * has it.
   */
  insertIfAbsentUnderLock(key: Partial<Row>, values: Partial<Row>): Promise<Row | undefined>
  /** Write `values` over every row of `key` and answer one (see {@link Store.update}); every memory store has it. */
  update(key: Partial<Row>, values: Partial<Row>): Promise<Row | undefined>
  /** @deprecated Renamed {@link MemoryStore.insertIfAbsentUnderLock} in 0.3; removed in 0.4. */
  insertUnlessFound(key: Partial<Row>, values: Partial<Row>): Promise<Row | undefined>
  /** Every row, in insertion order (copies). */
  rows(): Row[]
  /** Remove the rows the key matches; returns how many. */
  delete(key: Partial<Row>): number
}

let stores = 0

/**
 * A {@link Store} in this process's memory: for tests, for prototypes, and as the smallest example of a store.
 *
 * Rows are deep-copied in and out: changing a returned row, or the values object given to it, anywhere
 * (a nested object or array, a Date through `setTime`, the bytes of a Uint8Array) changes neither what the
 * store holds nor what other callers get. It holds primitives (bigint included), plain objects, arrays,
 * Dates, Maps, Sets, ArrayBuffers, typed arrays (Buffers stay Buffers) and DataViews, nested to any depth;
 * a value of any other kind (a function, a symbol, a class instance, a RegExp) is refused on insert with
 * `CONFLICTING_DEFAULTS` ({@link ConflictingDefaultsError}), naming its path: a copy would not be the same
 * value, and keeping a reference would share it. A hit pays for the copy (a flat row of scalars: a few
 * hundred nanoseconds).
 *
 * @example
 * ```ts
 * const store = memoryStore<{ id: number; slug: string }>({ uniqueBy: [['slug']], autoIncrement: 'id' })
 * await getOrCreate(store, { slug: 'a' }) // { row: { id: 1, slug: 'a' }, created: true }
 * ```
 */
export function memoryStore<Row extends Record<string, unknown>>(
  options: MemoryStoreOptions = {},
): MemoryStore<Row> {
  const name = options.name ?? `memory${++stores}`
  const uniqueBy = (options.uniqueBy ?? []).map((fields) => [...fields].sort())
  const rows: Row[] = []
  let sequence = 0

  const matches = (row: Row, key: Record<string, unknown>): boolean => {
    const fields = Object.keys(key)
    return encodeKey(name, pick(row, fields)) === encodeKey(name, key)
  }
  const insert = (values: Partial<Row>): Row => {
    if (!isPlainObject(values)) throw new TypeError(`memoryStore ${name}: values must be a plain object.`)
    const row = copyRow(values, (path, what) => {
      throw new ConflictingDefaultsError(
        `memoryStore ${name}: the value of "${path}" is ${what}, which memoryStore cannot copy exactly. It ` +
          'holds primitives, plain objects, arrays, Dates, Maps, Sets and byte arrays (copied in and out).',
      )
    })
    const numbered = options.autoIncrement
    if (numbered && (!Object.hasOwn(row, numbered) || row[numbered] === undefined)) row[numbered] = ++sequence
    for (const fields of uniqueBy) {
      const taken = rows.some((existing) => matches(existing, pick(row as Row, fields)))
      if (taken) {
        throw Object.assign(
          new Error(`memoryStore ${name}: duplicate value for unique (${fields.join(', ')})`),
          {
            code: 'UNIQUE_VIOLATION',
            fields,
          },
        )
      }
    }
    rows.push(row as Row)
    return copyOut(row as Row)
  }

  const store: MemoryStore<Row> = {
    name,
    async find(key: Partial<Row>, _opts?: FindOptions): Promise<Row | undefined> {
      const row = rows.find((candidate) => matches(candidate, key))
      return row && copyOut(row)
    },
    async insert(values: Partial<Row>, _opts?: InsertOptions): Promise<Row> {
      return insert(values)
    },
    async update(key: Partial<Row>, values: Partial<Row>): Promise<Row | undefined> {
      if (!isPlainObject(values)) throw new TypeError(`memoryStore ${name}: values must be a plain object.`)
      // `undefined` is "not given", as drizzle takes it: the field keeps its value.
      const given = Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined))
      const patch = copyRow(given, (path, what) => {
        throw new ConflictingDefaultsError(
          `memoryStore ${name}: the value of "${path}" is ${what}, which memoryStore cannot copy exactly.`,
        )
      })
      const targets = rows.flatMap((row, i) => (matches(row, key) ? [i] : []))
      const updated = targets.map((i) => ({ ...rows[i], ...patch }) as Row)
      // The unique sets hold after the update, as a database's unique indexes would see to.
      for (const fields of uniqueBy) {
        const others = rows.filter((_, i) => !targets.includes(i))
        const clash = updated.some(
          (row, n) =>
            others.some((other) => matches(other, pick(row, fields))) ||
            updated.some((next, m) => m !== n && matches(next, pick(row, fields))),
        )
        if (clash) {
          throw Object.assign(
            new Error(`memoryStore ${name}: duplicate value for unique (${fields.join(', ')})`),
            { code: 'UNIQUE_VIOLATION', fields },
          )
        }
      }
      targets.forEach((i, n) => {
        rows[i] = updated[n] as Row
      })
      return updated[0] && copyOut(updated[0])
    },
    async insertIfAbsentUnderLock(key: Partial<Row>, values: Partial<Row>): Promise<Row | undefined> {
      return rows.some((row) => matches(row, key)) ? undefined : insert(values)
    },
    insertUnlessFound(key: Partial<Row>, values: Partial<Row>): Promise<Row | undefined> {
      return store.insertIfAbsentUnderLock(key, values)
    },
    async uniqueness(fields: readonly string[]): Promise<Uniqueness> {
      const wanted = JSON.stringify([...fields].sort())
      return uniqueBy.some((set) => JSON.stringify(set) === wanted) ? 'enforced' : 'not-enforced'
    },
    uniqueIndexFix(fields: readonly string[]): UniqueIndexFix {
      // No SQL here: the unique sets are the store's `uniqueBy` option.
      const set = `[${fields.map((field) => `'${field}'`).join(', ')}]`
      return {
        table: name,
        columns: [...fields],
        hint:
          uniqueBy.length === 0
            ? `create the store with memoryStore({ uniqueBy: [${set}] }) so that it enforces that set`
            : `add ${set} to memoryStore's uniqueBy option so that it enforces that set`,
      }
    },
    rows: () => rows.map(copyOut),
    delete(key: Partial<Row>): number {
      let removed = 0
      for (let i = rows.length - 1; i >= 0; i--) {
        if (matches(rows[i]!, key)) {
          rows.splice(i, 1)
          removed++
        }
      }
      return removed
    },
  }
  if (uniqueBy.length > 0) {
    // The same check-then-insert, atomic here: nothing runs between the two in this single thread.
    store.insertIfAbsentAtomically = store.insertIfAbsentUnderLock
    store.insertIfAbsent = store.insertIfAbsentUnderLock // the name before 0.3 (deprecated, removed in 0.4)
  }
  return store
}

/** A stored row's copy for a caller: it was copied in, so every value in it can be copied. */
function copyOut<Row extends Record<string, unknown>>(row: Row): Row {
  return copyRow(row, (path) => {
    throw new Error(`memoryStore: a stored value at "${path}" cannot be copied (a bug: it was copied in)`)
  }) as Row
}

/**
 * The row's own value of `field`, `null` when it has none: never what every object inherits (a field named
 * `toString` that a row lacks is NULL, not Object.prototype's function).
 */
function ownValue(row: Record<string, unknown>, field: string): unknown {
  return Object.hasOwn(row, field) && row[field] !== undefined ? row[field] : null
}

function pick<Row extends Record<string, unknown>>(
  row: Row,
  fields: readonly string[],
): Record<string, unknown> {
  // fromEntries defines each field as a data property, `__proto__` included.
  return Object.fromEntries(fields.map((field) => [field, ownValue(row, field)]))
}
