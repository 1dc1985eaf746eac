/**
 * One OS process of the SQLite multi-process race on one database file (WAL, busy timeout): every caller of
 * every key at once. Prints one JSON line: { attempts, results: [{ pid, slug, created, id }, …] }, where
 * `attempts` counts the inserts this process tried (calls whose read missed).
 * Argument: JSON { file, table, keys, callersPerKey }.
 * Protocol: prints "ready" once loaded and connected, starts on a line from stdin.
 */
import { getOrCreate } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import Database from 'better-sqlite3'
import { drizzle } from 'drizzle-orm/better-sqlite3'
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'

interface Job {
  file: string
  table: string
  keys: string[]
  callersPerKey: number
}

const job = JSON.parse(process.argv[2] ?? '{}') as Job
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
}
// Say "ready", then wait for the parent's "go": every process starts together.
process.stdout.write('ready\n')
await new Promise((resolve) => process.stdin.once('data', resolve))

// Each process takes the keys in its own order, so processes meet on every key at different moments.
const order = [...job.keys]
for (let i = order.length - 1; i > 0; i--) {
  const j = Math.floor(Math.random() * (i + 1))
  ;[order[i], order[j]] = [order[j]!, order[i]!]
}
const results = await Promise.all(
  order.flatMap((slug) =>
    Array.from({ length: job.callersPerKey }, async (_, caller) => {
      const outcome = await getOrCreate(store, { slug }, { title: `pid ${process.pid} caller ${caller}` })
      return { pid: process.pid, slug, created: outcome.created, id: outcome.row.id }
    }),
  ),
)
process.stdout.write(`${JSON.stringify({ attempts, results })}\n`)
client.close()
