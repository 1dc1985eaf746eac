/**
 * A lock holder whose write stalls inside the database, started by startWorker (@getorcreate/test-support):
 * its Postgres sessions carry the setting `getorcreate.stall` (a startup parameter), which the test's trigger
 * recognises: a row this process inserts (into the items table, or into the fences table) waits in the trigger
 * for an advisory lock the test holds. The statement has reached the database, taken its snapshot, and waits
 * there; the parent stops this process (SIGSTOP) so that nothing extends its Redis lock, lets another caller
 * take the expired lock, releases the advisory lock, and resumes it (SIGCONT). It reports its outcome: the row
 * it got, or its error's code.
 *
 * The store is the whole drizzleStore, as an application has it: fenced with `fences`, plain without (whose
 * first-attempt write is its one-statement `insertIfAbsentUnderLock`).
 */
import { getOrCreate, isGetOrCreateError } from '@getorcreate/core'
import { drizzleStore, pgFencesTable } from '@getorcreate/core/drizzle'
import { reportResult, workerJob } from '@getorcreate/test-support'
import { drizzle } from 'drizzle-orm/postgres-js'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import { redisLockStrategy } from '../../src/index.js'
import { itemsTable } from '../support/postgres.js'

interface Config {
  readonly databaseUrl: string
  readonly table: string
  /** The fences table's name; none: the plain store. */
  readonly fences?: string
  readonly redisUrl: string
  readonly slug: string
  readonly ttlMs: number
  /** The value of `getorcreate.stall` on this process's sessions, which the test's trigger waits for. */
  readonly stallMark: string
}

const config = workerJob<Config>()
const sql = postgres(config.databaseUrl, {
  max: 2,
  onnotice: () => undefined,
  connection: { 'getorcreate.stall': config.stallMark },
})
const client = new Redis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 0 })
client.on('error', () => undefined)
await new Promise((resolve) => client.once('ready', resolve))
const db = drizzle(sql)
const table = itemsTable(config.table)
const store =
  config.fences === undefined
    ? drizzleStore(db, table)
    : drizzleStore(db, table, { fences: pgFencesTable(config.fences) })

try {
  const strategy = redisLockStrategy({ clients: client, ttlMs: config.ttlMs })
  const { row, created } = await getOrCreate(store, { slug: config.slug }, { payload: 'stalled' }, strategy)
  reportResult({ id: row.id, created })
} catch (error) {
  reportResult({ error: isGetOrCreateError(error) ? error.code : String(error) })
} finally {
  client.disconnect()
  await sql.end({ timeout: 5 })
}
