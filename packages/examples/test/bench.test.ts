import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { writeResults } from '../src/bench/report.js'
import { type BenchOptions, isWrong, runBench } from '../src/bench/run-bench.js'

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test'
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

// Every call runs (no time cap), so the counts are exact: 20 keys × 4 callers in the miss storm; 100 calls
// in hits and mixed, the mixed ones with round(100 × 10 % / 4) = 3 fresh keys × 4 callers.
const tiny = (procs: number): BenchOptions => ({
  databaseUrl,
  redisUrl,
  rounds: 1,
  pool: 8,
  concurrency: 16,
  procs,
  maxMs: Number.POSITIVE_INFINITY,
  sizes: { keys: 20, callersPerKey: 4, hotKeys: 50, calls: 100 },
  systems: [
    'ours-constraint',
    'ours-redis-lock',
    'ours-redis-lock-3',
    'naive',
    'floor-select',
    'floor-insert',
  ],
  workloads: ['miss-storm', 'hits', 'mixed'],
})

const expected = {
  'miss-storm': { calls: 80, keysCreated: 20 },
  hits: { calls: 100, keysCreated: 0 },
  mixed: { calls: 100, keysCreated: 3 },
} as const

describe('pnpm bench', () => {
  for (const procs of [1, 2]) {
    test(`a tiny run in ${procs} process(es): ours exact in every workload, files written`, async () => {
      const result = await runBench(tiny(procs))
      const ours = result.cells.filter((cell) => cell.kind === 'ours')
      expect(ours).toHaveLength(9)
      for (const cell of ours) {
        const { calls, keysCreated } = expected[cell.workload]
        expect(cell, `${cell.workload} · ${cell.name}`).toMatchObject({
          calls,
          duplicates: 0,
          wrongIds: 0,
          splitKeys: 0,
          errors: 0,
          createdFlags: keysCreated,
          keysCreated,
        })
        expect(isWrong(cell)).toBe(false)
        expect(cell.rate).toBeGreaterThan(0)
      }
      const floor = result.cells.find((cell) => cell.workload === 'hits' && cell.systemId === 'floor-select')
      expect(floor?.ratioToFloor).toBe(1)

      const dir = await mkdtemp(join(tmpdir(), 'bench-'))
      try {
        await writeResults(dir, result, 'test')
        expect(await readFile(join(dir, 'chart.svg'), 'utf8')).toMatch(/^<svg[\s\S]*ours: constraintStrategy/)
        expect(await readFile(join(dir, 'results.md'), 'utf8')).toContain('| **ours: constraintStrategy** |')
        expect(JSON.parse(await readFile(join(dir, 'results.json'), 'utf8')).cells).toHaveLength(
          result.cells.length,
        )
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    })
  }
})
