/**
 * One OS process of the multi-process race: runs getOrCreate for every key `callers` times, shuffled with its
 * own seed, `concurrency` at once (its pool's size). Started by raceWorkers (@getorcreate/test-support): says
 * "ready" once its pool is open, starts on "go", reports { results: [[key, id, created], …], errors }.
 * Job (JSON): { driver, table, keys, callers, concurrency, seed, strategy? ('constraint' by default, or
 * 'advisory-lock') }.
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
import { openPg, type PgDriver } from '../support/pg.js'
import { itemsTable } from '../support/tables.js'

interface Job {
  readonly driver: PgDriver
  readonly table: string
  readonly keys: number
  readonly callers: number
  readonly concurrency: number
  readonly seed: number
  readonly strategy?: 'constraint' | 'advisory-lock'
}

const job = workerJob<Job>()
// The database settles these races, not this process: no single flight, every call sends its own statements.
const strategy =
  job.strategy === 'advisory-lock'
    ? advisoryLockStrategy({ singleFlight: false })
    : constraintStrategy({ singleFlight: false })
const h = await openPg(job.driver, job.concurrency)
const store = drizzleStore(h.db, itemsTable(job.table))
const keys = Array.from({ length: job.keys }, (_, i) => `k${i}`)
const calls = shuffledCalls(keys, job.callers, job.seed)
await readyThenGo()
const { results, errors } = await runConcurrently(calls, job.concurrency, async (slug) => {
  const { row, created } = await getOrCreate(store, { slug }, { title: `p${job.seed}` }, strategy)
  return [slug, row.id, created] as const
})
await h.close()
reportResult({ results, errors: errors.map(String) })
