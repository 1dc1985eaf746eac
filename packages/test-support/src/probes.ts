/**
 * The connections the guest checks (guest.ts) read the servers through, one per driver: what a package's
 * global setup passes to `guestRun`. Apart from the package's main entry, which loads no driver.
 */
import { Redis } from 'ioredis'
import mysql from 'mysql2/promise'
import postgres from 'postgres'
import type { RedisProbe, SqlProbe } from './guest-connections.js'

/** One postgres.js connection named `applicationName` (the peak sampler counts connections by that name). */
export function postgresProbe(url: string, applicationName: string): SqlProbe {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connection: { application_name: applicationName } })
  return {
    query: async (text) => [...(await sql.unsafe(text))] as Record<string, unknown>[],
    close: () => sql.end({ timeout: 5 }),
  }
}

/** One mysql2 connection. */
export function mysqlProbe(url: string): SqlProbe {
  const pool = mysql.createPool({ uri: url, connectionLimit: 1 })
  return {
    query: async (text) => (await pool.query(text))[0] as Record<string, unknown>[],
    close: () => pool.end(),
  }
}

/** One ioredis connection: lists the keys without an expiry, and deletes keys. */
export function redisProbe(url: string): RedisProbe {
  const client = new Redis(url, { maxRetriesPerRequest: 1 })
  client.on('error', () => undefined)
  return {
    persistentKeys: async () => {
      const keys: string[] = []
      for await (const batch of client.scanStream({ count: 1000 })) keys.push(...(batch as string[]))
      const ttls = (await client.pipeline(keys.map((key) => ['pttl', key])).exec()) ?? []
      return keys.filter((_, i) => ttls[i]?.[1] === -1)
    },
    remove: async (keys) => {
      if (keys.length > 0) await client.del(...keys)
    },
    close: async () => {
      await client.quit()
    },
  }
}
