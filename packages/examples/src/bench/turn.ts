/**
 * One turn of one system in one process: set up (open the pool), warm up, then, on a signal, run the
 * measured calls with a fixed number in flight, and tear down. The same code runs in the bench's own process
 * and in each `--procs` child.
 */

import { runConcurrently } from '@getorcreate/test-support'
import type { OpenSystem, SystemContext } from './system.js'
import { sqlState } from './systems/connections.js'
import { systemById } from './systems/index.js'

/** What a process is asked to run. */
export interface TurnSpec {
  readonly systemId: string
  readonly ctx: SystemContext
  /** Warm-up calls (not measured, not counted). */
  readonly warmup: readonly string[]
  /** The measured calls, in order. */
  readonly calls: readonly string[]
  /** Calls in flight at once in this process. */
  readonly concurrency: number
  /** Stop starting new calls after this long (calls in flight finish). Infinity: run every call. */
  readonly maxMs: number
}

/** What a process measured: compact, so it travels between processes as JSON. */
export interface TurnResult {
  /** Per finished call: [index into `calls`, id (-1: no id), created (1/0)]. */
  readonly outcomes: [number, number, number][]
  /** Per finished call (errors too), its latency in microseconds. */
  readonly latenciesUs: number[]
  readonly errors: number
  /** Up to three distinct error messages. */
  readonly errorSamples: string[]
  /** True when Postgres refused a connection (SQLSTATE 53300: too many clients). */
  readonly tooManyConnections: boolean
  /** Start and end of the measured calls: epoch milliseconds, sub-millisecond precision. */
  readonly startedAt: number
  readonly endedAt: number
  /** CPU (user + system) this process used during the measured calls, in microseconds. */
  readonly cpuUs: number
}

/** A turn whose system is set up and warm, waiting for {@link PreparedTurn.run}. */
export interface PreparedTurn {
  /** Run the measured calls, tear down, and report. */
  run(): Promise<TurnResult>
  /** Tear down without running (when another process failed to prepare). */
  abort(): Promise<void>
}

function now(): number {
  return performance.timeOrigin + performance.now()
}

function describe(error: unknown): string {
  const state = sqlState(error)
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return (state ? `[${state}] ${message}` : message).slice(0, 300)
}

function isTooManyConnections(error: unknown): boolean {
  return sqlState(error) === '53300' || /too many (clients|connections)/i.test(describe(error))
}

/** Error raised by {@link prepareTurn} when Postgres has no connection left for the pool. */
export class TooManyConnectionsError extends Error {
  /** @param detail - the database's own message. */
  constructor(detail: string) {
    super(`Postgres refused a connection: too many clients already (${detail}).`)
    this.name = 'TooManyConnectionsError'
  }
}

/**
 * Set up the system and run the warm-up calls. A warm-up that fails on every call (a broken set-up) or
 * hits "too many clients" throws, having torn the system down.
 */
export async function prepareTurn(spec: TurnSpec): Promise<PreparedTurn> {
  const system = systemById(spec.systemId)
  let open: OpenSystem
  try {
    open = await system.setup(spec.ctx)
  } catch (error) {
    if (isTooManyConnections(error)) throw new TooManyConnectionsError(describe(error))
    throw error
  }
  const { errors: warmErrors } = await runConcurrently(spec.warmup, spec.concurrency, (key) => open.call(key))
  const refused = warmErrors.find(isTooManyConnections)
  if (refused || (spec.warmup.length > 0 && warmErrors.length === spec.warmup.length)) {
    await open.teardown().catch(() => {})
    if (refused) throw new TooManyConnectionsError(describe(refused))
    throw new Error(`${system.name}: every warm-up call failed: ${describe(warmErrors[0])}`)
  }

  return {
    async abort() {
      await open.teardown()
    },
    async run() {
      const outcomes: [number, number, number][] = []
      const latenciesUs: number[] = []
      const samples = new Set<string>()
      let errors = 0
      let tooManyConnections = false
      const cpu = process.cpuUsage()
      const startedAt = now()
      try {
        await runConcurrently(spec.calls, spec.concurrency, (key) => open.call(key), {
          maxMs: spec.maxMs,
          onSettled: (settled) => {
            latenciesUs.push(Math.round((settled.endedAt - settled.startedAt) * 1000))
            if (settled.ok) {
              outcomes.push([settled.index, settled.value.id ?? -1, settled.value.created ? 1 : 0])
            } else {
              errors++
              if (isTooManyConnections(settled.error)) tooManyConnections = true
              if (samples.size < 3) samples.add(describe(settled.error))
            }
          },
        })
      } catch (error) {
        await open.teardown().catch(() => {})
        throw error
      }
      const endedAt = now()
      const used = process.cpuUsage(cpu)
      await open.teardown()
      return {
        outcomes,
        latenciesUs,
        errors,
        errorSamples: [...samples],
        tooManyConnections,
        startedAt,
        endedAt,
        cpuUs: used.user + used.system,
      }
    },
  }
}
