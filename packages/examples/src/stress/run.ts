/**
 * One stress run: the run's tables and 5 Redis nodes, N worker processes racing on one key space, the delete
 * loop on the deleted range, the fault schedule; then the rows counted and the whole history checked. Each
 * worker runs in a network namespace of its own where the machine allows it (network.ts), else as a plain
 * process. Everything the run made (namespaces, tables, nodes, the SQLite directory) is removed at the end,
 * whatever fails.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { setTimeout as delay } from 'node:timers/promises'
import {
  READY,
  resultOf,
  runTag,
  SQLITE_DIR_PREFIX,
  scratchName,
  startWorker,
  type Worker,
} from '@getorcreate/test-support'
import { type RedisNode, startRedisNodes } from '@getorcreate/test-support/redis-nodes'
import mysql from 'mysql2/promise'
import postgres from 'postgres'
import { check, type Verdict } from './checker.js'
import { Collector } from './collect.js'
import { runFaults } from './faults.js'
import type { FaultWindow } from './history.js'
import { setUpNetwork } from './netns.js'
import { NetnsError } from './netns-ip.js'
import {
  describeNetwork,
  type Network,
  plainNetwork,
  servicesFor,
  type WorkerConnections,
} from './network.js'
import type { StressOptions } from './options.js'
import type { StressJob, WorkerSummary } from './protocol.js'
import { describePlan, type PlannedFault, planFaults, workerWindows } from './schedule.js'
import {
  type Admin,
  countRows,
  createTables,
  deleteRange,
  dropTables,
  openDeleteLoopSqlite,
  type TableSpec,
  tableSpecs,
} from './tables.js'

/** What a run measured and the checker's verdict. */
export interface StressResult {
  readonly options: Omit<StressOptions, 'calls'> & { readonly calls: number | null }
  readonly plan: readonly string[]
  readonly faults: readonly FaultWindow[]
  readonly verdict: Verdict
  readonly calls: number
  readonly seconds: number
  /** `go`, `Date.now()` ms: the time axis's zero. */
  readonly epoch: number
  /** Per worker: calls ended per second after `go` (`[second, calls]`). */
  readonly throughput: readonly (readonly [number, number][])[]
  readonly rssMb: readonly (readonly number[])[]
  /** Where the workers ran: one namespace each, or plain processes and why. */
  readonly network: string
  /** Per worker: the connections its link carried to the services (none for plain processes). */
  readonly connections: readonly WorkerConnections[]
  /**
   * The run's own process's event-loop delay while the workers ran, ms (p99, max): with namespaces this
   * process forwards every connection of every worker, so a stall here is a stall of all their traffic.
   */
  readonly runLoopDelayMs: { readonly p99: number; readonly max: number }
  readonly tables: readonly { name: string; dialect: string; strategy: string }[]
}

/** What a run tells its caller as it goes. */
export interface StressHooks {
  /** The fault schedule, one line per fault, before the workers start. */
  readonly onPlan?: (lines: readonly string[]) => void
  /** Where the workers run (a line), once the network is set up, before the plan. */
  readonly onNetwork?: (line: string) => void
  /** Every second: calls ended so far, and seconds left before the workers stop starting calls. */
  readonly onProgress?: (calls: number, secondsLeft: number) => void
}

function job(options: StressOptions, worker: number, shared: Omit<StressJob, 'worker'>): StressJob {
  return { ...shared, worker, seed: options.seed }
}

async function deleteLoop(admin: Admin, tables: readonly TableSpec[], stop: () => boolean): Promise<void> {
  const lite = tables.some((t) => t.dialect === 'sqlite') ? openDeleteLoopSqlite(admin.sqliteFile) : undefined
  try {
    while (!stop()) {
      for (const spec of tables) await deleteRange(admin, spec, lite).catch(() => {})
      await delay(100)
    }
  } finally {
    lite?.close()
  }
}

/** What makes a run fall back to plain processes rather than fail: the machine's state, not the run's options. */
const FALLBACK_CODES: ReadonlySet<string> = new Set(['NETNS_NO_FREE_SUBNET', 'NETNS_COMMAND_FAILED'])

/**
 * The workers' network: a namespace each where the machine allows it (its reason otherwise), plain processes
 * with `--no-netns`. Services: Postgres, MariaDB and the run's Redis nodes, each on 127.0.0.1 at its port.
 */
async function workersNetwork(options: StressOptions, nodes: readonly RedisNode[]): Promise<Network> {
  if (!options.netns) return plainNetwork(options.procs, '--no-netns')
  const port = (url: string, fallback: number) => Number(new URL(url).port || fallback)
  const services = [
    { name: 'postgres', port: port(options.databaseUrl, 5432) },
    { name: 'mariadb', port: port(options.mysqlUrl, 3306) },
    ...nodes.map((node, i) => ({ name: `redis ${i}`, port: node.port })),
  ]
  try {
    return await setUpNetwork({ workers: options.procs, services, tag: randomBytes(4).toString('hex') })
  } catch (error) {
    if (!(error instanceof NetnsError && FALLBACK_CODES.has(error.code))) throw error
    return plainNetwork(options.procs, `network namespaces could not be set up: ${error.message}`)
  }
}

