/**
 * `pnpm stress --quick`, as a user runs it: 4 worker processes for 50 s on Postgres (postgres.js and
 * node-postgres), MariaDB, SQLite and 5 Redis nodes, under the seeded fault schedule; the checker's verdict
 * must be PASS with at least 50,000 calls in under 2 minutes, and the report files written.
 */
import { expect, test } from 'vitest'
import { runStressCli } from './support/stress-cli.js'

test('pnpm stress --quick: PASS (0 duplicates, 0 split ids, 0 untyped errors outside faults, 0 hangs), ≥ 50,000 calls in < 2 min', async () => {
  const { code, output, seconds, report, files } = await runStressCli(['--quick'])
  // The seed and the verdict's lines, for a failing run to be replayed with --seed.
  console.log(output)
  expect(code, output).toBe(0)
  expect(output).toMatch(/^PASS: /m)
  expect(seconds).toBeLessThan(120)
  const { verdict, calls } = report as {
    calls: number
    verdict: { ok: boolean; counts: Record<string, number> }
  }
  expect(verdict.ok).toBe(true)
  expect(calls).toBeGreaterThanOrEqual(50_000)
  const { counts } = verdict
  for (const violation of [
    'duplicates',
    'missingRows',
    'wrongCreated',
    'splitIds',
    'strayRows',
    'untypedErrors',
  ]) {
    expect(counts[violation], violation).toBe(0)
  }
  expect([counts.hangs, counts.unhandled]).toEqual([0, 0])
  expect([...files].sort()).toEqual(['stress.json', 'stress.md', 'throughput.svg'])
}, 180_000)
