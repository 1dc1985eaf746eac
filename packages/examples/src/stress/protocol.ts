/**
 * What the parent tells a stress worker (its job, one JSON argument) and what a worker prints back: `flush
 * <JSON>` lines (a {@link WorkerFlush}) every second, then its `result` line ({@link WorkerSummary}).
 */
import type { Flush } from './recorder.js'
import type { TableSpec } from './tables.js'

/** A window in which the workers themselves change what they do (ms after `go`). */
export interface WorkerWindow {
  /** `statement-timeout`: the Postgres calls go to sessions with a 5 ms statement_timeout; `slow-defaults`:
   * the defaults function sleeps {@link StressJob.slowDefaultsMs} first. */
  readonly kind: 'statement-timeout' | 'slow-defaults'
  readonly start: number
  readonly end: number
}

/** Where a worker finds the services (the one place a network namespace would change them). */
export interface ServiceUrls {
  readonly databaseUrl: string
  readonly mysqlUrl: string
  readonly sqliteFile: string
  readonly redisUrls: readonly string[]
}

/** A worker's job. */
export interface StressJob {
  readonly worker: number
  readonly seed: number
  /** The Postgres application_name of its sessions (the run's tag: what the terminate waves look for). */
  readonly applicationName: string
  readonly services: ServiceUrls
  readonly tables: readonly TableSpec[]
  /** Stop starting calls this long after `go`, or after this many calls. */
  readonly durationMs: number
  readonly calls: number
  readonly concurrency: number
  /** Connections per pool (postgres.js, node-postgres, mysql2). */
  readonly pool: number
  readonly ttlMs: number
  readonly acquireTimeoutMs: number
  readonly slowDefaultsMs: number
  readonly windows: readonly WorkerWindow[]
  /** Per table strategy: the bound of one call in ms, beyond which it is a hang. */
  readonly bounds: { readonly constraint: number; readonly lock: number }
  readonly sizes: StressSizes
}

/** The key space: hot keys every block asks for, fresh keys per block, the deleted range. */
export interface StressSizes {
  readonly hotKeys: number
  readonly hotCalls: number
  readonly freshKeys: number
  readonly callersPerFreshKey: number
  readonly deletedKeys: number
  readonly deletedCalls: number
}

/** One flush line: the recorder's flush plus the worker's RSS now. */
export interface WorkerFlush extends Flush {
  readonly worker: number
  readonly rss: number
  readonly ended: number
}

/** A worker's last word. */
export interface WorkerSummary {
  readonly unhandled: readonly string[]
  readonly abandoned: number
}

/** The prefix of a flush line. */
export const FLUSH_PREFIX = 'flush '

/** The prefix of the line that gives the id of a MariaDB connection a worker opened. */
export const MYSQL_PREFIX = 'mysql-connection '
