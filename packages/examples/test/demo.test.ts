import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { againAfterWasmCrash, databaseUrl, WORKER_NODE_FLAGS } from '@getorcreate/test-support'
import { describe, expect, test } from 'vitest'
import { isWrong, runDemo } from '../src/demo.js'
import type { DemoBrokenJob } from './workers/demo-broken.js'

/** The examples package: where `tsx` resolves from, as `pnpm demo` runs. */
const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url))

/** How a child process ended, and everything it printed. */
interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Run the TypeScript file `script` (relative to the package) in a new Node process, as `pnpm demo` runs
 * src/demo.ts (workspace packages as sources, through tsx), with `args` and `env`; killed after two minutes.
 * These children open embedded PGlite: one that dies of V8's WebAssembly SIGSEGV is run once more
 * ({@link againAfterWasmCrash}).
 */
function runNode(script: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<Exit> {
  return againAfterWasmCrash(script, () => runNodeOnce(script, args, env))
}

/** {@link runNode}, one process. */
function runNodeOnce(script: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...WORKER_NODE_FLAGS, script, ...args], {
      cwd: PACKAGE_DIR,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), 110_000)
    child.once('error', reject)
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

/** The cells of the printed table's row of `approach` (calls, rows, duplicate rows, created:true, split ids, errors, ms). */
function tableRow(stdout: string, approach: string): string[] | undefined {
  const line = stdout.split('\n').find((candidate) => candidate.startsWith(`${approach}  `))
  return line
    ?.slice(approach.length)
    .trim()
    .split(/\s{2,}/)
}

/** This process's environment without DATABASE_URL: the demo then runs on embedded PGlite. */
function envWithoutDatabase(): NodeJS.ProcessEnv {
  const env = { ...process.env }
  delete env.DATABASE_URL
  return env
}

describe('pnpm demo', () => {
  for (const [label, server] of [
    ['embedded PGlite', false],
    ['Postgres server', true],
  ] as const) {
    test(`on ${label}: the naive code duplicates${server ? ', inside a transaction too' : ''}; getOrCreate is exact`, async () => {
      const lines: string[] = []
      const rows = await runDemo({
        databaseUrl: server ? databaseUrl() : undefined, // databaseUrl() throws when no server is provided
        redisUrl: process.env.REDIS_URL,
        keys: 100,
        callersPerKey: 8,
        // And a pool of 32 (runDemo opens the pool as large as the concurrency): every call in flight holds a
        // connection, so on the server 32 transactions run side by side. The demo's default of 50 is more than
        // a shared Postgres may have.
        concurrency: 32,
        print: (line) => lines.push(line),
      })
      expect(lines[0]).toContain(
        server ? 'getorcreate demo on Postgres at ' : 'getorcreate demo on embedded PGlite',
      )
      expect(rows.map((row) => row.approach)).toEqual([
        'naive find-then-insert',
        // PGlite runs one transaction at a time, which hides the race: the demo shows this row on a server only.
        ...(server ? ['naive, inside a transaction'] : []),
        'getOrCreate (unique index)',
        'getOrCreate (Redis lock, no unique index)',
      ])
      const ours = rows.filter((row) => row.mustBeExact)
      for (const row of ours) {
        expect(isWrong(row), row.approach).toBe(false)
        expect(row).toMatchObject({ calls: 800, rows: 100, duplicateRows: 0, createdFlags: 100, errors: 0 })
      }
      // The race is real, so the table can show it: duplicates, rows beyond one per key.
      for (const row of rows.filter((candidate) => !candidate.mustBeExact)) {
        expect(row.duplicateRows, `${row.approach}: duplicate rows`).toBeGreaterThan(0)
        expect(row, row.approach).toMatchObject({ calls: 800, keys: 100, errors: 0 })
        expect(row.rows, `${row.approach}: rows`).toBe(100 + row.duplicateRows)
      }
      expect(lines.join('\n')).toContain('duplicate rows')
    })
  }

  test('without a Redis it runs the rest and says how to add the Redis-lock part', async () => {
    const lines: string[] = []
    const rows = await runDemo({
      redisUrl: 'redis://127.0.0.1:1',
      keys: 20,
      callersPerKey: 4,
      print: (line) => lines.push(line),
    })
    expect(rows.map((row) => row.approach)).toEqual(['naive find-then-insert', 'getOrCreate (unique index)'])
    expect(lines.join('\n')).toContain('no Redis answers at redis://127.0.0.1:1')
  })
})

describe("pnpm demo's exit code, in child processes", () => {
  test('the script as `pnpm demo` runs it (embedded PGlite, REDIS_URL) exits 0 and says getOrCreate was exact', async () => {
    const exit = await runNode('src/demo.ts', [], envWithoutDatabase())
    expect(exit.stderr).not.toContain('FAILED')
    expect([exit.code, exit.signal], exit.stderr).toEqual([0, null])
    expect(exit.stdout).toContain('getOrCreate: exactly one row, one created:true and one id per key.')
    for (const approach of ['getOrCreate (unique index)', 'getOrCreate (Redis lock, no unique index)']) {
      expect(tableRow(exit.stdout, approach), approach).toEqual([
        '2000',
        '200',
        '0',
        '200 (of 200 keys)',
        '0',
        '0',
        expect.stringMatching(/^\d+$/),
      ])
    }
  })

  /** Run test/workers/demo-broken.ts with `broken`. */
  const runBroken = (broken: DemoBrokenJob['broken']) =>
    runNode('test/workers/demo-broken.ts', [JSON.stringify({ broken } satisfies DemoBrokenJob)], process.env)

  test('the same main without a broken strategy exits 0', async () => {
    const exit = await runBroken('none')
    expect([exit.code, exit.signal], exit.stderr).toEqual([0, null])
    expect(exit.stderr).not.toContain('FAILED')
    expect(exit.stdout).toContain('getOrCreate: exactly one row, one created:true and one id per key.')
  })

  for (const [broken, approach, cells] of [
    // Every call inserts: 80 rows for 20 keys, 60 of them duplicates, 80 created:true, every key split.
    [
      'always-inserts',
      'getOrCreate (broken on purpose: always inserts)',
      ['80', '80', '60', '80 (of 20 keys)', '20', '0'],
    ],
    // Exact rows, but every answer says created: no duplicate row, a wrong answer only.
    [
      'claims-created',
      'getOrCreate (broken on purpose: always says created)',
      ['80', '20', '0', '80 (of 20 keys)', '0', '0'],
    ],
  ] as const) {
    test(`a strategy that ${broken}: exit code 1, and the failure names it`, async () => {
      const exit = await runBroken(broken)
      expect([exit.code, exit.signal], `stdout:\n${exit.stdout}\nstderr:\n${exit.stderr}`).toEqual([1, null])
      // Only the broken row is named: ours stayed exact.
      expect(exit.stderr.split('\n').filter((line) => line.includes('FAILED'))).toEqual([
        `FAILED: ${approach} produced a duplicate or a wrong answer.`,
      ])
      expect(exit.stdout).not.toContain('getOrCreate: exactly one row')
      expect(tableRow(exit.stdout, approach)?.slice(0, 6), approach).toEqual(cells)
      expect(tableRow(exit.stdout, 'getOrCreate (unique index)')?.slice(0, 6)).toEqual([
        '80',
        '20',
        '0',
        '20 (of 20 keys)',
        '0',
        '0',
      ])
    })
  }
})
