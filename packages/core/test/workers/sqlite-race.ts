/**
 * One OS process of the SQLite multi-process race on one database file (WAL, busy timeout): every caller of
 * every key at once, the keys in an order of this process's own (its seed). Started by raceWorkers
 * (@getorcreate/test-support): says "ready" once connected, starts on "go", reports { attempts, results:
 * [{ pid, key, created, id }, …] }, where `attempts` counts the inserts this process tried (calls whose read
 * missed).
 * With `batch`, each key's first caller is an item of a getOrCreateMany batch (batches of 50 keys, in the
 * process's order, reversed in every other process) and the others are single calls, all at once.
 * Job (JSON): { file, table, keys, callersPerKey, seed, batch? }.
 */
import { constraintStrategy, getOrCreate, getOrCreateMany } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { readyThenGo, reportResult, shuffle, workerJob } from '@getorcreate/test-support'
import Database from 'better-sqlite3'
import { drizzle } from 'drizzle-orm/better-sqlite3'
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'

// The database settles these races, not this process: no single flight, every call sends its own statements.
const strategy = constraintStrategy({ singleFlight: false })

interface Job {
  file: string
  table: string
  keys: string[]
  callersPerKey: number
  seed: number
  batch?: boolean
}

const job = workerJob<Job>()
const client = new Database(job.file)
client.pragma('journal_mode = wal')
client.pragma('busy_timeout = 10000')
const db = drizzle({ client })
const table = sqliteTable(job.table, {
  id: integer('id').primaryKey(),
  prefix: text('prefix'),
  slug: text('slug').notNull(),
  email: text('email'),
  title: text('title'),
})
const inner = drizzleStore(db, table)
let attempts = 0
const store: typeof inner = {
  ...inner,
  insertIfAbsentAtomically(key, values) {
    attempts++
    return inner.insertIfAbsentAtomically!(key, values)
  },
  insertManyIfAbsentAtomically(entries) {
    attempts += entries.length
    return inner.insertManyIfAbsentAtomically!(entries)
  },
}
await readyThenGo()

// Each process takes the keys in its own order, so processes meet on every key at different moments.
const order = shuffle([...job.keys], job.seed)
const batches: Promise<{ pid: number; key: string; created: boolean; id: number }[]>[] = []
if (job.batch) {
  const keys = job.seed % 2 === 0 ? [...order].reverse() : order
  for (let from = 0; from < keys.length; from += 50) {
    const slugs = keys.slice(from, from + 50)
    batches.push(
      getOrCreateMany(
        store,
        slugs.map((slug) => ({ key: { slug }, defaults: { title: `pid ${process.pid} batch` } })),
        strategy,
      ).then((outcomes) =>
        outcomes.map((outcome, i) => ({
          pid: process.pid,
          key: slugs[i] as string,
          created: outcome.created,
          id: outcome.row.id,
        })),
      ),
    )
  }
}
const singles = await Promise.all(
  order.flatMap((slug) =>
    Array.from({ length: job.batch ? job.callersPerKey - 1 : job.callersPerKey }, async (_, caller) => {
      const outcome = await getOrCreate(
        store,
        { slug },
        { title: `pid ${process.pid} caller ${caller}` },
        strategy,
      )
      return { pid: process.pid, key: slug, created: outcome.created, id: outcome.row.id }
    }),
  ),
)
const results = [...singles, ...(await Promise.all(batches)).flat()]
reportResult({ attempts, results })
client.close()
