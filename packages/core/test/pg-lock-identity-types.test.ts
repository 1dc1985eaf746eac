/**
 * `Store.lockIdentity` on Postgres for `timetz(p)`, `interval(p)` and `citext` keys, on every driver: two
 * spellings get one identity exactly when Postgres's own `=` on the column (its btree equality, which a unique
 * index on it uses) calls the stored values equal, every pair tried; and the README's claims, one by one.
 */
import { drizzleStore } from '@getorcreate/core/drizzle'
import { interval, pgTable, serial, time } from 'drizzle-orm/pg-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { openPg, PG_DRIVERS, type PgDriver, type PgHarness } from './support/pg.js'
import { CITEXT_EXTENSION, citext } from './support/pg-equal-keys.js'

/** A key column, spellings to try pairwise, and pairs the README names (equal, then told apart). */
interface TypeCase {
  readonly column: 'tz' | 'iv' | 'iv0' | 'iy' | 'ci'
  readonly spellings: readonly string[]
  readonly equal: readonly (readonly [string, string])[]
  readonly distinct: readonly (readonly [string, string])[]
}

const CASES: readonly TypeCase[] = [
  {
    column: 'tz', // timetz(2): the time rounded, then time AND zone (not the instant alone)
    spellings: [
      ...['12:00+02', '12:00:00.004+02', '11:59:59.996+02:00', '12:00:00.01+02', '10:00+00', '10:00:00Z'],
      ...['14:00+04', '00:00+00', '24:00+00', '23:59:59.999+00', '12:00+02:30', '12:00-02', '00:00+14'],
    ],
    equal: [
      ['12:00+02', '12:00:00.004+02'],
      ['10:00+00', '10:00:00Z'],
    ],
    distinct: [
      ['12:00+02', '10:00+00'], // the same instant in another zone: Postgres's timetz `=` says false
      ['12:00+02', '12:00:00.01+02'],
      ['00:00+00', '24:00+00'],
    ],
  },
  {
    column: 'iv', // interval: months of 30 days, days of 24 hours, whatever the spelling
    spellings: [
      ...['1 day', '24 hours', '1440 minutes', '1 mon', '30 days', '720 hours', '1 year', '12 mons'],
      ...['360 days', '365 days 6 hours', '1 mon -1 day', '29 days', '-1 day', '-24 hours', '0', '00:00:00'],
      ...['1 year 1 day', '1 mon 1 day -24 hours', '-1 mon 31 days', '2 mons -30 days', '23:59:59.999999'],
    ],
    equal: [
      ['1 day', '24 hours'],
      ['1 mon', '30 days'],
      ['1 year', '360 days'],
      ['1 mon -1 day', '29 days'],
      ['0', '00:00:00'],
    ],
    distinct: [
      ['1 year', '365 days 6 hours'], // the same extract(epoch) (a year counts 365.25 days there): not equal
      ['1 day', '23:59:59.999999'],
      ['-1 day', '1 day'],
    ],
  },
  {
    column: 'iv0', // interval(0): rounded to the second on write
    spellings: [
      '1 second',
      '1.4 seconds',
      '00:00:00.6',
      '2 seconds',
      '00:00:01.5',
      '1 day 1 second',
      '24:00:01',
    ],
    equal: [
      ['1 second', '1.4 seconds'],
      ['1 second', '00:00:00.6'],
      ['1 day 1 second', '24:00:01'],
    ],
    distinct: [['1 second', '2 seconds']],
  },
  {
    column: 'iy', // interval year: only the years are kept
    spellings: ['1 year', '1 year 2 mons', '1 year 40 days', '2 years', '12 mons', '360 days'],
    equal: [
      ['1 year', '1 year 2 mons'],
      ['1 year', '12 mons'],
    ],
    distinct: [['1 year', '2 years']],
  },
  {
    column: 'ci', // citext: lower() under the database's default collation, then bytes
    spellings: [
      ...['Bob', 'bob', 'BOB', 'bob ', ' bob', 'É', 'é', 'E', 'Straße', 'STRASSE', 'strasse', 'ẞ', 'ß'],
      ...['Σ', 'σ', 'ς', 'İ', 'i', 'I', 'ǅ', 'ǆ', 'Ǆ', 'K', 'k', 'e\u0301', ''],
    ],
    equal: [
      ['Bob', 'bob'],
      ['BOB', 'bob'],
    ],
    distinct: [
      ['bob', 'bob '],
      ['Straße', 'STRASSE'], // lower() does not fold ß to ss: neither does citext
      ['é', 'e\u0301'], // no normalization either
    ],
  },
]

const quote = (text: string) => `'${text.replaceAll("'", "''")}'`

/** Identities of every spelling, and Postgres's `=` on every pair of stored values of the column. */
async function compare(h: PgHarness, name: string, store: ReturnType<typeof storeOf>, spec: TypeCase) {
  const { column, spellings } = spec
  await h.exec(
    `insert into ${name} (i, ${column}) values ${spellings.map((s, i) => `(${i}, ${quote(s)})`).join(', ')}`,
  )
  const pairs = await h.rows(`select a.i as a, b.i as b, (a.${column} = b.${column}) as eq
    from ${name} a join ${name} b on a.${column} is not null and b.${column} is not null`)
  const identities = await Promise.all(
    spellings.map(async (s) => JSON.stringify(await store.lockIdentity!({ [column]: s }))),
  )
  const disagreements = pairs.flatMap(({ a, b, eq }) => {
    const same = identities[Number(a)] === identities[Number(b)]
    return same === (eq === true || eq === 't')
      ? []
      : [`${spellings[Number(a)]} / ${spellings[Number(b)]}: Postgres ${eq}, lock identity ${same}`]
  })
  return { pairs, identities, disagreements }
}

function storeOf(h: PgHarness, name: string) {
  return drizzleStore(
    h.db,
    pgTable(name, {
      id: serial('id').primaryKey(),
      tz: time('tz', { withTimezone: true, precision: 2 }),
      iv: interval('iv'),
      iv0: interval('iv0', { precision: 0 }),
      iy: interval('iy', { fields: 'year' }),
      ci: citext('ci'),
    }),
  )
}

describe.each(PG_DRIVERS)('%s', (driver: PgDriver) => {
  let h: PgHarness
  let name: string
  beforeAll(async () => {
    h = await openPg(driver, 4)
    await h.exec(CITEXT_EXTENSION)
    name = h.table()
    await h.exec(`create table ${name} (id serial primary key, i int, tz timetz(2), iv interval,
      iv0 interval(0), iy interval year, ci citext)`)
  })
  afterAll(() => h.close())

  for (const spec of CASES) {
    test(`${spec.column}: one lock identity exactly where Postgres's = says equal, every pair; the README's pairs`, async () => {
      const store = storeOf(h, name)
      const { pairs, identities, disagreements } = await compare(h, name, store, spec)
      expect(pairs.length).toBe(spec.spellings.length ** 2)
      expect(disagreements).toEqual([])
      const of = (s: string) => identities[spec.spellings.indexOf(s)]
      for (const [a, b] of spec.equal) expect([a, b, of(a)]).toEqual([a, b, of(b)])
      for (const [a, b] of spec.distinct) expect([a, b, of(a)]).not.toEqual([a, b, of(b)])
      await h.exec(`delete from ${name}`)
    })
  }
})
