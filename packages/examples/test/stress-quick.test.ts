/**
 * `pnpm stress --quick`, as a user runs it: 4 worker processes for 50 s on Postgres (postgres.js and
 * node-postgres), MariaDB, SQLite and 5 Redis nodes, under the seeded fault schedule; the checker's verdict
 * must be PASS with at least 50,000 calls in under 2 minutes, and the report files written.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'

test('pnpm stress --quick: PASS (0 duplicates, 0 split ids, 0 untyped errors outside faults, 0 hangs), ≥ 50,000 calls in < 2 min', async () => {
  const out = await mkdtemp(join(tmpdir(), 'getorcreate-stress-'))
  try {
    const main = fileURLToPath(new URL('../src/stress/main.ts', import.meta.url))
    const started = performance.now()
    const child = spawn(
      process.execPath,
      ['--conditions=@getorcreate/source', '--import', 'tsx', main, '--quick', '--out', out],
      { stdio: ['ignore', 'pipe', 'pipe'], env: process.env },
    )
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    const [code] = (await once(child, 'exit')) as [number | null]
    const seconds = (performance.now() - started) / 1000
    // The seed and the verdict's lines, for a failing run to be replayed with --seed.
    console.log(
      output
        .split('\n')
        .filter((line) => !/calls, \d+ s left$/.test(line))
        .join('\n'),
    )
    expect(code, output).toBe(0)
    expect(output).toMatch(/^PASS: /m)
    expect(seconds).toBeLessThan(120)
    const report = JSON.parse(await readFile(join(out, 'stress.json'), 'utf8')) as {
      calls: number
      verdict: { ok: boolean; counts: Record<string, number> }
    }
    expect(report.verdict.ok).toBe(true)
    expect(report.calls).toBeGreaterThanOrEqual(50_000)
    const { counts } = report.verdict
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
    await readFile(join(out, 'stress.md'), 'utf8')
    await readFile(join(out, 'throughput.svg'), 'utf8')
  } finally {
    await rm(out, { recursive: true, force: true })
  }
}, 180_000)
