import { mysqlUrl, type RaceOutcome, raceViolations, raceWorkers } from '@getorcreate/test-support'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { createMysqlShape, type MysqlHarness, openMysql } from './support/mysql.js'

const WORKER = new URL('./workers/mysql-race.ts', import.meta.url)
const PROCESSES = 4

/** What one caller saw, and in which worker process. */
type Outcome = RaceOutcome & { readonly pid: number }

let h: MysqlHarness
beforeAll(() => {
  h = openMysql(2)
})
afterAll(async () => {
  await h.close()
})

/**
 * Every caller of 60 keys (3 per key per process), from {@link PROCESSES} processes at once: the violations of
 * one row, one created:true and one id per key (none expected), and how many processes created rows. With
 * `batch`, each key's first caller in a process is an item of a getOrCreateMany batch (see the worker).
 */
async function race(batch: boolean): Promise<{ violations: string[]; creators: number; calls: number }> {
  const table = await createMysqlShape(h, 'unique')
  const keys = Array.from({ length: 60 }, (_, i) => `key-${i}`)
  const callersPerKey = 3
  const concurrency = 8 // per process: its pool has as many connections (32 in all)
  const job = { url: mysqlUrl(), table, keys, callersPerKey, concurrency, batch }
  const reports = await raceWorkers<Outcome[]>(
    WORKER,
    Array.from({ length: PROCESSES }, (_, i) => ({ ...job, seed: i + 1 })),
  )
  const all = reports.flat()
  expect(all.length).toBe(PROCESSES * keys.length * callersPerKey)
  const rows = await h.rows(`select slug, count(*) as n from ${table} group by slug`)
  const rowsByKey = new Map(rows.map((row) => [String(row.slug), Number(row.n)]))
  return {
    violations: raceViolations({ keys, outcomes: all, rowsByKey }),
    creators: new Set(all.filter((outcome) => outcome.created).map((outcome) => outcome.pid)).size,
    calls: all.length,
  }
}

test(`MariaDB: ${PROCESSES} OS processes race on the same keys, exact counts`, async () => {
  const { violations, creators } = await race(false)
  expect(violations).toEqual([])
  // The processes really raced: rows were created by more than one of them.
  expect(creators).toBeGreaterThan(1)
})

test(`MariaDB: ${PROCESSES} OS processes run overlapping getOrCreateMany batches in opposite orders (half in REPEATABLE READ transactions) beside single calls, exact counts`, async () => {
  const { violations, creators } = await race(true)
  expect(violations).toEqual([])
  expect(creators).toBeGreaterThan(1)
})
