/**
 * One OS process of the multi-process batch race: `batches` calls of getOrCreateMany over overlapping windows
 * of the keys, every other one in reverse order, half with defaults objects and half with functions, with single getOrCreate calls on the same keys between
 * them, `concurrency` at once. Started by raceWorkers (@getorcreate/test-support); reports
 * { results: [[key, id, created], …], errors }. Job (JSON): { driver, table, keys, batches, window,
 * concurrency, seed }.
 */
import { constraintStrategy, getOrCreate, getOrCreateMany } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { readyThenGo, reportResult, runConcurrently, shuffle, workerJob } from '@getorcreate/test-support'
import { openPg, type PgDriver } from '../support/pg.js'
import { itemsTable } from '../support/tables.js'

// The database settles these races, not this process: no single flight.
const strategy = constraintStrategy({ singleFlight: false })

interface Job {
  readonly driver: PgDriver
  readonly table: string
  readonly keys: number
  readonly batches: number
  readonly window: number
  readonly concurrency: number
  readonly seed: number
}

const job = workerJob<Job>()
const h = await openPg(job.driver, job.concurrency)
const store = drizzleStore(h.db, itemsTable(job.table))
const keys = Array.from({ length: job.keys }, (_, i) => `k${i}`)
type Task = { readonly batch: string[]; readonly lazy: boolean } | { readonly single: string }
const tasks: Task[] = []
for (let b = 0; b < job.batches; b++) {
  const from = ((b * 7 + job.seed * 13) * job.window) % job.keys
  const window = Array.from({ length: job.window }, (_, i) => keys[(from + i) % job.keys] as string)
  // Defaults as objects (one statement) and as functions (a read, then the insert), in turn.
  tasks.push({ batch: (b + job.seed) % 2 === 0 ? window : [...window].reverse(), lazy: b % 4 >= 2 })
  tasks.push({ single: window[b % window.length] as string }, { single: window.at(-1 - (b % 3)) as string })
}
const ordered = shuffle(tasks, job.seed)
await readyThenGo()
const { results, errors } = await runConcurrently(ordered, job.concurrency, async (task) => {
  if ('single' in task) {
    const { row, created } = await getOrCreate(
      store,
      { slug: task.single },
      { title: `p${job.seed}` },
      strategy,
    )
    return [[task.single, row.id, created] as const]
  }
  const answers = await getOrCreateMany(
    store,
    task.batch.map((slug) => ({
      key: { slug },
      defaults: task.lazy ? () => ({ title: `f${job.seed}` }) : { title: `b${job.seed}` },
    })),
    strategy,
  )
  return answers.map(({ row, created }, i) => [task.batch[i] as string, row.id, created] as const)
})
await h.close()
reportResult({ results: results.flat(), errors: errors.map(String) })
