/**
 * Another process holding a SQLite file's write lock as a fenced create does, started by startWorker
 * (@getorcreate/test-support): `BEGIN IMMEDIATE`, the fence of `lockKey` raised to `token`, a row with `slug`
 * inserted unless `slug` is null; it prints `holding`, keeps the lock for `holdMs` (the parent's create waits
 * in its busy handler meanwhile, its thread blocked, so it cannot tell this process when), then commits.
 * Job (JSON): { file, fences, table, lockKey, token, slug, holdMs }.
 */
import { workerJob } from '@getorcreate/test-support'
import Database from 'better-sqlite3'

interface Job {
  file: string
  fences: string
  table: string
  lockKey: string
  token: number
  slug: string | null
  holdMs: number
}

const job = workerJob<Job>()
const client = new Database(job.file)
client.pragma('journal_mode = wal')
client.pragma('busy_timeout = 10000')
client.exec('begin immediate')
client
  .prepare(
    `insert into ${job.fences} (lock_key, token) values (?, ?)
      on conflict (lock_key) do update set token = excluded.token, prev_token = token`,
  )
  .run(job.lockKey, job.token)
if (job.slug !== null) client.prepare(`insert into ${job.table} (slug) values (?)`).run(job.slug)
process.stdout.write('holding\n')
await new Promise((resolve) => setTimeout(resolve, job.holdMs))
client.exec('commit')
client.close()
