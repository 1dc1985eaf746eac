/**
 * Worker processes for the races across OS processes: several processes start, load and connect, say
 * `ready`, and are all told `go` at once, so that their calls overlap; each then prints one `result` line.
 *
 * The parent side is {@link startWorker} (one process; a test may wait for any line it prints, e.g. a lock
 * holder's `holding`) and {@link raceWorkers} (several, ready / go, their results). The worker side is
 * {@link workerJob}, {@link readyThenGo} and {@link reportResult}.
 *
 * A worker is a TypeScript file run as the packages' scripts run files:
 * `node --conditions=@getorcreate/source --import tsx <file> <job as JSON>`, so workspace packages resolve to
 * their sources and no build is needed.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/** The flags of `node` before a worker's file: workspace packages as TypeScript sources, through tsx. */
export const WORKER_NODE_FLAGS: readonly string[] = ['--conditions=@getorcreate/source', '--import', 'tsx']

/** The line a worker prints once it is loaded and connected. */
export const READY = 'ready'
/** The line the parent sends every worker at once ({@link Worker.go}), to start them together. */
export const GO = 'go'
/** The prefix of the line that carries a worker's result, as JSON. */
const RESULT_PREFIX = 'result '

/** Options of {@link startWorker} and {@link raceWorkers}. */
export interface WorkerOptions {
  /**
   * The directory the process starts in: where `tsx` (for `--import tsx`) resolves from. Default: this
   * process's (vitest runs a package's tests from the package).
   */
  readonly cwd?: string
  /** Its environment. Default: this process's (so it inherits the services' URLs and the run's tag). */
  readonly env?: NodeJS.ProcessEnv
  /** Killed (SIGKILL) after this long, so a stuck worker cannot outlive its test. Default: 120 s. */
  readonly timeoutMs?: number
  /**
   * Called with every line the worker prints on stdout, as it prints it. A line for which it returns `true`
   * is consumed: not kept in {@link Worker.done}'s output (a worker that streams much need not be held in
   * memory). Default: none, every line is kept.
   */
  readonly onLine?: (line: string) => boolean
  /**
   * A command to run the worker under, before `node` (e.g. `['ip', 'netns', 'exec', name]`: in a network
   * namespace). Default: none, `node` is started directly.
   */
  readonly prefix?: readonly string[]
}

/** A worker process started by {@link startWorker}. */
export interface Worker {
  /** The process. */
  readonly child: ChildProcessWithoutNullStreams
  /** Resolves once the worker has printed `line` on a line of its own; rejects if it exits first. */
  printed(line: string): Promise<void>
  /** Send `go` (see {@link readyThenGo}) and close its stdin. */
  go(): void
  /**
   * Everything it printed on stdout, once it exits with status 0; else rejects with an error that gives its
   * exit code or signal and the end of its stderr.
   */
  readonly done: Promise<string>
  /** Kill it (SIGKILL) if it still runs, and wait until it has exited. */
  kill(): Promise<void>
}

/** Start `script` (a TypeScript file) in a new Node process, with `job` as its one argument (JSON). */
export function startWorker(script: URL | string, job: unknown, options: WorkerOptions = {}): Worker {
  const file = typeof script === 'string' ? script : fileURLToPath(script)
  const [command, ...prefixArgs] = [...(options.prefix ?? []), process.execPath]
  const args = [...prefixArgs, ...WORKER_NODE_FLAGS, file, JSON.stringify(job ?? null)]
  const child = spawn(command!, args, {
    cwd: options.cwd ?? process.cwd(),
    env: options.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  // A worker that exits before it reads `go` must not crash this process with EPIPE.
  child.stdin.on('error', () => undefined)
  let stdout = ''
  let stderr = ''
  const lines = new Set<string>()
  const waiting = new Map<string, (() => void)[]>()
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (options.onLine?.(line) === true) return
    stdout += `${line}\n`
    lines.add(line)
    for (const resolve of waiting.get(line) ?? []) resolve()
    waiting.delete(line)
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4_000)
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000)
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal })
    })
  })
  const done = exited.then(({ code, signal }) => {
    if (code === 0) return stdout
    throw new Error(`worker ${file} exited with ${code ?? signal}:\n${stderr}`)
  })
  // A test that never awaits `done` (it kills the worker) must not see an unhandled rejection.
  done.catch(() => undefined)
  return {
    child,
    printed: (line) => {
      if (lines.has(line)) return Promise.resolve()
      const seen = new Promise<void>((resolve) => waiting.set(line, [...(waiting.get(line) ?? []), resolve]))
      const early = done.then(
        () => Promise.reject(new Error(`worker ${file} exited before it printed "${line}"`)),
        (error: unknown) => Promise.reject(error),
      )
      return Promise.race([seen, early])
    },
    go: () => {
      child.stdin.end(`${GO}\n`)
    },
    done,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited.catch(() => undefined)
    },
  }
}

