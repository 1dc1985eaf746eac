/**
 * The first snippet of packages/redis-lock/README.md, verbatim below this comment (`pnpm run docs` checks
 * that the two are the same), so the typecheck proves that it compiles as printed.
 */
import { getOrCreate } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { redisLockStrategy } from '@getorcreate/redis-lock'
import { Redis } from 'ioredis'
import { db, events } from './db.js' // your drizzle database, and a table with no unique index on the key

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
})
const strategy = redisLockStrategy({ clients: redis })

const { row, created } = await getOrCreate(
  drizzleStore(db, events),
  { tenant: 'acme', externalId: 'evt-1' },
  { payload: 'first seen' },
  strategy,
)
console.log(row.id, created)
