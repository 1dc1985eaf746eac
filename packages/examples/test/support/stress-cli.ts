/**
 * `pnpm stress` as a user runs it, for the tests: main.ts in a process of its own with `args` and `--out` a
 * fresh directory; its exit code, output (the progress lines left out), duration and stress.json.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** What a stress run printed and wrote. */
export interface StressCliRun {
  readonly code: number | null
  /** stdout and stderr, without the `… calls, N s left` progress lines. */
  readonly output: string
  readonly seconds: number
  /** stress.json, parsed (undefined when the run wrote none). */
  readonly report: Record<string, unknown> | undefined
  /** The names of the files in the report's directory. */
  readonly files: readonly string[]
}

/**
 * Runs `pnpm stress <args> --out <tmp>` to its end; the report's directory is removed afterwards. `onLine`
 * hears each stdout line as it comes, with the run's pid (to look at the run from outside while it goes).
 */
export async function runStressCli(
  args: readonly string[],
  onLine?: (line: string, pid: number) => void,
): Promise<StressCliRun> {
  const out = await mkdtemp(join(tmpdir(), 'getorcreate-stress-'))
  try {
    const main = fileURLToPath(new URL('../../src/stress/main.ts', import.meta.url))
    const started = performance.now()
    const child = spawn(
      process.execPath,
      ['--conditions=@getorcreate/source', '--import', 'tsx', main, ...args, '--out', out],
      { stdio: ['ignore', 'pipe', 'pipe'], env: process.env },
    )
    let output = ''
    let rest = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      const lines = (rest + chunk.toString()).split('\n')
      rest = lines.pop() ?? ''
      for (const line of lines) onLine?.(line, child.pid ?? -1)
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    const [code] = (await once(child, 'exit')) as [number | null]
    const seconds = (performance.now() - started) / 1000
    const report = await readFile(join(out, 'stress.json'), 'utf8').then(
      (text) => JSON.parse(text) as Record<string, unknown>,
      () => undefined,
    )
    const files = await readdir(out)
    return {
      code,
      output: output
        .split('\n')
        .filter((line) => !/calls, \d+ s left$/.test(line))
        .join('\n'),
      seconds,
      report,
      files,
    }
  } finally {
    await rm(out, { recursive: true, force: true })
  }
}
