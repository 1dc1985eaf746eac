/** Time bounds: a command that cannot outlive its timer, and a sleep that an AbortSignal ends. */

/** A command that did not answer within its bound. */
class CommandTimeoutError extends Error {
  constructor(what: string, timeoutMs: number) {
    super(`${what} did not answer within ${timeoutMs} ms`)
    this.name = 'CommandTimeoutError'
  }
}

/**
 * `promise`, or after `timeoutMs` a {@link CommandTimeoutError} for `what` (or the error `what()` makes, when
 * it is a function). The original promise is always observed, so
 * its late rejection is never an unhandled one. `onTimeout` runs when the timer fires first (e.g. so that a
 * command made of several steps sends no further step late).
 */
export function withTimeout<T>(
  promise: Promise<T>,
  timeoutMs: number,
  what: string | (() => Error),
  onTimeout?: () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => {
        onTimeout?.()
        reject(typeof what === 'string' ? new CommandTimeoutError(what, timeoutMs) : what())
      },
      Math.max(1, timeoutMs),
    )
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error)
      },
    )
  })
}

/** The reason of the first aborted signal, or `undefined`. */
export function abortReason(signals: readonly AbortSignal[]): { reason: unknown } | undefined {
  const aborted = signals.find((signal) => signal.aborted)
  return aborted ? { reason: aborted.reason } : undefined
}

/** Wait `ms`, or reject with the reason of the first signal that aborts. */
export function sleep(ms: number, signals: readonly AbortSignal[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const early = abortReason(signals)
    if (early) {
      reject(early.reason)
      return
    }
    const onAbort = (event: Event): void => {
      done()
      reject((event.target as AbortSignal).reason)
    }
    const done = (): void => {
      clearTimeout(timer)
      for (const signal of signals) signal.removeEventListener('abort', onAbort)
    }
    const timer = setTimeout(() => {
      done()
      resolve()
    }, ms)
    for (const signal of signals) signal.addEventListener('abort', onAbort, { once: true })
  })
}

/** `promise`, or a rejection with the reason of the first of `signals` to abort, whichever comes first. */
export function abortable<T>(promise: Promise<T>, signals: readonly AbortSignal[]): Promise<T> {
  if (signals.length === 0) return promise
  return new Promise<T>((resolve, reject) => {
    const early = abortReason(signals)
    if (early) {
      reject(early.reason)
      return
    }
    const onAbort = (event: Event): void => {
      stopListening()
      reject((event.target as AbortSignal).reason)
    }
    const stopListening = (): void => {
      for (const signal of signals) signal.removeEventListener('abort', onAbort)
    }
    for (const signal of signals) signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        stopListening()
        resolve(value)
      },
      (error: unknown) => {
        stopListening()
        reject(error)
      },
    )
  })
}
