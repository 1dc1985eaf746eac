import { join } from 'node:path'
import { type RaceOutcome, raceViolations, raceWorkers } from '@getorcreate/test-support'
import { expect, test } from 'vitest'
import { createSqliteShape, openSqliteFile, tempDir } from './support/sqlite.js'

const WORKER = new URL('./workers/sqlite-race.ts', import.meta.url)
const PROCESSES = 4

/** What one worker reports: the inserts it tried, and what each of its callers saw. */
interface WorkerReport {
  attempts: number
  results: (RaceOutcome & { readonly pid: number })[]
}

/**
 * `PROCESSES` worker processes on one SQLite file (WAL), 1,000 keys × 2 callers each: the reports, and the
 * violations of one row, one created:true and one id per key (none expected). With `batch`, each key's first
 * caller in a process is an item of a getOrCreateMany batch (see the worker).
 */
async function raceOnFile(batch: boolean): Promise<{ reports: WorkerReport[]; violations: string[] }> {
  const temp = tempDir()
  try {
    const file = join(temp.dir, batch ? 'race-batch.db' : 'race.db')
    const setup = openSqliteFile(file)
    try {
      const table = createSqliteShape(setup, 'unique')
      const keys = Array.from({ length: 1000 }, (_, i) => `key-${i}`)
      const callersPerKey = 2
      const job = { file, table, keys, callersPerKey, batch }
      const reports = await raceWorkers<WorkerReport>(
        WORKER,
        Array.from({ length: PROCESSES }, (_, i) => ({ ...job, seed: i + 1 })),
      )
      const all = reports.flatMap((report) => report.results)
      expect(all.length).toBe(PROCESSES * keys.length * callersPerKey)
      const rows = setup.prepare(`select slug, count(*) as n from ${table} group by slug`).all() as {
        slug: string
        n: number
      }[]
      const rowsByKey = new Map(rows.map((row) => [row.slug, row.n]))
      return { reports, violations: raceViolations({ keys, outcomes: all, rowsByKey }) }
    } finally {
      setup.close()
    }
  } finally {
    temp.remove()
  }
}

test(`SQLite file (WAL): ${PROCESSES} OS processes race on the same keys, exact counts`, async () => {
  const { reports, violations } = await raceOnFile(false)
  // The processes really raced: more than one of them read a key as missing and tried to insert it. (Who
  // wins is up to SQLite's single writer: under load one process can win every key while the others wait
  // in its busy handler, so "rows created by several processes" would be a flaky proof.)
  expect(reports.filter((report) => report.attempts > 0).length).toBeGreaterThan(1)
  expect(violations).toEqual([])
})

test(`SQLite file (WAL): ${PROCESSES} OS processes run overlapping getOrCreateMany batches in opposite orders beside single calls, exact counts`, async () => {
  const { reports, violations } = await raceOnFile(true)
  expect(reports.filter((report) => report.attempts > 0).length).toBeGreaterThan(1)
  expect(violations).toEqual([])
})
