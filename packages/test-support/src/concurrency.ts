/**
 * How the races and the loads are driven: one bounded concurrent runner (a fixed number of calls in flight,
 * errors collected, an optional deadline) and one seeded shuffle (a failing order can be replayed), for the
 * tests, their worker processes, the demo and the bench alike.
 */

/** How one call of {@link runConcurrently} ended, passed to {@link RunOptions.onSettled} as it ends. */
export type Settled<T> = {
  /** The call's index in the items. */
  readonly index: number
  /** When the call started (`performance.now()`). */
  readonly startedAt: number
  /** When it returned or threw (`performance.now()`). */
  readonly endedAt: number
} & (
  | {
      /** It returned. */
      readonly ok: true
      /** What it returned. */
      readonly value: T
    }
  | {
      /** It threw. */
      readonly ok: false
      /** What it threw. */
      readonly error: unknown
    }
)

/** Options of {@link runConcurrently}. */
export interface RunOptions<T> {
  /**
   * Start no call after this many milliseconds from the start (calls in flight finish): a timed run. Default:
   * `Infinity`, every call runs.
   */
  readonly maxMs?: number
  /** Called as each call ends, in the order they end (the place to record latencies or outcomes). */
  readonly onSettled?: (settled: Settled<T>) => void
}

/** What {@link runConcurrently} returns. */
export interface RunResult<T> {
  /** Each call's value, in the order of the items; `undefined` where the call failed or never started. */
  readonly results: (T | undefined)[]
  /** Every error a call threw, in the order they happened: collected, never thrown. */
  readonly errors: unknown[]
  /** How many calls started: all of them, unless `maxMs` stopped the run early. */
  readonly started: number
  /** Milliseconds from the first call's start to the last call's end. */
  readonly ms: number
}

/**
 * Call `call` once per item, with at most `concurrency` calls in flight: as one ends, the next item starts,
 * in the items' order. Errors are collected, not thrown, so a race runs to its end and its invariants can
 * be checked on every caller.
 */
export async function runConcurrently<I, T>(
  items: readonly I[],
  concurrency: number,
  call: (item: I, index: number) => Promise<T>,
  options: RunOptions<T> = {},
): Promise<RunResult<T>> {
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`concurrency must be a whole number of at least 1, got ${concurrency}`)
  }
  const results: (T | undefined)[] = new Array(items.length)
  const errors: unknown[] = []
  const { onSettled, maxMs = Number.POSITIVE_INFINITY } = options
  const started = performance.now()
  const deadline = started + maxMs
  let next = 0
  const lane = async () => {
    while (next < items.length && performance.now() < deadline) {
      const index = next++
      const startedAt = performance.now()
      try {
        const value = await call(items[index]!, index)
        results[index] = value
        onSettled?.({ index, startedAt, endedAt: performance.now(), ok: true, value })
      } catch (error) {
        errors.push(error)
        onSettled?.({ index, startedAt, endedAt: performance.now(), ok: false, error })
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane))
  return { results, errors, started: next, ms: performance.now() - started }
}

/**
 * Shuffle `items` in place (Fisher–Yates) with a generator seeded by `seed`, and return them: the same seed
 * gives the same order, on every machine, so a failing order can be replayed. (A linear congruential
 * generator, `state = state × 1664525 + 1013904223 mod 2^32`: enough to mix calls, not for anything secret.)
 */
export function shuffle<T>(items: T[], seed: number): T[] {
  let state = seed >>> 0
  for (let i = items.length - 1; i > 0; i--) {
    state = (state * 1664525 + 1013904223) >>> 0
    const j = Math.floor((state / 2 ** 32) * (i + 1))
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
  return items
}

/** Every key `callersPerKey` times, the whole list {@link shuffle}d with `seed`: the calls of a race. */
export function shuffledCalls(keys: readonly string[], callersPerKey: number, seed: number): string[] {
  return shuffle(
    keys.flatMap((key) => Array.from({ length: callersPerKey }, () => key)),
    seed,
  )
}

/**
 * Every key `callersPerKey` times, in an order for races: the keys {@link shuffle}d, then cut into blocks of
 * `keysPerBlock` keys whose calls are shuffled within the block. Run a few dozen at a time, a key's callers
 * are in flight together (the race) and later ones find the row (the read path), whatever the list's length.
 */
export function shuffledInBlocks(
  keys: readonly string[],
  callersPerKey: number,
  keysPerBlock: number,
  seed: number,
): string[] {
  const order = shuffle([...keys], seed)
  const calls: string[] = []
  for (let i = 0; i < order.length; i += keysPerBlock) {
    calls.push(...shuffledCalls(order.slice(i, i + keysPerBlock), callersPerKey, seed + i + 1))
  }
  return calls
}
