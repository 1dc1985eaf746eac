/**
 * `Store.lockIdentity` on Postgres for keys the database changes on write without a round trip to ask it:
 * `real` (float4), which Postgres rounds from the decimal text the driver sends, and `name`, which it cuts to
 * 63 bytes. Two keys get one lock identity exactly when Postgres's own `=` calls the stored values equal,
 * every pair tried, on every driver; the values are written through drizzle, as getOrCreate writes them.
 */
import { drizzleStore } from '@getorcreate/core/drizzle'
import { customType, integer, pgTable, real, serial } from 'drizzle-orm/pg-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { openPg, PG_DRIVERS, type PgDriver, type PgHarness } from './support/pg.js'

const pgName = customType<{ data: string }>({ dataType: () => 'name' })

/**
 * Halfway between two float4s, as doubles: the shortest decimal of the first is above it (Postgres rounds up,
 * `Math.fround` to even, down), of the second below it (Postgres rounds down, `Math.fround` up).
 */
const MIDPOINTS = [1 + 2 ** -24, 1 + 3 * 2 ** -24, -(1 + 2 ** -24), 3 * 2 ** -150]
const FLOATS = [
  ...MIDPOINTS,
  1,
  1 + 2 ** -23,
  1 + 2 ** -22,
  -1,
  -(1 + 2 ** -23),
  0.1,
  Math.fround(0.1),
  0,
  -0,
  2 ** -149,
  2 ** -148,
  16777217,
  16777216,
  16777218,
  3.4028234e38,
]
const NAMES = [
  'a'.repeat(63),
  `${'a'.repeat(63)}b`,
  'a'.repeat(64),
  'a'.repeat(62),
  'é'.repeat(31),
  'é'.repeat(32),
  `${'é'.repeat(31)}x`,
  `${'é'.repeat(31)}xy`,
  '😀'.repeat(15),
  `${'😀'.repeat(15)}abc`,
  `${'😀'.repeat(15)}ab`,
  'short',
]

describe.each(PG_DRIVERS)('%s', (driver: PgDriver) => {
  let h: PgHarness
  let tableName: string
  const table = () =>
    pgTable(tableName, {
      id: serial('id').primaryKey(),
      i: integer('i'),
      f: real('f'),
      nm: pgName('nm'),
    })
  beforeAll(async () => {
    h = await openPg(driver, 4)
    tableName = h.table()
    await h.exec(`create table ${tableName} (id serial primary key, i int, f real, nm name)`)
  })
  afterAll(() => h.close())

  /** Lock identities of `values` against Postgres's `=` on every pair of the stored values. */
  async function disagreements(column: 'f' | 'nm', values: readonly (number | string)[]) {
    await h.exec(`delete from ${tableName}`)
    const store = drizzleStore(h.db, table())
    await h.db.insert(table()).values(values.map((value, i) => ({ i, [column]: value })))
    const pairs = await h.rows(`select a.i as a, b.i as b, (a.${column} = b.${column}) as eq
      from ${tableName} a join ${tableName} b on true`)
    expect(pairs).toHaveLength(values.length ** 2)
    const identities = await Promise.all(
      values.map(async (value) => JSON.stringify(await store.lockIdentity?.({ [column]: value }))),
    )
    return pairs.flatMap(({ a, b, eq }) => {
      const same = identities[Number(a)] === identities[Number(b)]
      return same === (eq === true || eq === 't')
        ? []
        : [`${String(values[Number(a)])} / ${String(values[Number(b)])}: Postgres ${eq}, identity ${same}`]
    })
  }

  test('real: one identity exactly where Postgres calls the stored float4s equal, midpoints included', async () => {
    expect(await disagreements('f', FLOATS)).toEqual([])
    const store = drizzleStore(h.db, table())
    // The README's case: 1 + 2^-24 is stored as 1 + 2^-23, so the two share a lock.
    expect(await store.lockIdentity?.({ f: 1 + 2 ** -24 })).toEqual(
      await store.lockIdentity?.({ f: 1 + 2 ** -23 }),
    )
  })

  test('name: one identity exactly where Postgres calls the stored names equal (cut to 63 bytes)', async () => {
    expect(await disagreements('nm', NAMES)).toEqual([])
  })
})
