/**
 * `pnpm stress` as a user runs it, for the tests: main.ts in a process of its own with `args` and `--out` a
 * fresh directory; its exit code, output (the progress lines left out), duration and stress.json.
 */
import { execFileSync, spawn } from 'node:child_process'
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
 * A run still going after `deadlineMs` is taken for a hang: its processes are listed in `output` (where each
 * waits), then stopped, and `code` is not 0, so the calling test fails with that listing instead of its timeout.
 */
export async function runStressCli(
  args: readonly string[],
  onLine?: (line: string, pid: number) => void,
  deadlineMs = 150_000,
): Promise<StressCliRun> {
  const out = await mkdtemp(join(tmpdir(), 'getorcreate-stress-'))
  try {
    const main = fileURLToPath(new URL('../../src/stress/main.ts', import.meta.url))
    const started = performance.now()
    const child = spawn(
      process.execPath,
      ['--conditions=@getorcreate/source', '--import', 'tsx', main, ...args, '--out', out],
      // A process group of its own: at the deadline the run, its workers and its Redis nodes are stopped together.
      { stdio: ['ignore', 'pipe', 'pipe'], env: process.env, detached: true },
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
    const exited = once(child, 'exit') as Promise<[number | null]>
    const deadline = setTimeout(() => {
      // A run that has not ended by now hangs: show where each of its processes is, then stop them all
      // (SIGTERM first, so that the run removes its network; SIGKILL 10 s later).
      output += `\n[stress-cli] no end after ${deadlineMs} ms; the run's processes:\n${processTree(child.pid)}`
      signalGroup(child.pid, 'SIGTERM')
      setTimeout(() => signalGroup(child.pid, 'SIGKILL'), 10_000).unref()
    }, deadlineMs)
    const [code] = await exited.finally(() => clearTimeout(deadline))
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

/** `ps` of the session led by `pid` (a detached child leads its own): pid, parent, state, age and command line of each. */
function processTree(pid: number | undefined): string {
  try {
    return execFileSync('ps', ['-o', 'pid,ppid,stat,etime,wchan:20,args', '--sid', String(pid)], {
      encoding: 'utf8',
    })
  } catch (error) {
    return `(ps failed: ${String(error)})`
  }
}

/** Sends `signal` to the process group led by `pid`, if it is still there. */
function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return
  try {
    process.kill(-pid, signal)
  } catch {
    // The group has ended.
  }
}
