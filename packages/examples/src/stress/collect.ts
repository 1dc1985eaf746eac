/**
 * The parent's side of the workers' streams: each `flush` line merged as it arrives (per table, per key;
 * errors and slow calls; calls per second and RSS per worker), then the whole {@link History} for the checker.
 */
import type { ErrorEvent, FaultWindow, History, KeyRecord, SlowCall } from './history.js'
import { emptyKey, mergeKey } from './history.js'
import { FLUSH_PREFIX, MYSQL_PREFIX, type WorkerFlush } from './protocol.js'
import type { TableSpec } from './tables.js'
import { isDeleted } from './workload.js'

/** Everything the workers reported so far. */
export class Collector {
  readonly keys = new Map<string, Map<string, KeyRecord>>()
  readonly errors: ErrorEvent[] = []
  readonly slow: SlowCall[] = []
  /** Per worker: calls ended per whole second (`Date.now() / 1000`). */
  readonly perSecond: Map<number, number>[]
  readonly rss: number[][]
  readonly ended: number[]
  readonly unhandled: string[] = []
  /** The ids of the MariaDB connections the workers opened. */
  readonly mysqlConnections = new Set<number>()

  constructor(workers: number) {
    this.perSecond = Array.from({ length: workers }, () => new Map())
    this.rss = Array.from({ length: workers }, () => [])
    this.ended = Array.from({ length: workers }, () => 0)
  }

  /** Calls ended in all workers. */
  get total(): number {
    return this.ended.reduce((a, b) => a + b, 0)
  }

  /** Take `line` if it is a flush or a MariaDB connection's id (true), else leave it (false): a `startWorker` `onLine`. */
  take(line: string): boolean {
    if (line.startsWith(MYSQL_PREFIX)) {
      this.mysqlConnections.add(Number(line.slice(MYSQL_PREFIX.length)))
      return true
    }
    if (!line.startsWith(FLUSH_PREFIX)) return false
    const flush = JSON.parse(line.slice(FLUSH_PREFIX.length)) as WorkerFlush
    for (const [table, records] of Object.entries(flush.keys)) {
      let merged = this.keys.get(table)
      if (!merged) {
        merged = new Map()
        this.keys.set(table, merged)
      }
      for (const [key, record] of Object.entries(records)) {
        let into = merged.get(key)
        if (!into) {
          into = emptyKey()
          merged.set(key, into)
        }
        mergeKey(into, record)
      }
    }
    this.errors.push(...flush.errors)
    this.slow.push(...flush.slow)
    const seconds = this.perSecond[flush.worker]!
    for (const [second, count] of Object.entries(flush.perSecond)) {
      seconds.set(Number(second), (seconds.get(Number(second)) ?? 0) + count)
    }
    this.rss[flush.worker]!.push(flush.rss)
    this.ended[flush.worker] = flush.ended
    return true
  }

  /** The history, with the tables' row counts and the faults as injected. */
  history(
    tables: readonly TableSpec[],
    rows: ReadonlyMap<string, ReadonlyMap<string, number>>,
    faults: readonly FaultWindow[],
  ): History {
    return {
      tables: tables.map((spec) => ({
        name: spec.name,
        services: spec.services,
        keys: this.keys.get(spec.name) ?? new Map(),
        rows: rows.get(spec.name) ?? new Map(),
        deleted: isDeleted,
      })),
      errors: this.errors,
      slow: this.slow,
      faults,
      unhandled: this.unhandled,
      rss: this.rss,
    }
  }
}
