/**
 * One OS process of the MariaDB multi-process race: every caller of every key at once, half of them inside
 * REPEATABLE READ transactions, half in autocommit. Prints one JSON line: [{ pid, slug, created, id }, …].
 * Callers run `concurrency` at a time (the pool's size), in an order of this process's own.
 * Argument: JSON { url, table, keys, callersPerKey, concurrency }.
 * Protocol: prints "ready" once loaded and connected, starts on a line from stdin.
 */
import { getOrCreate } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { int, mysqlTable, varchar } from 'drizzle-orm/mysql-core'
import { drizzle } from 'drizzle-orm/mysql2'
import mysql from 'mysql2/promise'

interface Job {
  url: string
  table: string
  keys: string[]
  callersPerKey: number
  concurrency: number
}

const job = JSON.parse(process.argv[2] ?? '{}') as Job
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
// Say "ready", then wait for the parent's "go": every process starts together.
process.stdout.write('ready\n')
await new Promise((resolve) => process.stdin.once('data', resolve))

const tasks = job.keys.flatMap((slug) =>
  Array.from({ length: job.callersPerKey }, (_, caller) => async () => {
    const defaults = { title: `pid ${process.pid} caller ${caller}` }
    const outcome =
      caller % 2 === 0
        ? await db.transaction((tx) => getOrCreate(drizzleStore(tx, table), { slug }, defaults), {
            isolationLevel: 'repeatable read',
          })
        : await getOrCreate(store, { slug }, defaults)
    return { pid: process.pid, slug, created: outcome.created, id: outcome.row.id }
  }),
)
// Each process takes the keys in its own order, so processes meet on every key at different moments.
for (let i = tasks.length - 1; i > 0; i--) {
  const j = Math.floor(Math.random() * (i + 1))
  ;[tasks[i], tasks[j]] = [tasks[j]!, tasks[i]!]
}
const results: unknown[] = []
let next = 0
await Promise.all(
  Array.from({ length: job.concurrency }, async () => {
    while (next < tasks.length) {
      const task = tasks[next++]
      if (task) results.push(await task())
    }
  }),
)
process.stdout.write(`${JSON.stringify(results)}\n`)
await pool.end()
