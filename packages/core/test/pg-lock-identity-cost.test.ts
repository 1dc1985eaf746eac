/**
 * What `lockIdentity` costs on a miss (where the Redis-lock strategy calls it), printed for the record: a
 * key of exact types (text, integer) needs no round trip once the table's facts are cached; a timestamp or
 * numeric key needs one statement. A plain `find` miss is the yardstick. Timings are printed, not asserted.
 */
import { drizzleStore } from '@getorcreate/core/drizzle'
import { integer, numeric, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { openPg, type PgHarness } from './support/pg.js'

let h: PgHarness
beforeAll(async () => {
  h = await openPg('postgres.js', 2)
})
afterAll(() => h.close())

const N = 400

async function perCall(run: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 50; i++) await run(-1 - i) // warm up: facts cached, statements prepared
  const start = performance.now()
  for (let i = 0; i < N; i++) await run(i)
  return (performance.now() - start) / N
}

test('lockIdentity on a miss: exact-type key vs timestamp / numeric key (printed)', async () => {
  const name = h.table()
  await h.exec(
    `create table ${name} (id serial primary key, slug text, n integer, at timestamp(0), amount numeric(10,2))`,
  )
  const store = drizzleStore(
    h.db,
    pgTable(name, {
      id: serial('id').primaryKey(),
      slug: text('slug'),
      n: integer('n'),
      at: timestamp('at', { precision: 0, mode: 'date' }),
      amount: numeric('amount', { precision: 10, scale: 2 }),
    }),
  )
  const base = Date.UTC(2024, 0, 1)
  const find = await perCall((i) => store.find({ slug: `miss-${i}` }))
  const exact = await perCall((i) => Promise.resolve(store.lockIdentity!({ slug: `k-${i}`, n: i })))
  const before = h.queries.length
  const stamp = await perCall((i) => Promise.resolve(store.lockIdentity!({ at: new Date(base + i * 1_001) })))
  expect(h.queries.length - before).toBe(N + 50) // one statement per call
  const amount = await perCall((i) => Promise.resolve(store.lockIdentity!({ amount: `${i}.005` })))
  const fmt = (ms: number) => `${(ms * 1000).toFixed(0)} µs`
  console.log(
    `lockIdentity per miss (${N} calls, postgres.js, local server): exact types ${fmt(exact)}, ` +
      `timestamp(0) ${fmt(stamp)}, numeric(10,2) ${fmt(amount)}; a find miss ${fmt(find)}; ` +
      `timestamp / exact = ${(stamp / exact).toFixed(1)}×, timestamp / find miss = ${(stamp / find).toFixed(2)}×`,
  )
})
