/**
 * One OS process of the fenced SQLite race on one database file (WAL, busy timeout), without any lock: every
 * key's fenced create (`insertIfAbsentFenced`, the key's own lock key, token 1 for every process: the same
 * token is accepted) at once, in this process's own order (its seed). Started by raceWorkers
 * (@getorcreate/test-support): reports [{ key, created }, …].
 * Job (JSON): { file, table, fences, keys, seed }.
 */
import { drizzleStore, sqliteFencesTable } from '@getorcreate/core/drizzle'
import { readyThenGo, reportResult, shuffle, workerJob } from '@getorcreate/test-support'
import Database from 'better-sqlite3'
import { drizzle } from 'drizzle-orm/better-sqlite3'
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'

interface Job {
  file: string
  table: string
  fences: string
  keys: string[]
  seed: number
}

const job = workerJob<Job>()
const client = new Database(job.file)
client.pragma('journal_mode = wal')
client.pragma('busy_timeout = 10000')
const table = sqliteTable(job.table, { id: integer('id').primaryKey(), slug: text('slug').notNull() })
const store = drizzleStore(drizzle({ client }), table, { fences: sqliteFencesTable(job.fences) })
await readyThenGo()

const results = await Promise.all(
  shuffle([...job.keys], job.seed).map(async (slug) => {
    const row = await store.insertIfAbsentFenced!({ slug }, { slug }, { token: 1, lockKey: `lock:${slug}` })
    return { key: slug, created: row !== undefined }
  }),
)
reportResult(results)
client.close()
