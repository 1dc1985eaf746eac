/**
 * A stress worker process: opens its stores, says `ready`, and on `go` runs blocks of calls (see
 * workload.ts) with `concurrency` in flight until its deadline or call budget; every second it prints a
 * flush (what its callers saw since the last one, and its RSS). Calls still in flight long after the
 * deadline are reported as never ended. Started by run.ts with its job as the one argument.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { readyThenGo, reportResult, runConcurrently, workerJob } from '@getorcreate/test-support'
import {
  FLUSH_PREFIX,
  MYSQL_PREFIX,
  type StressJob,
  type WorkerFlush,
  type WorkerSummary,
} from './protocol.js'
import { Recorder } from './recorder.js'
import { openStores } from './stores.js'
import { blockCalls } from './workload.js'

const job = workerJob<StressJob>()
const unhandled: string[] = []
const describe = (what: string, error: unknown) =>
  `worker ${job.worker} ${what}: ${error instanceof Error ? error.stack?.split('\n').slice(0, 12).join(' ') : String(error)}`
process.on('unhandledRejection', (error) => unhandled.push(describe('unhandled rejection', error)))
process.on('uncaughtException', (error) => unhandled.push(describe('uncaught exception', error)))

const stores = await openStores(job, (id) => process.stdout.write(`${MYSQL_PREFIX}${id}\n`))
const recorder = new Recorder(job.worker)

function flush(): void {
  const line: WorkerFlush = {
    ...recorder.flush(),
    worker: job.worker,
    rss: process.memoryUsage().rss,
    ended: recorder.ended,
  }
  process.stdout.write(`${FLUSH_PREFIX}${JSON.stringify(line)}\n`)
}

await readyThenGo()
const until = Date.now() + job.durationMs
stores.start(Date.now())
const timer = setInterval(flush, 1_000)
const bound = (strategy: string) => (strategy === 'lock' ? job.bounds.lock : job.bounds.constraint)
// Each table has its own lanes: a slow database does not hold up the calls on the others.
const lanes = Math.max(2, Math.round(job.concurrency / job.tables.length))
const perTable = Math.ceil(job.calls / job.tables.length)
const work = Promise.all(
  job.tables.map(async (spec, table) => {
    let ended = 0
    for (let block = 0; Date.now() < until && ended < perTable; block++) {
      const keys = blockCalls(job.sizes, table, block, job.seed, job.worker)
      const run = await runConcurrently(
        keys,
        lanes,
        async (key) => {
          const next = stores.pick(table)
          await recorder.run(spec.name, key, bound(spec.strategy), () => next.call(key), next.via)
          // better-sqlite3 answers synchronously: without a turn of the event loop between calls, a SQLite
          // lane would run on microtasks alone and starve every socket (and timer) of the worker.
          await yieldToLoop()
        },
        { maxMs: Math.max(0, until - Date.now()) },
      )
      ended += run.started
    }
  }),
)
// A call that never ends must not keep the worker (and the run) waiting: give up on it after its bound.
const giveUp = Math.max(job.bounds.lock, job.bounds.constraint) + 5_000
await Promise.race([
  work,
  new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (Date.now() > until + giveUp) {
        clearInterval(check)
        resolve()
      }
    }, 500)
    void work.then(() => clearInterval(check))
  }),
])
clearInterval(timer)
const abandoned = recorder.abandon()
flush()
await Promise.race([stores.close(), new Promise((resolve) => setTimeout(resolve, 5_000))])
const summary: WorkerSummary = { unhandled, abandoned }
reportResult(summary)
process.exit(0)
