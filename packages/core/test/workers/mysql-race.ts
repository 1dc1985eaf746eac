/**
 * One OS process of the MariaDB multi-process race: every caller of every key, half of them inside REPEATABLE
 * READ transactions, half in autocommit, `concurrency` at a time (the pool's size), in an order of this
 * process's own (its seed). Started by raceWorkers (@getorcreate/test-support): says "ready" once its pool is
 * open, starts on "go", reports [{ pid, key, created, id }, …].
 * With `batch`, each key's first caller is an item of a getOrCreateMany batch (batches of 20 keys, in the
 * process's order, reversed in every other process; every other batch in a REPEATABLE READ transaction), mixed
 * in with the single calls.
 * A transaction that InnoDB ends with a deadlock (`SerializationConflictError`: it rolled the whole
 * transaction back, so nothing of it stays) is run again, as the README tells applications to; in autocommit
 * the store itself runs a deadlocked insert again, so any error there fails the worker.
 * Job (JSON): { url, table, keys, callersPerKey, concurrency, seed, batch? }.
 */
import {
  constraintStrategy,
  getOrCreate,
  getOrCreateMany,
  SerializationConflictError,
} from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { readyThenGo, reportResult, runConcurrently, shuffle, workerJob } from '@getorcreate/test-support'
import { int, mysqlTable, varchar } from 'drizzle-orm/mysql-core'
import { drizzle } from 'drizzle-orm/mysql2'
import mysql from 'mysql2/promise'

// The database settles these races, not this process: no single flight, every call sends its own statements.
const strategy = constraintStrategy({ singleFlight: false })

interface Job {
  url: string
  table: string
  keys: string[]
  callersPerKey: number
  concurrency: number
  seed: number
  batch?: boolean
}

const job = workerJob<Job>()
const size = job.concurrency
const pool = mysql.createPool({ uri: job.url, connectionLimit: size, maxIdle: size })
const db = drizzle(pool, { mode: 'default' })
const table = mysqlTable(job.table, {
  id: int('id').autoincrement().primaryKey(),
  prefix: varchar('prefix', { length: 100 }),
  slug: varchar('slug', { length: 100 }).notNull(),
  email: varchar('email', { length: 100 }),
  title: varchar('title', { length: 100 }),
})
const store = drizzleStore(db, table)

// Open every connection before the start, so the race is not a race to connect.
await Promise.all(Array.from({ length: size }, () => pool.getConnection())).then((connections) => {
  for (const connection of connections) connection.release()
})
await readyThenGo()

/** Transactions run at most this many times; a deadlock each time fails the worker. */
const TRANSACTION_ATTEMPTS = 5

/** `db.transaction(work)` at REPEATABLE READ, run again after a deadlock ended it (nothing of it stayed). */
async function inTransaction<T>(
  work: (tx: Parameters<Parameters<typeof db.transaction>[0]>[0]) => Promise<T>,
) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction(work, { isolationLevel: 'repeatable read' })
    } catch (error) {
      if (!(error instanceof SerializationConflictError) || attempt >= TRANSACTION_ATTEMPTS) throw error
    }
  }
}

// Each process takes the calls in its own order, so processes meet on every key at different moments.
type Call =
  | { readonly slug: string; readonly caller: number }
  | { readonly batch: readonly string[]; readonly inTransaction: boolean }
const singles: Call[] = job.keys.flatMap((slug) =>
  Array.from({ length: job.callersPerKey }, (_, caller) => ({ slug, caller })).filter(
    ({ caller }) => !job.batch || caller > 0,
  ),
)
const batches: Call[] = []
if (job.batch) {
  const order = shuffle(job.keys, job.seed)
  const keys = job.seed % 2 === 0 ? [...order].reverse() : order
  for (let from = 0; from < keys.length; from += 20) {
    batches.push({ batch: keys.slice(from, from + 20), inTransaction: batches.length % 2 === 1 })
  }
}
const calls = shuffle([...singles, ...batches], job.seed)
const { results, errors } = await runConcurrently(calls, job.concurrency, async (call) => {
  if ('batch' in call) {
    const items = call.batch.map((slug) => ({
      key: { slug },
      defaults: { title: `pid ${process.pid} batch` },
    }))
    const outcomes = call.inTransaction
      ? await inTransaction((tx) => getOrCreateMany(drizzleStore(tx, table), items, strategy))
      : await getOrCreateMany(store, items, strategy)
    return outcomes.map((outcome, i) => ({
      pid: process.pid,
      key: call.batch[i] as string,
      created: outcome.created,
      id: outcome.row.id,
    }))
  }
  const { slug, caller } = call
  const defaults = { title: `pid ${process.pid} caller ${caller}` }
  const outcome =
    caller % 2 === 0
      ? await inTransaction((tx) => getOrCreate(drizzleStore(tx, table), { slug }, defaults, strategy))
      : await getOrCreate(store, { slug }, defaults, strategy)
  return [{ pid: process.pid, key: slug, created: outcome.created, id: outcome.row.id }]
})
await pool.end()
// A failed call fails the worker, and so the test.
if (errors.length > 0) throw errors[0]
reportResult(results.flat())
