import { getOrCreate, isGetOrCreateError, memoryStore } from '@getorcreate/core'
import type { ConformanceShape, ConformanceStore, ConformanceTable } from '@getorcreate/core/testing'
import { describe, expect, test } from 'vitest'
import { pgConformanceTable } from './support/conformance-pg.js'
import { mysqlConformanceTable } from './support/mysql.js'
import { sqliteConformanceTable } from './support/sqlite.js'

/** Every store, over the conformance suite's 'unique' table; the first is the reference, Postgres. */
const STORES: Record<string, (shape: ConformanceShape) => Promise<ConformanceTable>> = {
  'Postgres (postgres.js)': (shape) => pgConformanceTable('postgres.js', shape, 4),
  'Postgres (node-postgres)': (shape) => pgConformanceTable('node-postgres', shape, 4),
  PGlite: (shape) => pgConformanceTable('pglite', shape),
  MariaDB: (shape) => mysqlConformanceTable(shape, 4),
  SQLite: sqliteConformanceTable,
  memoryStore: async () => {
    const inner = memoryStore<Record<string, unknown>>({ uniqueBy: [['slug']], autoIncrement: 'id' })
    const store: ConformanceStore = Object.assign(Object.create(null), inner, {
      fields: ['id', 'prefix', 'slug', 'email', 'title'],
    })
    return { store, count: async () => inner.rows().length, insertBehind: async () => {} }
  },
}

type Case = (store: ConformanceStore) => Promise<unknown>
const key = (value: unknown) => value as Record<string, unknown>

/** Input every store must refuse, with the code Postgres is documented to give. */
const EVERY_STORE: Record<string, [Case, string]> = {
  'empty key': [(s) => getOrCreate(s, {}), 'INVALID_KEY'],
  'undefined value': [(s) => getOrCreate(s, { slug: undefined }), 'INVALID_KEY'],
  'NaN value': [(s) => getOrCreate(s, { slug: Number.NaN }), 'INVALID_KEY'],
  'Infinity value': [(s) => getOrCreate(s, { slug: Number.POSITIVE_INFINITY }), 'INVALID_KEY'],
  'invalid Date value': [(s) => getOrCreate(s, { slug: new Date(Number.NaN) }), 'INVALID_KEY'],
  'object value': [(s) => getOrCreate(s, { slug: { a: 1 } }), 'INVALID_KEY'],
  'function value': [(s) => getOrCreate(s, { slug: () => 'a' }), 'INVALID_KEY'],
  'symbol property': [(s) => getOrCreate(s, key({ [Symbol('slug')]: 'a', slug: 'a' })), 'INVALID_KEY'],
  'class instance key': [
    (s) =>
      getOrCreate(
        s,
        key(
          new (class Key {
            slug = 'a'
          })(),
        ),
      ),
    'INVALID_KEY',
  ],
  'array key': [(s) => getOrCreate(s, key(['a'])), 'INVALID_KEY'],
  'unknown key column': [(s) => getOrCreate(s, { nope: 'a' }), 'INVALID_KEY'],
  'defaults not a plain object': [
    (s) => getOrCreate(s, { slug: 'a' }, key(new Map())),
    'CONFLICTING_DEFAULTS',
  ],
  'defaults with an unknown column': [
    (s) => getOrCreate(s, { slug: 'a' }, { titel: 'typo' }),
    'CONFLICTING_DEFAULTS',
  ],
  'defaults change the key': [(s) => getOrCreate(s, { slug: 'a' }, { slug: 'b' }), 'CONFLICTING_DEFAULTS'],
  'lazy defaults with an unknown column': [
    (s) => getOrCreate(s, { slug: 'a' }, () => ({ titel: 'typo' })),
    'CONFLICTING_DEFAULTS',
  ],
  'lazy defaults change the key': [
    (s) => getOrCreate(s, { slug: 'a' }, async () => ({ slug: 'b' })),
    'CONFLICTING_DEFAULTS',
  ],
}

/** Input only typed (drizzle) stores can refuse: values of the wrong type for their column. */
const TYPED_STORES: Record<string, [Case, string]> = {
  'number for a text column': [(s) => getOrCreate(s, { slug: 1 }), 'INVALID_KEY'],
  'bigint for a text column': [(s) => getOrCreate(s, { slug: 1n }), 'INVALID_KEY'],
  'Date for a text column': [(s) => getOrCreate(s, { slug: new Date(0) }), 'INVALID_KEY'],
  'string for an integer column': [(s) => getOrCreate(s, { id: '1' }), 'INVALID_KEY'],
}

/** What a store did with each input: the error code, by input, and the rows it wrote (none, every time). */
interface Outcome {
  readonly codes: Record<string, string>
  readonly rows: number
}

async function codes(
  open: () => Promise<ConformanceTable>,
  cases: Record<string, [Case, string]>,
): Promise<Outcome> {
  const table = await open()
  try {
    const result: Record<string, string> = {}
    for (const [name, [run]] of Object.entries(cases)) {
      const error = await run(table.store).then(
        () => undefined,
        (caught: unknown) => caught,
      )
      result[name] = isGetOrCreateError(error) ? error.code : `not refused: ${String(error)}`
    }
    return { codes: result, rows: await table.count() }
  } finally {
    await table.close?.()
  }
}

const expected = (cases: Record<string, [Case, string]>) =>
  Object.fromEntries(Object.entries(cases).map(([name, [, code]]) => [name, code]))

/** The reference: the first store, whose own results are checked against the documented codes. */
const REFERENCE = 'Postgres (postgres.js)'

/** What the reference actually gives for every input, measured once and shared by the tests that compare. */
let referenceOutcome: Promise<Outcome> | undefined
function reference(): Promise<Outcome> {
  referenceOutcome ??= codes(() => STORES[REFERENCE]!('unique'), { ...EVERY_STORE, ...TYPED_STORES })
  return referenceOutcome
}

describe('bad input gives the same error codes on every store as on Postgres', () => {
  test('Postgres gives the documented codes', async () => {
    expect(await reference()).toEqual({ codes: expected({ ...EVERY_STORE, ...TYPED_STORES }), rows: 0 })
  })
  for (const [name, open] of Object.entries(STORES)) {
    if (name === REFERENCE) continue
    test(name, async () => {
      const cases = name === 'memoryStore' ? EVERY_STORE : { ...EVERY_STORE, ...TYPED_STORES }
      // Postgres's measured codes for these inputs, not the table above: what each store must match is
      // what Postgres does, and the first test holds Postgres to the table.
      const { codes: postgres, rows } = await reference()
      const fromPostgres = Object.fromEntries(Object.keys(cases).map((input) => [input, postgres[input]]))
      expect(await codes(() => open('unique'), cases)).toEqual({ codes: fromPostgres, rows })
    })
  }
})
