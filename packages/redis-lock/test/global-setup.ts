import { Redis } from 'ioredis'
import mysql from 'mysql2/promise'
import postgres from 'postgres'
import { guestRun, type RedisProbe, type SqlProbe } from '../../../test-support/guest.js'

function postgresProbe(url: string, applicationName: string): SqlProbe {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connection: { application_name: applicationName } })
  return {
    query: async (text) => [...(await sql.unsafe(text))] as Record<string, unknown>[],
    close: () => sql.end({ timeout: 5 }),
  }
}

/** One mysql2 connection. */
function mysqlProbe(url: string): SqlProbe {
  const pool = mysql.createPool({ uri: url, connectionLimit: 1 })
  return {
    query: async (text) => (await pool.query(text))[0] as Record<string, unknown>[],
    close: () => pool.end(),
  }
}

function redisProbe(url: string): RedisProbe {
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

/**
 * The Postgres connections the redis-lock tests hold at most at once, this check's own included: the sum of
 * the pools open together (race.test.ts's 4 worker processes × 8 and its fixture's 4), which the teardown's
 * sampling confirms (it fails the run if the tests ever hold more). Measured peak: 34. MariaDB, 19:
 * conformance-mariadb.test.ts's store pool of 16 and its raw pool of 2, and this check's own.
 */
export default guestRun({
  suite: 'the redis-lock tests',
  services: ['postgres', 'mysql', 'redis'],
  postgres: { connections: 37, probe: postgresProbe },
  mysql: { connections: 19, probe: mysqlProbe },
  redis: { probe: redisProbe },
})