/**
 * Start one worker of `script` per job, wait until every one has said `ready`, then send `go` to all of them
 * at once, and return the result each reported ({@link reportResult}), in the jobs' order. When one fails,
 * the others are killed and the error is thrown.
 */
export async function raceWorkers<T>(
  script: URL | string,
  jobs: readonly unknown[],
  options: WorkerOptions = {},
): Promise<T[]> {
  const workers = jobs.map((job) => startWorker(script, job, options))
  try {
    await Promise.all(workers.map((worker) => worker.printed(READY)))
    for (const worker of workers) worker.go()
    const outputs = await Promise.all(workers.map((worker) => worker.done))
    return outputs.map((output, i) => resultOf<T>(output, `worker ${i + 1} of ${script}`))
  } finally {
    await Promise.all(workers.map((worker) => worker.kill()))
  }
}

/** The result a worker reported in `stdout` ({@link reportResult}). */
export function resultOf<T>(stdout: string, what = 'the worker'): T {
  const line = stdout.split('\n').find((candidate) => candidate.startsWith(RESULT_PREFIX))
  if (line === undefined) throw new Error(`${what} printed no result line:\n${stdout.slice(-2_000)}`)
  return JSON.parse(line.slice(RESULT_PREFIX.length)) as T
}

/** In a worker: its job, the JSON its parent passed as the one argument. */
export function workerJob<T>(): T {
  const text = process.argv[2]
  if (text === undefined) throw new Error('a worker takes its job as one JSON argument: started without one')
  return JSON.parse(text) as T
}

/** In a worker: say `ready` (loaded and connected), then wait until the parent sends `go`. */
export async function readyThenGo(): Promise<void> {
  const lines = createInterface({ input: process.stdin })
  process.stdout.write(`${READY}\n`)
  for await (const line of lines) if (line.trim() === GO) break
  lines.close()
}

/** In a worker: print its result as the one line `result <JSON>` that {@link raceWorkers} reads. */
export function reportResult(value: unknown): void {
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(value)}\n`)
}

/** How a child process ended, as far as {@link againAfterWasmCrash} reads it. */
export interface ChildEnd {
  /** The signal that killed it; `null` when it exited. */
  readonly signal: NodeJS.Signals | null
}

/**
 * Run `run` (which starts one child process that opens embedded PGlite, and resolves with how it ended); if
 * the child died of `SIGSEGV`, say so on stderr and run it once more. PGlite is PostgreSQL compiled to
 * WebAssembly, and Node's V8 has an open, intermittent crash (a native `SIGSEGV`, nothing printed; this
 * repository's CI met it once, in the demo's child) while a process compiles and starts that module; the
 * code of this repository runs no native code in those children, so that crash says nothing about what a
 * test checks. A second `SIGSEGV`, or any other ending, is returned as it is for the test to judge: a child
 * that crashes twice in a row still fails its test.
 */
export async function againAfterWasmCrash<T extends ChildEnd>(
  what: string,
  run: () => Promise<T>,
): Promise<T> {
  const first = await run()
  if (first.signal !== 'SIGSEGV') return first
  process.stderr.write(
    `${what}: the child died of SIGSEGV (the V8 WebAssembly crash PGlite can meet); running it once more\n`,
  )
  return run()
}
