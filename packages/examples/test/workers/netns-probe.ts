/**
 * Runs inside a worker's namespace (started with the network's `prefix`), for netns.test.ts. Prints one JSON
 * line on stdout when done.
 *
 * - `reach`: a real query to Postgres, MariaDB and Redis at PROBE_PG_URL, PROBE_MYSQL_URL, PROBE_REDIS_URL
 *   (the worker's host); then a connection to each port in PROBE_PORTS on 127.0.0.1 and to each address in
 *   PROBE_OUTSIDE (what it must not reach), with the error each gave; its interfaces, pid, HOME, PATH and cwd.
 * - `loop`: `select 1`, one at a time on one connection to PROBE_PG_URL, for PROBE_MS; prints `ready` after
 *   the first, then every query's start and end time and the errors.
 * - `hold`: a TCP connection to PROBE_HOST:PROBE_PORT, `connected` printed once open, held until the other
 *   side ends it; then one more connection; how each ended.
 */
import { connect } from 'node:net'
import { networkInterfaces } from 'node:os'
import { Redis } from 'ioredis'
import mysql from 'mysql2/promise'
import postgres from 'postgres'

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined) throw new Error(`${name} is not set`)
  return value
}

/** The error code a TCP connection to host:port ends with (`connected` if it opened). */
function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    const timer = setTimeout(() => {
      socket.destroy()
      resolve('timeout')
    }, 3_000)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.destroy()
      resolve('connected')
    })
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      resolve(error.code ?? error.message)
    })
  })
}

async function reach(): Promise<object> {
  const sql = postgres(env('PROBE_PG_URL'), { max: 1, connect_timeout: 10 })
  const [pg] = await sql<{ answer: number }[]>`select 41 + 1 as answer`
  await sql.end()
  const db = await mysql.createConnection({ uri: env('PROBE_MYSQL_URL'), connectTimeout: 10_000 })
  const [rows] = await db.query('select 40 + 2 as answer')
  await db.end()
  const redis = new Redis(env('PROBE_REDIS_URL'), { lazyConnect: true, maxRetriesPerRequest: 0 })
  await redis.connect()
  const echo = await redis.echo('forty-two')
  redis.disconnect()
  const ports = env('PROBE_PORTS').split(',').map(Number)
  const outside = env('PROBE_OUTSIDE').split(',').filter(Boolean)
  return {
    postgres: pg?.answer,
    mysql: (rows as { answer: number }[])[0]?.answer,
    redis: echo,
    loopback: await Promise.all(ports.map((port) => tryConnect('127.0.0.1', port))),
    outside: await Promise.all(outside.map((address) => tryConnect(address, ports[0] ?? 5432))),
    interfaces: Object.fromEntries(
      Object.entries(networkInterfaces()).map(([name, infos]) => [
        name,
        (infos ?? []).map((info) => `${info.address}/${info.cidr?.split('/')[1]}`),
      ]),
    ),
    pid: process.pid,
    home: process.env.HOME,
    path: process.env.PATH,
    cwd: process.cwd(),
  }
}

/** How a connection to host:port ends: its error code, `end` (closed by the other side), or `open` after 5 s. */
function untilClosed(host: string, port: number, onConnect?: () => void): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    const timer = setTimeout(() => {
      socket.destroy()
      resolve('open')
    }, 5_000)
    socket.once('connect', () => onConnect?.())
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      resolve(error.code ?? error.message)
    })
    socket.once('end', () => {
      clearTimeout(timer)
      resolve('end')
    })
  })
}

async function hold(): Promise<object> {
  const host = env('PROBE_HOST')
  const port = Number(env('PROBE_PORT'))
  const first = await untilClosed(host, port, () => process.stdout.write('connected\n'))
  return { first, second: await untilClosed(host, port) }
}

async function loop(): Promise<object> {
  const sql = postgres(env('PROBE_PG_URL'), { max: 1, connect_timeout: 30 })
  const until = Date.now() + Number(env('PROBE_MS'))
  const queries: [number, number][] = []
  const errors: string[] = []
  while (Date.now() < until) {
    const start = Date.now()
    try {
      await sql`select 1`
      queries.push([start, Date.now()])
      if (queries.length === 1) process.stdout.write('ready\n')
    } catch (error) {
      errors.push(String((error as { code?: unknown }).code ?? error))
    }
  }
  await sql.end()
  return { queries, errors }
}

const mode = process.argv[2]
const modes: Record<string, () => Promise<object>> = { reach, loop, hold }
const result = await modes[mode ?? '']?.()
if (!result) throw new Error(`unknown mode ${mode}`)
process.stdout.write(`${JSON.stringify(result)}\n`)
