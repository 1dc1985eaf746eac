import { describe, expect, test } from 'vitest'
import { check, RSS_GROWTH_LIMIT_MB } from '../src/stress/checker.js'
import type {
  ErrorEvent,
  FaultWindow,
  History,
  KeyRecord,
  SlowCall,
  TableHistory,
} from '../src/stress/history.js'
import { isDeleted } from '../src/stress/workload.js'

const key = (calls: number, created: number, ids: number[], errors = 0): KeyRecord => ({
  calls,
  created,
  ids,
  errors,
})

function table(
  keys: Record<string, KeyRecord>,
  rows: Record<string, number>,
  services = ['pg'],
): TableHistory {
  return {
    name: 't',
    services,
    keys: new Map(Object.entries(keys)),
    rows: new Map(Object.entries(rows)),
    deleted: isDeleted,
  }
}

function history(parts: Partial<History> & { tables: TableHistory[] }): History {
  return { errors: [], slow: [], faults: [], unhandled: [], rss: [], ...parts }
}

const clean = table(
  { h0: key(10, 1, [7]), f0_0: key(3, 1, [8]), d1: key(5, 3, [9, 10, 11]) },
  { h0: 1, f0_0: 1, d1: 1 },
)
const error = (kind: string, at: number, worker = 0): ErrorEvent => ({
  table: 't',
  key: 'h0',
  worker,
  kind,
  message: 'boom',
  start: at,
  end: at + 5,
})
const fault = (affects: string[], start: number, end: number): FaultWindow => ({
  kind: 'pg-terminate',
  affects,
  start,
  end,
  detail: '',
})

