import Database from 'better-sqlite3'
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
 * The connections the examples' tests hold at most at once, this check's own included: the sum of the pools
 * open together, which the teardown's sampling confirms for Postgres (it fails the run if the tests ever hold
 * more). Postgres, 35: demo.test.ts runs the demo with a pool of 32 and a raw pool of 2; measured peak 34.
 * MariaDB, 21: the mariadb example's pool of 20 callers; measured peak 21.
 */
export default guestRun({
  suite: 'the examples tests',
  services: ['postgres', 'mysql', 'redis'],
  postgres: { connections: 35, probe: postgresProbe },
  mysql: { connections: 21, probe: mysqlProbe },
  redis: { probe: redisProbe },
  native: { name: 'better-sqlite3', open: () => new Database(':memory:').close() },
})
