/**
 * A lock holder that will be killed, started by startWorker (@getorcreate/test-support): starts a
 * get-or-create whose defaults never return, prints `holding` once it holds the lock, and waits.
 */
import { getOrCreate } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { workerJob } from '@getorcreate/test-support'
import { drizzle } from 'drizzle-orm/postgres-js'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import { redisLockStrategy } from '../../src/index.js'
import { itemsTable } from '../support/postgres.js'

interface Config {
  readonly databaseUrl: string
  readonly table: string
  readonly redisUrl: string
  readonly slug: string
  readonly ttlMs: number
}

const config = workerJob<Config>()
const sql = postgres(config.databaseUrl, { max: 2, onnotice: () => undefined })
const client = new Redis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 0 })
client.on('error', () => undefined)
await new Promise((resolve) => client.once('ready', resolve))
const store = drizzleStore(drizzle(sql), itemsTable(config.table))
const strategy = redisLockStrategy({ clients: client, ttlMs: config.ttlMs })
await getOrCreate(
  store,
  { slug: config.slug },
  () => {
    process.stdout.write('holding\n')
    // Never returns: the process is killed while it holds the lock (and keeps extending it).
    return new Promise<{ payload: string }>(() => undefined)
  },
  strategy,
)
