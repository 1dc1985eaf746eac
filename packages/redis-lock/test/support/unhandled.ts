import { setTimeout as delay } from 'node:timers/promises'
import { afterEach, beforeEach, expect } from 'vitest'

/**
 * Fail the test during which a promise rejection went unhandled (a release left running after a call
 * returned, a timer firing late), pinned to that test; `settleMs` gives late ones time to surface.
 */
export function failOnUnhandledRejections(settleMs: number): void {
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason)
  }
  beforeEach(() => {
    unhandled.length = 0
    process.on('unhandledRejection', onUnhandled)
  })
  afterEach(async () => {
    await delay(settleMs)
    process.off('unhandledRejection', onUnhandled)
    expect(unhandled).toEqual([])
  })
}
