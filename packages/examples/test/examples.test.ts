/** Every runnable example in src/, run against the real services, so none of them can rot. */
import { expect, test } from 'vitest'
import { main as advisoryLock } from '../src/advisory-lock.js'
import { main as customStore } from '../src/custom-store.js'
import { main as getOrCreateMany } from '../src/get-or-create-many.js'
import { main as mariadb } from '../src/mariadb.js'
import { main as observability } from '../src/observability.js'
import { main as partitionedRedisLock } from '../src/partitioned-redis-lock.js'
import { main as sqlite } from '../src/sqlite.js'
import { main as updateOrCreate } from '../src/update-or-create.js'

const databaseUrl = process.env.DATABASE_URL!
const redisUrl = process.env.REDIS_URL!

test('the Redis-lock strategy on a partitioned Postgres table: one row per key', async () => {
  const summary = await partitionedRedisLock(databaseUrl, redisUrl)
  expect(summary).toMatchObject({ keys: 20, rows: 20, created: 20 })
})

test.each([
  ['PGlite', undefined],
  ['Postgres', databaseUrl],
])(
  'the advisory-lock strategy on a partitioned table (%s): refused by the default, one row per key under the lock',
  async (_, url) => {
    expect(await advisoryLock(url)).toEqual({
      database: url === undefined ? 'pglite' : 'postgres',
      constraintStrategy: 'MISSING_UNIQUE_CONSTRAINT',
      race: { keys: 20, callersPerKey: 10, rows: 20, created: 20 },
      inTransaction: { created: true, afterCommit: { created: false, sameId: true } },
    })
  },
)

test.each([
  ['PGlite', undefined],
  ['Postgres', databaseUrl],
])(
  'OpenTelemetry from the diagnostics channels (%s): a span, a count and a duration per call, by outcome',
  async (_, url) => {
    const outcomes = { created: 1, hit: 1, raced: 1, 'error:INVALID_KEY': 1 }
    expect(await observability(url, false)).toEqual({
      spans: [
        { name: 'getOrCreate pg:public.<table>', error: false, outcome: 'created' },
        { name: 'getOrCreate pg:public.<table>', error: false, outcome: 'hit' },
        { name: 'getOrCreate pg:public.<table>', error: false, outcome: 'raced' },
        { name: 'getOrCreate pg:public.<table>', error: true, outcome: 'error', errorType: 'INVALID_KEY' },
      ],
      operations: outcomes,
      durations: outcomes,
    })
  },
)

test('a custom store over a plain SQL client: 20 racing callers, one row, one created, one id', async () => {
  expect(await customStore(20)).toMatchObject({ callers: 20, created: 1, ids: 1, rows: 1 })
})

test('MariaDB: 20 racing callers, one row; found again inside a REPEATABLE READ transaction', async () => {
  expect(await mariadb(process.env.MYSQL_URL!, 20)).toEqual({
    callers: 20,
    created: 1,
    ids: 1,
    rows: 1,
    inTransaction: { created: false, sameId: true },
  })
})

test('SQLite: a WAL file, two keys asked for five times, two rows', async () => {
  const seen = await sqlite()
  expect(seen.created.sort()).toEqual(['news', 'sports'])
  expect(seen.rows).toBe(2)
  expect(seen.ids).toHaveLength(2)
})

test("getOrCreateMany, the README's example: a repeated key settled once, then every key found", async () => {
  const [first, second] = await getOrCreateMany()
  expect(first?.map(({ slug, created }) => [slug, created])).toEqual([
    ['news', true],
    ['sport', true],
    ['news', false],
  ])
  expect(first?.[2]?.id).toBe(first?.[0]?.id)
  expect(second?.map(({ slug, created }) => [slug, created])).toEqual([
    ['news', false],
    ['sport', false],
    ['news', false],
  ])
  expect(second?.map(({ id }) => id)).toEqual(first?.map(({ id }) => id))
})

test("updateOrCreate, the README's example: created with its start date, then a paused one resumed; eight racers on one key make one row, one created", async () => {
  const run = await updateOrCreate()
  expect(run.first).toEqual({ created: true, status: 'active', startedAt: '2026-12-01' })
  expect(run.second).toEqual({ created: false, status: 'resumed', startedAt: '2026-12-01' })
  expect(run.race.created).toBe(1)
  expect(run.race.rows).toBe(1)
  expect(run.race.ids).toBe(1)
  // Each caller's row holds its own status: it is the row as that caller's own statement left it.
  expect(run.race.statuses).toEqual(Array.from({ length: 8 }, (_, i) => `status-${i}`))
})