describe('the stress checker', () => {
  test('a clean history passes: one row, one created:true, one id per key; the deleted range may change ids', () => {
    const verdict = check(history({ tables: [clean] }))
    expect(verdict.violations).toEqual([])
    expect(verdict.ok).toBe(true)
    expect(verdict.counts).toMatchObject({ calls: 18, keys: 3, duplicates: 0 })
  })

  test('duplicates, missing rows, split ids, wrong created counts and stray rows are each reported', () => {
    const bad = table(
      { a: key(4, 2, [1, 2]), b: key(2, 1, [3]), c: key(2, 0, [4]), d2: key(1, 1, [5]) },
      { a: 2, c: 1, d2: 2, zz: 1 },
    )
    const verdict = check(history({ tables: [bad] }))
    expect(verdict.ok).toBe(false)
    expect(verdict.counts).toMatchObject({
      duplicates: 2,
      missingRows: 1,
      splitIds: 1,
      wrongCreated: 2,
      strayRows: 1,
    })
    expect(verdict.violations).toContain('t a: 2 rows')
    expect(verdict.violations).toContain('t zz: 1 rows nobody asked for')
  })

  test('a key whose creator failed (its row committed, its connection lost) may have no created:true', () => {
    const verdict = check(history({ tables: [table({ a: key(3, 0, [1], 1) }, { a: 1 })] }))
    expect(verdict.ok).toBe(true)
  })

  test('typed errors pass anywhere; raw ones only inside a fault window on their service, counted per fault', () => {
    const faults = [
      fault(['pg'], 1_000, 2_000),
      fault(['mysql'], 5_000, 6_000),
      fault(['worker:1'], 8_000, 9_000),
    ]
    const errors = [
      error('LOCK_UNAVAILABLE', 100),
      error('raw:57P01', 1_500),
      error('raw:ECONNRESET', 5_500),
      error('raw:Error', 8_500, 1),
      error('raw:Error', 8_500, 0),
    ]
    const verdict = check(history({ tables: [clean], faults, errors }))
    expect(verdict.counts.untypedErrors).toBe(2)
    expect(verdict.errorsByKind['raw:Error']).toEqual({ total: 2, outsideFaults: 1, first: 't: boom' })
    expect(verdict.errorsPerFault).toEqual({
      none: { LOCK_UNAVAILABLE: 1, 'raw:ECONNRESET': 1, 'raw:Error': 1 },
      '0': { 'raw:57P01': 1 },
      '2': { 'raw:Error': 1 },
    })
    expect(verdict.violations).toContain(
      't h0: raw:ECONNRESET outside any fault: boom (worker 0, took 5 ms, 3500 ms after pg-terminate ended)',
    )
  })

  test("a cut of worker 2's link covers its raw errors on networked services in the window, not its SQLite file's nor other workers'", () => {
    const named = (name: string, services: string[]): TableHistory => ({ ...clean, name, services })
    const tables = [
      named('pgc', ['pg']),
      named('myl', ['mysql', 'redis']),
      named('litec', ['sqlite']),
      named('litel', ['sqlite', 'redis']),
    ]
    const cut: FaultWindow = {
      kind: 'link-cut',
      affects: ['worker:2:pg', 'worker:2:mysql', 'worker:2:redis'],
      start: 1_000,
      end: 2_000,
      detail: '',
    }
    const on = (tableName: string, worker: number, at: number): ErrorEvent => ({
      ...error('raw:ECONNRESET', at, worker),
      table: tableName,
    })
    const covered = [on('pgc', 2, 1_500), on('myl', 2, 1_100), on('litel', 2, 1_900)]
    const uncovered = [on('litec', 2, 1_500), on('pgc', 1, 1_500), on('pgc', 2, 2_500), on('myl', 3, 1_200)]
    const verdict = check(history({ tables, faults: [cut], errors: [...covered, ...uncovered] }))
    expect(verdict.counts.untypedErrors).toBe(uncovered.length)
    expect(verdict.errorsPerFault).toEqual({
      '0': { 'raw:ECONNRESET': covered.length },
      none: { 'raw:ECONNRESET': uncovered.length },
    })
    expect(verdict.violations).toContain(
      'litec h0: raw:ECONNRESET outside any fault: boom (worker 2, took 5 ms)',
    )
  })

  test('a call slower than its bound is a hang, unless its own worker was stopped meanwhile (a cut link is no stop)', () => {
    const slow = (worker: number, end: number | undefined): SlowCall => ({
      table: 't',
      key: 'h0',
      worker,
      start: 1_000,
      end,
      boundMs: 100,
    })
    const faults = [fault(['worker:1'], 1_050, 2_000), fault(['worker:2:pg'], 1_050, 2_000)]
    const verdict = check(
      history({
        tables: [clean],
        faults,
        slow: [slow(0, 3_000), slow(1, 3_000), slow(1, undefined), slow(2, 3_000)],
      }),
    )
    expect(verdict.counts.hangs).toBe(3)
    expect(verdict.violations).toContain('t h0: hang, took 2000 ms (bound 100 ms, worker 2)')
    expect(verdict.violations).toContain('t h0: hang, took 2000 ms (bound 100 ms, worker 0)')
    expect(verdict.violations).toContain('t h0: hang, never ended (bound 100 ms, worker 1)')
  })

  test('an unhandled rejection fails the run; so does RSS growth past the limit', () => {
    const mb = 2 ** 20
    const flat = Array.from({ length: 20 }, () => 100 * mb)
    const leaking = Array.from({ length: 20 }, (_, i) => (100 + i * 10) * mb)
    const verdict = check(history({ tables: [clean], unhandled: ['worker 0: boom'], rss: [flat, leaking] }))
    expect(verdict.counts.unhandled).toBe(1)
    expect(verdict.rssGrowthMb[0]).toBe(0)
    expect(verdict.rssGrowthMb[1]).toBeGreaterThan(RSS_GROWTH_LIMIT_MB)
    expect(verdict.violations.some((line) => line.startsWith('worker 1: RSS grew'))).toBe(true)
  })

  test('a 50 s run whose heap grows for 30 s, then stays: not a leak (its warm-up ends once the heap settles), while one that keeps growing is', () => {
    const mb = 2 ** 20
    // As measured in --quick runs: RSS climbs 3 MB a second for 30 s, then stays.
    const settling = Array.from({ length: 50 }, (_, i) => (140 + 3 * Math.min(i, 30)) * mb)
    const leaking = Array.from({ length: 50 }, (_, i) => (140 + 3 * i) * mb)
    const verdict = check(history({ tables: [clean], rss: [settling, leaking] }))
    // From 20–30 % of the run, the first would have grown 54 MB and failed.
    expect(verdict.rssGrowthMb[0]).toBeLessThan(10)
    expect(verdict.rssGrowthMb[1]).toBeGreaterThan(RSS_GROWTH_LIMIT_MB)
    expect(verdict.violations.filter((line) => line.includes('RSS grew'))).toEqual([
      `worker 1: RSS grew ${verdict.rssGrowthMb[1]} MB`,
    ])
  })
})
