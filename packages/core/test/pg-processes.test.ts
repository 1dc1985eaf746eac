/**
 * The race across four OS processes at once, on the same keys, against one Postgres: the invariants hold
 * counted across processes. (PGlite lives inside one process, so it is not part of this test.)
 */
import { afterAll, beforeAll, expect, test } from 'vitest'
import { openPg, type PgHarness } from './support/pg.js'
import { runWorker } from './support/processes.js'
import { assertRaceInvariants, type RaceOutcome } from './support/race.js'
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

for (const driver of ['postgres.js', 'node-postgres'] as const) {
  test(`${PROCESSES} processes via ${driver}: one row, one created:true and one id per key`, async () => {
    const name = h.table()
    await h.exec(itemsDdl(name, `create unique index on ${name} (slug)`))
    const outputs = await Promise.all(
      Array.from({ length: PROCESSES }, (_, i) =>
        runWorker(new URL('./workers/pg-race-worker.ts', import.meta.url), [
          driver,
          name,
          String(KEYS),
          String(CALLERS_PER_PROCESS),
          String(CONCURRENCY),
          String(i + 1),
        ]),
      ),
    )
    const outcomes: RaceOutcome[] = []
    for (const output of outputs) {
      const { results, errors } = JSON.parse(output) as {
        results: [string, number, boolean][]
        errors: string[]
      }
      expect(errors).toEqual([])
      for (const [key, id, created] of results) outcomes.push({ key, id, created })
    }
    expect(outcomes).toHaveLength(PROCESSES * KEYS * CALLERS_PER_PROCESS)
    const counts = await h.rows(`select slug, count(*)::int as n from ${name} group by slug`)
    const keys = Array.from({ length: KEYS }, (_, i) => `k${i}`)
    assertRaceInvariants(outcomes, new Map(counts.map((row) => [String(row.slug), Number(row.n)])), keys)
    // Every process created some keys: the processes really raced rather than ran one after another.
    const creators = outputs.map((output) =>
      (JSON.parse(output) as { results: [string, number, boolean][] }).results.some(([, , c]) => c),
    )
    expect(creators.filter(Boolean).length).toBeGreaterThan(1)
  })
}
