/**
 * One OS process of the multi-process race: runs getOrCreate for every key `callers` times, shuffled with its
 * own seed, `concurrency` at once (its pool's size). Started by raceWorkers (@getorcreate/test-support): says
 * "ready" once its pool is open, starts on "go", reports { results: [[key, id, created], …], errors }.
 * Job (JSON): { driver, table, keys, callers, concurrency, seed, strategy? ('constraint' by default, or
 * 'advisory-lock'), bursts? }. With `bursts`, the constraint strategy keeps its single flight and each key's
 * `callers` calls come one after another (so they share one operation), the keys in one order for every
 * process (so the processes' shared operations race each other on the same keys); the report then also
 * counts the statements that read and inserted at once (`oneStatements`).
 */
import { advisoryLockStrategy, constraintStrategy, getOrCreate } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import {
  readyThenGo,
  reportResult,
  runConcurrently,
  shuffledCalls,
  workerJob,
} from '@getorcreate/test-support'
import { oneStatementsSince, openPg, type PgDriver } from '../support/pg.js'
import { itemsTable } from '../support/tables.js'

interface Job {
  readonly driver: PgDriver
  readonly table: string
  readonly keys: number
  readonly callers: number
  readonly concurrency: number
  readonly seed: number
  readonly strategy?: 'constraint' | 'advisory-lock'
  readonly bursts?: boolean
}

const job = workerJob<Job>()
// The database settles these races, not this process: no single flight, every call sends its own statements
// (but for bursts, whose shared operations race the other processes' on the same keys).
const strategy =
  job.strategy === 'advisory-lock'
    ? advisoryLockStrategy({ singleFlight: false })
    : constraintStrategy({ singleFlight: job.bursts === true })
const h = await openPg(job.driver, job.concurrency)
const store = drizzleStore(h.db, itemsTable(job.table))
const keys = Array.from({ length: job.keys }, (_, i) => `k${i}`)
const calls = job.bursts
  ? shuffledCalls(keys, 1, 1).flatMap((key) => Array.from({ length: job.callers }, () => key))
  : shuffledCalls(keys, job.callers, job.seed)
await readyThenGo()
const { results, errors } = await runConcurrently(calls, job.concurrency, async (slug) => {
  const { row, created } = await getOrCreate(store, { slug }, { title: `p${job.seed}` }, strategy)
  return [slug, row.id, created] as const
})
const oneStatements = oneStatementsSince(h, 0)
await h.close()
reportResult({ results, errors: errors.map(String), oneStatements })
