/**
 * The history of a stress run, as the workers stream it and the checker reads it: what the callers of each
 * key saw, aggregated per key (calls, `created: true` count, the distinct ids), and, one by one, the few calls
 * that stand out (errors, calls slower than their bound), with when they started and ended. A million calls
 * need one small record per key, not one object per call.
 */

/** What the callers of one key, in one table, saw: merged across workers and flushes by {@link mergeKey}. */
export interface KeyRecord {
  /** Calls that returned a row. */
  calls: number
  /** Calls told `created: true`. */
  created: number
  /** The distinct ids returned (at most {@link MAX_IDS} kept: more already proves a split). */
  ids: (number | string)[]
  /** Calls that threw. */
  errors: number
}

/** More distinct ids than this are not kept: two already make a violation. */
const MAX_IDS = 4

/** An empty record. */
export function emptyKey(): KeyRecord {
  return { calls: 0, created: 0, ids: [], errors: 0 }
}

/** Count one call that returned `id` into `record`. */
export function recordRow(record: KeyRecord, id: number | string, created: boolean): void {
  record.calls += 1
  if (created) record.created += 1
  if (!record.ids.includes(id) && record.ids.length < MAX_IDS) record.ids.push(id)
}

/** Merge `from` into `into` (per-key records of two workers, or two flushes of one). */
export function mergeKey(into: KeyRecord, from: KeyRecord): void {
  into.calls += from.calls
  into.created += from.created
  into.errors += from.errors
  for (const id of from.ids) if (!into.ids.includes(id) && into.ids.length < MAX_IDS) into.ids.push(id)
}

/**
 * What an error was: one of the library's stable codes (`LOCK_UNAVAILABLE`), or `raw:<what>` for any other
 * error (a driver's, named by its `code` or class: `raw:57P01`, `raw:ECONNRESET`, `raw:Error`).
 */
export function errorKind(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const brand = (error as Record<symbol, unknown>)[Symbol.for('getorcreate.error')]
    const code = (error as { code?: unknown }).code
    if (brand === true && typeof code === 'string') return code
    // An ORM's wrapper (drizzle's `Failed query`) keeps the driver's error as its cause.
    for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
      const inner = (e as { code?: unknown }).code
      if (typeof inner === 'string' || typeof inner === 'number') return `raw:${inner}`
      e = (e as { cause?: unknown }).cause
    }
    if (error instanceof Error) return `raw:${error.name}`
  }
  return 'raw:unknown'
}

/**
 * The first line of `error`'s message, and of its cause's (an ORM's wrapper says little by itself); for a
 * programming error (`TypeError`, `RangeError`, `ReferenceError`), where it was thrown too: whose bug it is.
 */
export function errorMessage(error: unknown): string {
  const first = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? ''
  const cause = error instanceof Error && error.cause !== undefined ? ` (cause: ${first(error.cause)})` : ''
  const programming =
    error instanceof TypeError || error instanceof RangeError || error instanceof ReferenceError
  const frame = programming ? (error.stack?.split('\n').find((line) => /^\s+at /.test(line)) ?? '') : ''
  const at = frame ? ` [${frame.trim()}]` : ''
  return `${first(error)}${cause}${at}`.slice(0, 500)
}

/** One call that threw. */
export interface ErrorEvent {
  readonly table: string
  readonly key: string
  /** The worker it ran in (0-based). */
  readonly worker: number
  /** The driver (and sessions) it went through, where the table has several. */
  readonly via?: string
  /** See {@link errorKind}. */
  readonly kind: string
  /** The first line of its message (for the report). */
  readonly message: string
  /** When it started and ended, `Date.now()` ms (the processes share the machine's clock). */
  readonly start: number
  readonly end: number
}

/** One call that took longer than its bound (it may have returned or thrown), or that never ended. */
export interface SlowCall {
  readonly table: string
  readonly key: string
  readonly worker: number
  /** The driver (and sessions) it went through, where the table has several. */
  readonly via?: string
  readonly start: number
  /** When it ended; `undefined` when the worker stopped waiting for it. */
  readonly end: number | undefined
  readonly boundMs: number
}

/** A fault the run injected: what, where, and its window (`Date.now()` ms). */
export interface FaultWindow {
  /** E.g. `pg-terminate`, `redis-kill-2`, `worker-stop`. */
  readonly kind: string
  /**
   * What it hits: `pg`, `mysql`, `sqlite`, `redis` (the lock tables), `worker:<n>` (one worker, every call), or
   * `worker:<n>:<service>` (one worker's calls on tables on that service: a cut of its link).
   */
  readonly affects: readonly string[]
  readonly start: number
  /** When its effects may last until (the fault's end plus a grace for reconnects). */
  readonly end: number
  /** A short description for the report. */
  readonly detail: string
}

/** A stress run's history: everything the checker judges. */
export interface History {
  readonly tables: readonly TableHistory[]
  readonly errors: readonly ErrorEvent[]
  readonly slow: readonly SlowCall[]
  readonly faults: readonly FaultWindow[]
  /** Unhandled rejections and uncaught exceptions, per worker, with their messages. */
  readonly unhandled: readonly string[]
  /** RSS samples per worker, in bytes, in time order. */
  readonly rss: readonly (readonly number[])[]
}

/** One table's part of the history. */
export interface TableHistory {
  readonly name: string
  /** The service it lives on (`pg`, `mysql`, `sqlite`) and, for the lock strategy, also `redis`. */
  readonly services: readonly string[]
  /** Per key: what its callers saw. */
  readonly keys: ReadonlyMap<string, KeyRecord>
  /** Per key: rows in the table at the end, counted in the table itself. */
  readonly rows: ReadonlyMap<string, number>
  /** Whether a key is in the deleted range (rows deleted while callers run: 0 or 1 row, ids may change). */
  readonly deleted: (key: string) => boolean
}
