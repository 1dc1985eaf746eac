/**
 * The key space of a stress run, block by block: hot keys every block asks for (skewed: a few are asked for
 * far more than the rest), fresh keys each block adds, asked for by several callers of every worker (the
 * same names in every worker, so the processes race on them), and the deleted range that the parent's delete
 * loop keeps emptying. The order within a block is a seeded shuffle, different per worker.
 */
import { shuffle } from '@getorcreate/test-support'
import type { StressSizes } from './protocol.js'
import { DELETED_PREFIX } from './tables.js'

/** A generator of numbers in [0, 1) seeded by `seed` (the shuffle's LCG). */
export function seeded(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0
    return state / 2 ** 32
  }
}

/** The keys of block `block` of table `table`, in worker `worker`'s order. */
export function blockCalls(
  sizes: StressSizes,
  table: number,
  block: number,
  seed: number,
  worker: number,
): string[] {
  const random = seeded(seed * 7919 + block * 104_729 + table * 613 + worker)
  const calls: string[] = []
  for (let i = 0; i < sizes.hotCalls; i++) {
    // r² skews towards the first keys: key 0 is asked for most.
    calls.push(`h${Math.floor(random() ** 2 * sizes.hotKeys)}`)
  }
  for (let i = 0; i < sizes.freshKeys; i++) {
    for (let c = 0; c < sizes.callersPerFreshKey; c++) calls.push(`f${block}_${i}`)
  }
  for (let i = 0; i < sizes.deletedCalls; i++) {
    calls.push(`${DELETED_PREFIX}${Math.floor(random() * sizes.deletedKeys)}`)
  }
  return shuffle(calls, seed + block * 31 + table * 7 + worker * 1_000_003)
}

/** Whether `key` is in the deleted range. */
export function isDeleted(key: string): boolean {
  return key.startsWith(DELETED_PREFIX)
}
