/**
 * What `lockIdentity` costs on a miss on MariaDB (where the Redis-lock strategy calls it), printed for the
 * record: a key under a `_bin` collation or of an exact type needs no round trip once the column facts are
 * cached; a key under a case-insensitive collation (its weight string) or on a `datetime` (its cast) needs one
 * statement. A plain `find` miss is the yardstick. Timings are printed, not asserted; statements are counted.
 */
import { drizzleStore } from '@getorcreate/core/drizzle'
import { datetime, int, mysqlTable, varchar } from 'drizzle-orm/mysql-core'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { type MysqlHarness, openMysql } from './support/mysql.js'

let h: MysqlHarness
beforeAll(() => {
  h = openMysql(2)
})
afterAll(() => h.close())

const N = 400

async function perCall(run: (i: number) => Promise<unknown>): Promise<{ ms: number; statements: number }> {
  for (let i = 0; i < 50; i++) await run(-1 - i) // warm up: facts cached
  const before = h.queries.length
  const start = performance.now()
  for (let i = 0; i < N; i++) await run(i)
  return { ms: (performance.now() - start) / N, statements: (h.queries.length - before) / N }
}

test('lockIdentity on a miss: binary / exact key vs folded string and datetime key (printed)', async () => {
  const name = h.table('lockcost')
  await h.exec(`create table ${name} (
    id int auto_increment primary key,
    bin varchar(100) character set utf8mb4 collate utf8mb4_bin null,
    ci varchar(100) character set utf8mb4 collate utf8mb4_general_ci null,
    n int null,
    at datetime null
  ) engine = InnoDB`)
  const store = drizzleStore(
    h.db,
    mysqlTable(name, {
      id: int('id').autoincrement().primaryKey(),
      bin: varchar('bin', { length: 100 }),
      ci: varchar('ci', { length: 100 }),
      n: int('n'),
      at: datetime('at'),
    }),
  )
  const base = Date.UTC(2024, 0, 1)
  const find = await perCall((i) => store.find({ ci: `miss-${i}` }))
  const exact = await perCall((i) => Promise.resolve(store.lockIdentity!({ bin: `k-${i} `, n: i })))
  const folded = await perCall((i) => Promise.resolve(store.lockIdentity!({ ci: `Key-${i}` })))
  const stamp = await perCall((i) => Promise.resolve(store.lockIdentity!({ at: new Date(base + i * 1_001) })))
  expect(find.statements).toBe(1)
  expect(exact.statements).toBe(0) // computed in JavaScript from the cached column facts
  expect(folded.statements).toBe(1) // the weight string, from the server
  expect(stamp.statements).toBe(1) // the cast, from the server
  const both = await perCall((i) =>
    Promise.resolve(store.lockIdentity!({ ci: `Key-${i}`, at: new Date(base + i * 1_001) })),
  )
  expect(both.statements).toBe(1) // every such field in one statement
  const fmt = (ms: number) => `${(ms * 1000).toFixed(0)} µs`
  console.log(
    `lockIdentity per miss (${N} calls, mysql2, local MariaDB): _bin / exact ${fmt(exact.ms)}, ` +
      `utf8mb4_general_ci ${fmt(folded.ms)}, datetime ${fmt(stamp.ms)}, both ${fmt(both.ms)}; ` +
      `a find miss ${fmt(find.ms)}; folded / find miss = ${(folded.ms / find.ms).toFixed(2)}×`,
  )
})
