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

test(`SQLite file (WAL): ${PROCESSES} OS processes race on the same keys, exact counts`, async () => {
  const temp = tempDir()
  try {
    const file = join(temp.dir, 'race.db')
    const setup = openSqliteFile(file)
    const table = createSqliteShape(setup, 'unique')
    const keys = Array.from({ length: 1000 }, (_, i) => `key-${i}`)
    const callersPerKey = 2
    const job = { file, table, keys, callersPerKey }
    const reports = await raceWorkers<WorkerReport>(
      WORKER,
      Array.from({ length: PROCESSES }, (_, i) => ({ ...job, seed: i + 1 })),
    )
    const all = reports.flatMap((report) => report.results)
    expect(all.length).toBe(PROCESSES * keys.length * callersPerKey)
    // The processes really raced: more than one of them read a key as missing and tried to insert it. (Who
    // wins is up to SQLite's single writer: under load one process can win every key while the others wait
    // in its busy handler, so "rows created by several processes" would be a flaky proof.)
    expect(reports.filter((report) => report.attempts > 0).length).toBeGreaterThan(1)
    const rows = setup.prepare(`select slug, count(*) as n from ${table} group by slug`).all() as {
      slug: string
      n: number
    }[]
    const rowsByKey = new Map(rows.map((row) => [row.slug, row.n]))
    expect(raceViolations({ keys, outcomes: all, rowsByKey })).toEqual([])
    setup.close()
  } finally {
    temp.remove()
  }
})

test(`SQLite file (WAL): ${PROCESSES} OS processes run overlapping getOrCreateMany batches in opposite orders beside single calls, exact counts`, async () => {
  const temp = tempDir()
  try {
    const file = join(temp.dir, 'race-batch.db')
    const setup = openSqliteFile(file)
    const table = createSqliteShape(setup, 'unique')
    const keys = Array.from({ length: 1000 }, (_, i) => `key-${i}`)
    const callersPerKey = 2
    const job = { file, table, keys, callersPerKey, batch: true }
    const reports = await raceWorkers<WorkerReport>(
      WORKER,
      Array.from({ length: PROCESSES }, (_, i) => ({ ...job, seed: i + 1 })),
    )
    const all = reports.flatMap((report) => report.results)
    expect(all.length).toBe(PROCESSES * keys.length * callersPerKey)
    expect(reports.filter((report) => report.attempts > 0).length).toBeGreaterThan(1)
    const rows = setup.prepare(`select slug, count(*) as n from ${table} group by slug`).all() as {
      slug: string
      n: number
    }[]
    const rowsByKey = new Map(rows.map((row) => [row.slug, row.n]))
    expect(raceViolations({ keys, outcomes: all, rowsByKey })).toEqual([])
    setup.close()
  } finally {
    temp.remove()
  }
})