/** Run the stress test described by `options`. */
export async function runStress(options: StressOptions, hooks: StressHooks = {}): Promise<StressResult> {
  const tag = runTag()
  const base = scratchName('stress')
  const applicationName = `getorcreate-stress-${tag}`
  const dir = await mkdtemp(join(tmpdir(), `${SQLITE_DIR_PREFIX}-${base}-`))
  const admin: Admin = {
    pg: postgres(options.databaseUrl, { max: 2, onnotice: () => {} }),
    mysql: mysql.createPool({ uri: options.mysqlUrl, connectionLimit: 2 }),
    sqliteFile: join(dir, 'stress.db'),
  }
  const specs = tableSpecs(base, options.dialects)
  const created: TableSpec[] = []
  let nodes: RedisNode[] = []
  let workers: Worker[] = []
  let network: Network | undefined
  try {
    nodes = await startRedisNodes(5)
    network = await workersNetwork(options, nodes)
    hooks.onNetwork?.(describeNetwork(network))
    await createTables(admin, specs, created)
    const plan: PlannedFault[] = options.faults
      ? planFaults({ ...options, redis: true, links: network.available })
      : []
    hooks.onPlan?.(describePlan(plan))
    const collector = new Collector(options.procs)
    const shared: Omit<StressJob, 'worker'> = {
      seed: options.seed,
      applicationName,
      services: {
        databaseUrl: options.databaseUrl,
        mysqlUrl: options.mysqlUrl,
        sqliteFile: admin.sqliteFile,
        redisUrls: nodes.map((node) => node.url),
      },
      tables: specs,
      durationMs: options.durationMs,
      calls: Number.isFinite(options.calls)
        ? Math.ceil(options.calls / options.procs)
        : Number.MAX_SAFE_INTEGER,
      concurrency: options.concurrency,
      pool: options.pool,
      ttlMs: options.ttlMs,
      acquireTimeoutMs: options.acquireTimeoutMs,
      slowDefaultsMs: options.slowDefaultsMs,
      windows: workerWindows(plan),
      // A call's bound: the drivers' connect timeout (10 s) twice over for the constraint strategy; the lock's
      // acquire timeout, slow defaults and as much again for the lock strategy. Generous: the machine is shared.
      bounds: { constraint: 30_000, lock: options.acquireTimeoutMs + options.slowDefaultsMs + 20_000 },
      sizes: options.sizes,
    }
    const timeoutMs = options.durationMs + 180_000
    workers = network.workers.map((place, i) =>
      startWorker(
        new URL('./worker.ts', import.meta.url),
        { ...job(options, i, shared), services: servicesFor(shared.services, place.host) },
        { prefix: place.prefix, timeoutMs, onLine: (line) => collector.take(line) },
      ),
    )
    await Promise.all(workers.map((worker) => worker.printed(READY)))
    const loopDelay = monitorEventLoopDelay({ resolution: 10 })
    loopDelay.enable()
    const epoch = Date.now()
    for (const worker of workers) worker.go()
    let done = false
    const ended = new AbortController()
    const deleting = deleteLoop(admin, specs, () => done)
    const faulting = runFaults(
      plan,
      {
        admin,
        mysqlConnections: () => collector.mysqlConnections,
        applicationName,
        nodes,
        workers,
        network,
        epoch,
      },
      ended.signal,
    )
    const ticker = setInterval(
      () =>
        hooks.onProgress?.(collector.total, Math.max(0, (epoch + options.durationMs - Date.now()) / 1000)),
      1_000,
    )
    let outputs: string[]
    try {
      outputs = await Promise.all(workers.map((worker) => worker.done))
    } finally {
      clearInterval(ticker)
      loopDelay.disable()
      done = true
      ended.abort()
    }
    const seconds = (Date.now() - epoch) / 1000
    const faults = await faulting
    await deleting
    outputs.forEach((output, i) => {
      const summary = resultOf<WorkerSummary>(output, `stress worker ${i}`)
      collector.unhandled.push(...summary.unhandled)
    })
    const rows = new Map<string, Map<string, number>>()
    for (const spec of specs) rows.set(spec.name, await countRows(admin, spec))
    const verdict = check(collector.history(specs, rows, faults))
    const startSecond = Math.floor(epoch / 1000)
    return {
      options: { ...options, calls: Number.isFinite(options.calls) ? options.calls : null },
      plan: describePlan(plan),
      faults,
      verdict,
      calls: verdict.counts.calls + verdict.counts.errors,
      seconds,
      epoch,
      throughput: collector.perSecond.map((perSecond) =>
        [...perSecond]
          .map(([second, calls]): [number, number] => [second - startSecond, calls])
          .sort((a, b) => a[0] - b[0]),
      ),
      rssMb: collector.rss.map((samples) => samples.map((rss) => Math.round(rss / 2 ** 20))),
      network: describeNetwork(network),
      connections: network.connections(),
      runLoopDelayMs: {
        p99: Math.round(loopDelay.percentile(99) / 1e6),
        max: Math.round(loopDelay.max / 1e6),
      },
      tables: specs.map(({ name, dialect, strategy }) => ({ name, dialect, strategy })),
    }
  } finally {
    await Promise.all(workers.map((worker) => worker.kill()))
    // The namespaces go first: a failure below must not leave them (the exit hook would, as a last resort).
    await network?.teardown()
    await Promise.all(nodes.map((node) => node.stop()))
    await dropTables(admin, created)
    await admin.pg.end({ timeout: 5 })
    await admin.mysql.end()
    await rm(dir, { recursive: true, force: true })
  }
}
