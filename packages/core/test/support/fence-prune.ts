/**
 * The `pruneFences` check every dialect's fences test runs: after a fenced write (a fresh fence row) and a row
 * written an hour ago behind the store's back, pruning rows older than a minute deletes the old one only; and
 * `olderThanMs` that is not a finite, non-negative number is a RangeError.
 */
import type { Fence } from '@getorcreate/core'
import { expect } from 'vitest'

/** What a dialect supplies to {@link checkPruneFences}. */
export interface PruneCase {
  /** Names the lock keys: `lock-<fencesName>-fresh` and `-old`. */
  readonly fencesName: string
  /** A store fenced by that table. */
  readonly store: {
    insertIfAbsentFenced?(key: { slug: string }, values: { slug: string }, fence: Fence): Promise<unknown>
  }
  /** Write a fence row for `lockKey` that no write has raised for an hour, behind the store's back. */
  insertOld(lockKey: string): Promise<void> | void
  /** Which of `lockKeys` have a fence row. */
  present(lockKeys: readonly string[]): Promise<unknown[]> | unknown[]
  /** `pruneFences(db, fences, { olderThanMs })`. */
  prune(olderThanMs: number): Promise<number>
}

/** Run the check (inside a test). */
export async function checkPruneFences(c: PruneCase): Promise<void> {
  const fresh = `lock-${c.fencesName}-fresh`
  const old = `lock-${c.fencesName}-old`
  await c.store.insertIfAbsentFenced!({ slug: 'p' }, { slug: 'p' }, { token: 1, lockKey: fresh })
  await c.insertOld(old)
  expect(await c.prune(60_000)).toBeGreaterThanOrEqual(1)
  expect(await c.present([fresh, old])).toEqual([fresh])
  for (const olderThanMs of [-1, Number.NaN, Number.POSITIVE_INFINITY, '60000' as unknown as number]) {
    await expect(c.prune(olderThanMs)).rejects.toBeInstanceOf(RangeError)
  }
}
