/**
 * Where each worker runs and how it reaches the services: the one place that decides a worker's command
 * prefix and its service URLs. Today every worker is a plain process on this machine reaching the services on
 * 127.0.0.1 ({@link plainNetwork}). A network of namespaces (one per worker, joined to the services by a
 * forwarder; netns.ts, planned) fits the same {@link Network} shape: its `workers[i].host` replaces the
 * host of every URL and its `prefix` goes before `node`.
 */
import type { ServiceUrls } from './protocol.js'

/** The workers' network: as planned for netns.ts (`setUpNetwork`). */
export interface Network {
  /** False when the run uses plain processes; `reason` says why. */
  readonly available: boolean
  readonly reason?: string
  /** Per worker: the argv prefix that runs a process in its place, and the host it reaches services on. */
  readonly workers: readonly { readonly prefix: readonly string[]; readonly host: string }[]
  /** Cut worker `worker`'s link for `ms` (a no-op without namespaces). */
  cut(worker: number, ms: number): Promise<void>
  teardown(): Promise<void>
}

/** Plain processes on this machine, services on 127.0.0.1. */
export function plainNetwork(workers: number, reason: string): Network {
  return {
    available: false,
    reason,
    workers: Array.from({ length: workers }, () => ({ prefix: [], host: '127.0.0.1' })),
    cut: async () => {},
    teardown: async () => {},
  }
}

/** `url` with its host replaced by `host` (port, credentials and path kept). */
function onHost(url: string, host: string): string {
  const parsed = new URL(url)
  parsed.hostname = host
  return parsed.toString()
}

/** The service URLs a worker on `host` uses. */
export function servicesFor(services: ServiceUrls, host: string): ServiceUrls {
  if (host === '127.0.0.1') return services
  return {
    databaseUrl: onHost(services.databaseUrl, host),
    mysqlUrl: onHost(services.mysqlUrl, host),
    sqliteFile: services.sqliteFile,
    redisUrls: services.redisUrls.map((url) => onHost(url, host)),
  }
}
