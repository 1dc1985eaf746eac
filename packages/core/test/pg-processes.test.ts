/**
 * The race across four OS processes at once, on the same keys, against one Postgres: the invariants hold
 * counted across processes: the constraint strategy on a table with a unique index, and the advisory-lock
 * strategy on one without. (PGlite lives inside one process, so it is not part of this test.)
 */
import { type RaceOutcome, raceViolations, raceWorkers } from '@getorcreate/test-support'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { openPg, type PgHarness } from './support/pg.js'
import { itemsDdl } from './support/tables.js'

const PROCESSES = 4
const KEYS = 1000
const CALLERS_PER_PROCESS = 2 // 8 callers per key in all
const CONCURRENCY = 8 // per process, and its pool: 32 connections in all

let h: PgHarness
beforeAll(async () => {
  h = await openPg('postgres.js', 2)
})
afterAll(async () => {
  await h.close()
})

/**
 * The race's invariants over every process's report: no errors, every call answered, one row, one
 * `created: true` and one id per key `k0` … (as the table `name` and the answers tell).
 */
async function expectOneRowPerKey(
  name: string,
  reports: readonly { results: [string, number, boolean][]; errors: string[] }[],
  keyCount: number,
  callersPerProcess: number,
): Promise<void> {
  const outcomes: RaceOutcome[] = []
  for (const { results, errors } of reports) {
    expect(errors).toEqual([])
    for (const [key, id, created] of results) outcomes.push({ key, id, created })
  }
  expect(outcomes).toHaveLength(PROCESSES * keyCount * callersPerProcess)
  const counts = await h.rows(`select slug, count(*)::int as n from ${name} group by slug`)
  const keys = Array.from({ length: keyCount }, (_, i) => `k${i}`)
  const rowsByKey = new Map(counts.map((row) => [String(row.slug), Number(row.n)]))
  expect(raceViolations({ keys, outcomes, rowsByKey })).toEqual([])
}

const RUNS = [
  { driver: 'postgres.js', strategy: 'constraint', keys: KEYS },
  { driver: 'node-postgres', strategy: 'constraint', keys: KEYS },
  // On a table without a unique index on the key: only the advisory lock keeps the second row out.
  { driver: 'postgres.js', strategy: 'advisory-lock', keys: KEYS / 2 },
  { driver: 'node-postgres', strategy: 'advisory-lock', keys: KEYS / 2 },
] as const

for (const { driver, strategy, keys: KEY_COUNT } of RUNS) {
  test(`${PROCESSES} processes via ${driver}, ${strategy} strategy: one row, one created:true and one id per key`, async () => {
    const name = h.table()
    await h.exec(
      strategy === 'constraint' ? itemsDdl(name, `create unique index on ${name} (slug)`) : itemsDdl(name),
    )
    const reports = await raceWorkers<{ results: [string, number, boolean][]; errors: string[] }>(
      new URL('./workers/pg-race-worker.ts', import.meta.url),
      Array.from({ length: PROCESSES }, (_, i) => ({
        driver,
        table: name,
        keys: KEY_COUNT,
        callers: CALLERS_PER_PROCESS,
        strategy,
        concurrency: CONCURRENCY,
        seed: i + 1,
      })),
    )
    await expectOneRowPerKey(name, reports, KEY_COUNT, CALLERS_PER_PROCESS)
    // Every process created some keys: the processes really raced rather than ran one after another.
    const creators = reports.map((report) => report.results.some(([, , c]) => c))
    expect(creators.filter(Boolean).length).toBeGreaterThan(1)
  })
}

for (const driver of ['postgres.js', 'node-postgres'] as const) {
  test(`${PROCESSES} processes via ${driver}, single flight's shared operations in one statement racing on the same keys: one row, one created:true and one id per key`, async () => {
    const name = h.table()
    await h.exec(itemsDdl(name, `create unique index on ${name} (slug)`))
    const callers = 4 // per process, one after another: one shared operation per key and process
    const reports = await raceWorkers<{
      results: [string, number, boolean][]
      errors: string[]
      oneStatements: number
    }>(
      new URL('./workers/pg-race-worker.ts', import.meta.url),
      Array.from({ length: PROCESSES }, (_, i) => ({
        driver,
        table: name,
        keys: KEYS,
        callers,
        bursts: true,
        concurrency: CONCURRENCY,
        seed: i + 1,
      })),
    )
    await expectOneRowPerKey(name, reports, KEYS, callers)
    // The one statement was in play: a process that reaches keys no other has read yet sends it (one that
    // follows another finds the rows and reads first), about once per key in all.
    const oneStatements = reports.reduce((sum, report) => sum + report.oneStatements, 0)
    expect(oneStatements).toBeGreaterThan(KEYS / 2)
    const creators = reports.map((report) => report.results.filter(([, , c]) => c).length)
    expect(creators.filter((n) => n > 0).length).toBeGreaterThan(1)
  })
}
