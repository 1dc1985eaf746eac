/**
 * Where each worker runs and how it reaches the services: the one place that decides a worker's command
 * prefix and its service URLs. A {@link Network} is either one of network namespaces (netns.ts,
 * `setUpNetwork`: one namespace per worker, joined to the services by a veth pair and a forwarder) or plain
 * processes on this machine reaching the services on 127.0.0.1 ({@link plainNetwork}); the run treats both
 * alike: `workers[i].host` replaces the host of every URL and `prefix` goes before `node`.
 */
import { NetnsError } from './netns-ip.js'
import type { ServiceUrls } from './protocol.js'

/** How to start one worker and where it finds the services. */
export interface NetworkWorker {
  /**
   * The argv prefix that runs a process in the worker's namespace (`['ip', 'netns', 'exec', name]`; the
   * process keeps the environment, HOME and PATH included, and the working directory); `[]` for plain processes.
   */
  readonly prefix: readonly string[]
  /** The address the worker connects to for every service: the root side of its veth (`127.0.0.1` for plain processes). */
  readonly host: string
}

/** What came through one worker's link: the addresses connections came from, and connections per service. */
export interface WorkerConnections {
  readonly from: readonly string[]
  readonly perService: Readonly<Record<string, number>>
}

/** A run's network: namespaces (`setUpNetwork` in netns.ts) or plain processes ({@link plainNetwork}). */
export interface Network {
  /** True when the workers have namespaces of their own; false when they run as plain processes. */
  readonly available: boolean
  /** Why the workers run as plain processes (what the run prints); undefined when they have namespaces. */
  readonly reason?: string
  /** One per worker, in order. */
  readonly workers: readonly NetworkWorker[]
  /**
   * Takes worker `worker`'s link down (the root side of its veth: nothing passes either way, and nothing is
   * answered, as when a cable is pulled), waits `ms`, and brings it up again. Connections open through it stall
   * and, as TCP retransmits, carry on after; new ones wait for their SYN to be answered. Overlapping cuts of
   * one link keep it down until the last ends. Rejects with NETNS_UNAVAILABLE on plain processes,
   * NETNS_NO_SUCH_LINK after teardown or for a worker that does not exist.
   */
  cut(worker: number, ms: number): Promise<void>
  /** Per worker: the connections the forwarder took on its link so far (none for plain processes). */
  connections(): readonly WorkerConnections[]
  /**
   * Stops the forwarder (resetting its connections), deletes every veth and namespace of the run, and checks
   * that none is left (NETNS_TEARDOWN_INCOMPLETE). Calling it again returns the same promise.
   */
  teardown(): Promise<void>
}

/** Plain processes on this machine, services on 127.0.0.1; `reason` says why there are no namespaces. */
export function plainNetwork(workers: number, reason: string): Network {
  const noLink = () =>
    Promise.reject(
      new NetnsError(
        'NETNS_UNAVAILABLE',
        `there are no links to cut: the workers run as plain processes (${reason})`,
      ),
    )
  return {
    available: false,
    reason,
    workers: Array.from({ length: workers }, () => ({ prefix: [], host: '127.0.0.1' })),
    cut: noLink,
    connections: () => Array.from({ length: workers }, () => ({ from: [], perService: {} })),
    teardown: () => Promise.resolve(),
  }
}

/** One line on where the workers ran, for the console and the report. */
export function describeNetwork(network: Network): string {
  return network.available
    ? 'one network namespace per worker (a veth pair each, a forwarder to the services on 127.0.0.1)'
    : `plain processes (${network.reason ?? 'no reason given'})`
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
