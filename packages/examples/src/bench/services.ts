/**
 * The services of a run, before its first turn: Postgres must answer and have connections to spare, the one
 * Redis node must answer when a system needs it, and the 3-node cases get their own `redis-server`s. Then
 * what the machine and the services were, for the report.
 */
import { cpus, loadavg, totalmem } from 'node:os'
import { startRedisNodes } from '@getorcreate/test-support/redis-nodes'
import type postgres from 'postgres'
import { connectRedis } from '../redis.js'
import { BenchError, type BenchOptions, connectionsNeeded, groupSize } from './options.js'
import { type PackagesRun, packagesRun } from './packages.js'
import type { System } from './system.js'

/** What the machine and the services were. */
export interface Environment {
  readonly node: string
  readonly platform: string
  readonly cpus: string
  readonly cores: number
  readonly memoryGb: number
  readonly loadAverage: readonly number[]
  readonly postgres: string
  readonly database: string
  readonly redis: string
  /** The getorcreate code measured: the built packages (as installed) or the sources through tsx. */
  readonly packages: PackagesRun
}

/** The Redis a run uses: what to call it in the report, and the 3 nodes it started (none when not needed). */
export interface RedisServices {
  readonly label: string
  readonly trioUrls: readonly string[]
  /** Stop the nodes it started (idempotent). */
  stop(): Promise<void>
  /** Stop them at once, synchronously (for `process.on('exit')`). */
  kill(): void
}

/** A service's address as the report shows it: host and path, no credentials. */
function shown(url: string): string {
  const parsed = new URL(url)
  parsed.password = ''
  return `${parsed.host}${parsed.pathname}`
}

/**
 * Check that Postgres answers on `admin` and can spare the run's connections; returns its version
 * (`PostgreSQL 15.20`).
 *
 * @throws BenchError when it does not answer, or has too few connections left.
 */
export async function checkPostgres(
  admin: postgres.Sql,
  options: Pick<BenchOptions, 'databaseUrl' | 'pool' | 'procs'>,
): Promise<string> {
  let version: string
  let max: number
  let used: number
  try {
    const [row] = await admin<{ version: string; max: number; used: number }[]>`
      select current_setting('server_version') as version,
             current_setting('max_connections')::int as max,
             (select count(*)::int from pg_stat_activity) as used`
    version = row!.version
    max = row!.max
    used = row!.used
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    if (/too many clients/i.test(message)) {
      throw new BenchError(
        `Postgres has no connection left (too many clients already): others are using it. Retry later.`,
      )
    }
    throw new BenchError(
      `No Postgres answers at ${shown(options.databaseUrl)} (${message}). Start it or set DATABASE_URL.`,
    )
  }
  const needed = connectionsNeeded(options)
  if (used + needed > max) {
    throw new BenchError(
      `Postgres allows ${max} connections and ${used} are in use; this run needs ${needed} more ` +
        `(pool ${options.pool} for each of the ${groupSize(options)} systems of a group). Lower --pool, or retry when the other runs are done.`,
    )
  }
  return `PostgreSQL ${version}`
}

/** The version of the Redis at `url` (`Redis 7.0.15`). @throws BenchError when it does not answer. */
async function redisVersion(url: string): Promise<string> {
  try {
    const probe = await connectRedis(url)
    const info = String(await probe.info('server'))
    probe.disconnect()
    return `Redis ${/redis_version:(\S+)/.exec(info)?.[1] ?? '?'}`
  } catch (error) {
    throw new BenchError(
      `${error instanceof Error ? error.message : String(error)}. Start redis-server or set REDIS_URL, or ` +
        `leave the Redis systems out with --systems.`,
    )
  }
}

/**
 * The Redis the `selected` systems need: the node at `redisUrl` checked when one needs it, 3 local
 * `redis-server` nodes started when one needs them.
 *
 * @throws BenchError when the node does not answer; Error when the 3 nodes cannot be started.
 */
export async function prepareRedis(selected: readonly System[], redisUrl: string): Promise<RedisServices> {
  let label = 'not used'
  if (selected.some((system) => system.needs === 'redis')) label = await redisVersion(redisUrl)
  if (!selected.some((system) => system.needs === 'redis-trio')) {
    return { label, trioUrls: [], stop: async () => {}, kill: () => {} }
  }
  // No DEBUG command: the bench never hangs a node, so the nodes need nothing beyond Redis 6.
  const nodes = await startRedisNodes(3, { debugCommand: false })
  return {
    label: `${label}; 3 local redis-server nodes for the 3-node cases`,
    trioUrls: nodes.map((node) => node.url),
    stop: async () => {
      await Promise.all(nodes.map((node) => node.stop()))
    },
    kill: () => {
      for (const node of nodes) node.killNow()
    },
  }
}

/** The machine this process runs on, and the services' versions and addresses. */
export function describeEnvironment(
  postgresVersion: string,
  redisLabel: string,
  options: Pick<BenchOptions, 'databaseUrl' | 'redisUrl'>,
): Environment {
  const cpu = cpus()
  return {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    loadAverage: loadavg().map((load) => Math.round(load * 100) / 100),
    postgres: postgresVersion,
    database: shown(options.databaseUrl),
    redis: `${redisLabel} at ${shown(options.redisUrl)}`,
    packages: packagesRun(),
  }
}
