/** The connections test-support/guest.ts checks through, built from this package's drivers. */
import mysql from 'mysql2/promise'
import postgres from 'postgres'
import type { SqlProbe } from '../../../../test-support/guest.js'

/** One postgres.js connection named `applicationName`. */
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
