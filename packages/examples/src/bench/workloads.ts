/** The four workloads: which keys each turn asks for, in which order, and which keys exist beforehand. */
import { shuffledCalls } from '@getorcreate/test-support'
import type { WorkloadId } from './system.js'

/** Sizes of the workloads. */
export interface WorkloadSizes {
  /** Miss storm and burst: fresh keys per turn. */
  readonly keys: number
  /** Miss storm, burst and the misses of the mixed load: callers per fresh key. */
  readonly callersPerKey: number
  /** Hits and mixed: rows created before the first turn (the hot set). */
  readonly hotKeys: number
  /** Hits and mixed: calls per turn. */
  readonly calls: number
}

/** A workload: its keys per round. */
export interface Workload {
  readonly id: WorkloadId
  /** One line for tables and the chart. */
  readonly title: string
  /** Which floor its ratios are taken against. */
  readonly floor: 'floor-select' | 'floor-insert'
  /** Keys that exist before the first turn (seeded into every table). */
  readonly seeded: readonly string[]
  /** The calls of one turn, in order: every key of a turn that is not seeded is fresh to that turn. */
  calls(round: number): string[]
  /**
   * Warm-up calls before the measured ones (their keys are never counted); more in the `first` round, whose
   * code is new to V8.
   */
  warmup(round: number, concurrency: number, first: boolean): string[]
}

function hotKey(i: number): string {
  return `hot-${i}`
}

function hotCalls(count: number, hotKeys: number, round: number): string[] {
  // A stride that is prime to the hot-set size spreads consecutive calls over the set.
  return Array.from({ length: count }, (_, i) => hotKey((i * 7919 + round * 104_729) % hotKeys))
}

/**
 * A turn's warm-up calls: fresh keys asked twice each (the insert and the lost-race paths), plus hits when the
 * workload has them, so that every connection of the pool opens and prepares its statements before the clock
 * starts. In the first round (`first`) more of both (a quarter of the turn's fresh keys, a tenth of its hits):
 * a system's code is then new to V8, and a few dozen calls left the first round's rates to the optimizer (single
 * flight's ratio on hits 15-23 % above the other rounds', a diagnostics subscriber's 7-19 % below, in the
 * runs of 2026-12-06).
 */
function warmupCalls(
  round: number,
  concurrency: number,
  sizes: WorkloadSizes,
  withHits: boolean,
  first: boolean,
): string[] {
  const freshKeys = first ? Math.max(concurrency, Math.round(sizes.keys / 4)) : concurrency
  const fresh = Array.from({ length: freshKeys }, (_, i) => `warm${round}-${i}`)
  const calls = shuffledCalls(fresh, 2, round + 101)
  if (!withHits) return calls
  const hits = first ? Math.max(concurrency * 2, Math.round(sizes.calls / 10)) : concurrency * 2
  return [...calls, ...hotCalls(hits, sizes.hotKeys, round + 7)]
}

/** The workloads for these sizes. */
export function workloads(sizes: WorkloadSizes): Record<WorkloadId, Workload> {
  const seeded = Array.from({ length: sizes.hotKeys }, (_, i) => hotKey(i))
  return {
    'miss-storm': {
      id: 'miss-storm',
      title: `miss storm: ${sizes.keys} fresh keys × ${sizes.callersPerKey} callers, shuffled`,
      floor: 'floor-insert',
      seeded: [],
      calls: (round) =>
        shuffledCalls(
          Array.from({ length: sizes.keys }, (_, i) => `miss${round}-${i}`),
          sizes.callersPerKey,
          round + 1,
        ),
      warmup: (round, concurrency, first) => warmupCalls(round, concurrency, sizes, false, first),
    },
    burst: {
      id: 'burst',
      title: `burst: ${sizes.keys} fresh keys, each one's ${sizes.callersPerKey} callers together`,
      floor: 'floor-insert',
      seeded: [],
      // Each fresh key's callers one after another in the list, so they start together (as when one event
      // fans out to several handlers): the in-process single flight's case.
      calls: (round) =>
        Array.from({ length: sizes.keys }, (_, i) => `burst${round}-${i}`).flatMap((key) =>
          Array.from({ length: sizes.callersPerKey }, () => key),
        ),
      warmup: (round, concurrency, first) => warmupCalls(round, concurrency, sizes, false, first),
    },
    hits: {
      id: 'hits',
      title: `all hits: ${sizes.calls} calls over ${sizes.hotKeys} existing keys`,
      floor: 'floor-select',
      seeded,
      calls: (round) => hotCalls(sizes.calls, sizes.hotKeys, round),
      warmup: (round, concurrency, first) => warmupCalls(round, concurrency, sizes, true, first),
    },
    mixed: {
      id: 'mixed',
      title: `mixed: 90 % hits on ${sizes.hotKeys} hot keys, 10 % fresh keys × ${sizes.callersPerKey} callers`,
      floor: 'floor-select',
      seeded,
      calls(round) {
        const freshKeys = Math.max(1, Math.round((sizes.calls * 0.1) / sizes.callersPerKey))
        const hits = hotCalls(sizes.calls - freshKeys * sizes.callersPerKey, sizes.hotKeys, round)
        // Each fresh key's callers come in one burst, so they race; the bursts spread evenly through the hits.
        const every = Math.max(1, Math.floor(hits.length / freshKeys))
        const calls: string[] = []
        let fresh = 0
        for (let i = 0; i < hits.length; i++) {
          calls.push(hits[i]!)
          if ((i + 1) % every === 0 && fresh < freshKeys) {
            for (let c = 0; c < sizes.callersPerKey; c++) calls.push(`mix${round}-${fresh}`)
            fresh++
          }
        }
        for (; fresh < freshKeys; fresh++) {
          for (let c = 0; c < sizes.callersPerKey; c++) calls.push(`mix${round}-${fresh}`)
        }
        return calls
      },
      warmup: (round, concurrency, first) => warmupCalls(round, concurrency, sizes, true, first),
    },
  }
}
