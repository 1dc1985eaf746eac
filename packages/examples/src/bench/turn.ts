/**
 * One turn of one system in one process: set up (open the pool), warm up, then, on each signal, run the next
 * slice of the measured calls with a fixed number in flight, and at the end tear down. Between two slices the
 * system sits idle, its connections open, while the other systems of its group run theirs (`rounds.ts`). The
 * same code runs in the bench's own process and in each child process.
 */

import { runConcurrently } from '@getorcreate/test-support'
import type { OpenSystem, SystemContext } from './system.js'
import { sqlState } from './systems/connections.js'
import { systemById } from './systems/index.js'

/** A slice lasts at least this many times the mean latency of the turn's previous slice ({@link TurnSpec.sliceMs}). */
const SLICE_LATENCIES = 50

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
  /**
   * A slice stops starting calls after this long (calls in flight finish), or after 50 times the mean latency of
   * the turn's previous slice where that is longer: a slice's last calls run with fewer in flight, which costs a
   * slow system's rate more in a short slice.
   */
  readonly sliceMs: number
  /**
   * Stop starting new calls once the slices have taken this long in all (calls in flight finish). Infinity:
   * run every call.
   */
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
  /**
   * Per slice run, its first call's start and its last call's end: epoch milliseconds, sub-millisecond
   * precision.
   */
  readonly windows: [number, number][]
  /** CPU (user + system) this process used during the slices, in microseconds. */
  readonly cpuUs: number
  /** The process that ran the calls (its pid). */
  readonly pid: number
}

/** A turn whose system is set up and warm, waiting for its slices ({@link PreparedTurn.slice}). */
export interface PreparedTurn {
  /**
   * Run the next slice of the measured calls (all of them in flight finish before it returns). Returns true
   * when no call is left to run: every call has, or the slices have taken the turn's time.
   */
  slice(): Promise<boolean>
  /** Tear down and report every slice run. */
  finish(): Promise<TurnResult>
  /** Tear down without reporting (when another process or system failed to prepare). */
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
  open.enter?.()
  const { errors: warmErrors } = await runConcurrently(spec.warmup, spec.concurrency, (key) => open.call(key))
  open.leave?.()
  const refused = warmErrors.find(isTooManyConnections)
  if (refused || (spec.warmup.length > 0 && warmErrors.length === spec.warmup.length)) {
    await open.teardown().catch(() => {})
    if (refused) throw new TooManyConnectionsError(describe(refused))
    throw new Error(`${system.name}: every warm-up call failed: ${describe(warmErrors[0])}`)
  }

  const outcomes: [number, number, number][] = []
  const latenciesUs: number[] = []
  const samples = new Set<string>()
  const windows: [number, number][] = []
  let errors = 0
  let tooManyConnections = false
  let cpuUs = 0
  let usedMs = 0
  let next = 0
  let sliceMs = spec.sliceMs
  const finished = () => next >= spec.calls.length || usedMs >= spec.maxMs
  let closing: Promise<void> | undefined
  const close = () => {
    closing ??= open.teardown()
    return closing
  }
  return {
    abort: close,
    async slice() {
      if (finished()) return true
      const offset = next
      const calls = spec.calls.slice(offset)
      const cpu = process.cpuUsage()
      let latencyUs = 0
      open.enter?.()
      const startedAt = now()
      const run = await runConcurrently(calls, spec.concurrency, (key) => open.call(key), {
        maxMs: Math.min(sliceMs, spec.maxMs - usedMs),
        onSettled: (settled) => {
          const us = Math.round((settled.endedAt - settled.startedAt) * 1000)
          latencyUs += us
          latenciesUs.push(us)
          if (settled.ok) {
            outcomes.push([offset + settled.index, settled.value.id ?? -1, settled.value.created ? 1 : 0])
          } else {
            errors++
            if (isTooManyConnections(settled.error)) tooManyConnections = true
            if (samples.size < 3) samples.add(describe(settled.error))
          }
        },
      })
      const endedAt = now()
      open.leave?.()
      const used = process.cpuUsage(cpu)
      cpuUs += used.user + used.system
      usedMs += endedAt - startedAt
      windows.push([startedAt, endedAt])
      next = offset + run.started
      if (run.started > 0) {
        sliceMs = Math.max(spec.sliceMs, (SLICE_LATENCIES * latencyUs) / run.started / 1000)
      }
      return finished()
    },
    async finish() {
      await close()
      return {
        outcomes,
        latenciesUs,
        errors,
        errorSamples: [...samples],
        tooManyConnections,
        windows,
        cpuUs,
        pid: process.pid,
      }
    },
  }
}
