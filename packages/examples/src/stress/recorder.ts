/**
 * The caller side of a stress run, shared by the workers and the checker's tests: {@link Recorder} times each
 * call, counts what it returned into its key's record, keeps errors and slow calls one by one, and hands
 * everything over in flushes (so a worker's memory holds only the keys since the last flush).
 */
import { performance } from 'node:perf_hooks'
import {
  type ErrorEvent,
  emptyKey,
  errorKind,
  errorMessage,
  type KeyRecord,
  recordRow,
  type SlowCall,
} from './history.js'

/** What one call returns: the row's id and whether this call created it. */
export interface CallResult {
  readonly id: number | string
  readonly created: boolean
}

/** What {@link Recorder.flush} hands over. */
export interface Flush {
  /** Per table, per key. */
  readonly keys: Record<string, Record<string, KeyRecord>>
  readonly errors: ErrorEvent[]
  readonly slow: SlowCall[]
  /** Calls ended per whole second (`Math.floor(Date.now() / 1000)`), since the last flush. */
  readonly perSecond: Record<string, number>
}

/** Counts the calls of one worker; see the module's comment. */
export class Recorder {
  readonly #worker: number
  #keys = new Map<string, Map<string, KeyRecord>>()
  #errors: ErrorEvent[] = []
  #slow: SlowCall[] = []
  #perSecond = new Map<number, number>()
  readonly #inFlight = new Map<number, Omit<SlowCall, 'end'>>()
  #next = 0
  /** Calls ended so far (returned or thrown), in all. */
  ended = 0

  constructor(worker: number) {
    this.#worker = worker
  }

  #record(table: string, key: string): KeyRecord {
    let keys = this.#keys.get(table)
    if (!keys) {
      keys = new Map()
      this.#keys.set(table, keys)
    }
    let record = keys.get(key)
    if (!record) {
      record = emptyKey()
      keys.set(key, record)
    }
    return record
  }

  /** Run `call` for `key` of `table`, timed and counted; never throws. */
  async run(
    table: string,
    key: string,
    boundMs: number,
    call: () => Promise<CallResult>,
    via?: string,
  ): Promise<void> {
    const id = this.#next++
    const start = Date.now()
    const t0 = performance.now()
    const where = via === undefined ? {} : { via }
    this.#inFlight.set(id, { table, key, worker: this.#worker, start, boundMs, ...where })
    try {
      const result = await call()
      recordRow(this.#record(table, key), result.id, result.created)
    } catch (error) {
      this.#record(table, key).errors += 1
      this.#errors.push({
        table,
        key,
        worker: this.#worker,
        ...where,
        kind: errorKind(error),
        message: errorMessage(error),
        start,
        end: Date.now(),
      })
    } finally {
      this.#inFlight.delete(id)
      const took = performance.now() - t0
      const end = start + Math.round(took)
      if (took > boundMs) this.#slow.push({ table, key, worker: this.#worker, start, end, boundMs, ...where })
      this.ended += 1
      const second = Math.floor(end / 1000)
      this.#perSecond.set(second, (this.#perSecond.get(second) ?? 0) + 1)
    }
  }

  /** Calls still in flight, as slow calls that never ended (for a worker that gives up waiting); how many. */
  abandon(): number {
    const count = this.#inFlight.size
    for (const call of this.#inFlight.values()) this.#slow.push({ ...call, end: undefined })
    this.#inFlight.clear()
    return count
  }

  /** Everything since the last flush, and forget it. */
  flush(): Flush {
    const keys: Record<string, Record<string, KeyRecord>> = {}
    for (const [table, records] of this.#keys) keys[table] = Object.fromEntries(records)
    const flushed: Flush = {
      keys,
      errors: this.#errors,
      slow: this.#slow,
      perSecond: Object.fromEntries(this.#perSecond),
    }
    this.#keys = new Map()
    this.#errors = []
    this.#slow = []
    this.#perSecond = new Map()
    return flushed
  }
}
