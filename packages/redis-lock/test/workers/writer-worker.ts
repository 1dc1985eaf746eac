/**
 * One caller of getOrCreate in a process of its own, started by startWorker (@getorcreate/test-support), for
 * paused-holder.test.ts and stalled-in-database.test.ts: the paused or stalled lock holder, or the caller that
 * takes its lock once it has expired. It opens the store of `target` (support/items-store.ts), says `ready`,
 * waits for `go` when told to, makes its call through redisLockStrategy on `redisUrl`, and reports its
 * outcome: the row it got, or its error's code.
 *
 * With `pauseMs`, before each write, after every check the strategy makes, it prints `writing` and waits that
 * long (the parent stops the process there: SIGSTOP; `interceptedStore`, whose write without a fence is the
 * unconditional insert after a fresh read). Without, the store is used whole, as an application has it. A
 * holder whose write stalls in the database carries the test's mark on its sessions (`target.stallMark`), or,
 * on SQLite, installs the test's stall on its connection (`sqliteStall`; stalls.ts).
 */
import { setTimeout as delay } from 'node:timers/promises'
import { getOrCreate, isGetOrCreateError } from '@getorcreate/core'
import { readyThenGo, reportResult, workerJob } from '@getorcreate/test-support'
import { redisLockStrategy } from '../../src/index.js'
import { type ItemsTarget, interceptedStore, openItemsStore } from '../support/items-store.js'
import { readyClients } from '../support/redis.js'
import { type SqliteStall, stallSqliteInserts } from '../support/stalls.js'

/** The job the parent passes. */
export interface WriterJob {
  readonly target: ItemsTarget
  readonly redisUrl: string
  readonly slug: string
  readonly payload: string
  readonly ttlMs: number
  /** Print `writing` before each write and wait this long; none: the store whole, no announcement. */
  readonly pauseMs?: number
  /** After `ready`, wait for the parent's `go`. */
  readonly awaitGo?: boolean
  /** On SQLite: the stall to install on this process's connection. */
  readonly sqliteStall?: SqliteStall
}

/** What the worker reports. */
export type WriterOutcome = { id: number; created: boolean } | { error: string }

const job = workerJob<WriterJob>()
const [client] = await readyClients([job.redisUrl])
const { store: inner, close } = await openItemsStore(job.target, {
  onSqlite: (connection) => {
    if (job.sqliteStall) stallSqliteInserts(connection, job.sqliteStall)
  },
})
const { pauseMs } = job
const store =
  pauseMs === undefined
    ? inner
    : interceptedStore(inner, async (send) => {
        process.stdout.write('writing\n')
        if (pauseMs > 0) await delay(pauseMs)
        return send()
      })

try {
  if (job.awaitGo) await readyThenGo()
  else process.stdout.write('ready\n')
  const strategy = redisLockStrategy({ clients: client!, ttlMs: job.ttlMs, acquireTimeoutMs: 10_000 })
  const { row, created } = await getOrCreate(store, { slug: job.slug }, { payload: job.payload }, strategy)
  reportResult({ id: row.id as number, created } satisfies WriterOutcome)
} catch (error) {
  reportResult({ error: isGetOrCreateError(error) ? error.code : String(error) } satisfies WriterOutcome)
} finally {
  client?.disconnect()
  await close()
}
