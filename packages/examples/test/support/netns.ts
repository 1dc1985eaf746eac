/**
 * What netns.test.ts uses to look at a run's network from outside: the workers it starts (in a namespace with
 * the network's prefix), another run in a process of its own, and the machine's namespaces, links and
 * listeners as `ip` and `ss` list them.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { NetworkWorker } from '../../src/stress/network.js'

const examples = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** `node` as the package scripts run a TypeScript file. */
const NODE = [process.execPath, '--conditions=@getorcreate/source', '--import', 'tsx']

/** A process started by {@link startProbe} or {@link startOwner}: its lines as they come, and its end. */
export interface Started {
  readonly child: ChildProcess
  /** Resolves with the first stdout line that passes `test`. */
  line(test: (line: string) => boolean): Promise<string>
  /** Resolves when the process ended, with its exit code or the signal that ended it, and its stderr. */
  readonly ended: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>
}

function watch(child: ChildProcess): Started {
  const lines: string[] = []
  const waiting: { test: (line: string) => boolean; resolve: (line: string) => void }[] = []
  let stderr = ''
  let rest = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    const parts = (rest + chunk.toString()).split('\n')
    rest = parts.pop() ?? ''
    for (const line of parts) {
      lines.push(line)
      for (const wait of waiting.filter((w) => w.test(line))) {
        waiting.splice(waiting.indexOf(wait), 1)
        wait.resolve(line)
      }
    }
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>(
    (resolve, reject) => {
      child.once('error', reject)
      child.once('close', (code, signal) => resolve({ code, signal, stderr }))
    },
  )
  const line = (test: (line: string) => boolean) => {
    const seen = lines.find(test)
    if (seen !== undefined) return Promise.resolve(seen)
    return new Promise<string>((resolve, reject) => {
      waiting.push({ test, resolve })
      ended.then(
        ({ code, signal }) => reject(new Error(`exited (${code ?? signal}) first: ${stderr}`)),
        reject,
      )
    })
  }
  return { child, line, ended }
}

/** Starts test/workers/netns-probe.ts in `mode` with the worker's prefix (in its namespace, when there is one). */
export function startProbe(worker: NetworkWorker, mode: string, env: Record<string, string>): Started {
  const [command, ...args] = [...worker.prefix, ...NODE, 'test/workers/netns-probe.ts', mode]
  return watch(
    spawn(command as string, args, {
      cwd: examples,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )
}

/** Runs a probe to its end: the JSON line it printed, and the pid of the process started. */
export async function runProbe<T>(
  worker: NetworkWorker,
  mode: string,
  env: Record<string, string>,
): Promise<[T, number]> {
  const started = startProbe(worker, mode, env)
  const { code, stderr } = await started.ended
  if (code !== 0) throw new Error(`probe ${mode} exited with ${code}: ${stderr}`)
  return [JSON.parse(await started.line((line) => line.startsWith('{'))) as T, started.child.pid ?? -1]
}

/** Another run, in a process of its own (test/workers/netns-owner.ts), as `uid` and with `env` when given. */
export function startOwner(
  tag: string,
  workers: number,
  ports: readonly number[],
  options: { uid?: number; gid?: number; env?: NodeJS.ProcessEnv } = {},
): Started {
  const args = [...NODE.slice(1), 'test/workers/netns-owner.ts', tag, String(workers), ports.join(',')]
  const { env, ...ids } = options
  return watch(
    spawn(NODE[0] as string, args, {
      cwd: examples,
      env: env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...ids,
    }),
  )
}

/** The namespaces of this machine (names). */
export function namespaces(): string[] {
  const out = execFileSync('ip', ['-j', 'netns', 'list'], { encoding: 'utf8' }).trim()
  return out === '' ? [] : (JSON.parse(out) as { name: string }[]).map((ns) => ns.name)
}

/** The links of the root namespace (names). */
export function links(): string[] {
  return (
    JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as { ifname: string }[]
  ).map((link) => link.ifname)
}

/** Where process `pid` listens for TCP (`address:port`), as `ss` shows it. */
export function listening(pid: number): string[] {
  const out = execFileSync('ss', ['-Hltnp'], { encoding: 'utf8' })
  return out
    .split('\n')
    .filter((line) => line.includes(`pid=${pid},`))
    .map((line) => line.trim().split(/\s+/)[3] ?? '')
}

/** Whether the link of a namespace (`eth0` inside it) has a carrier. */
export function carrier(namespace: string): boolean {
  const [link] = JSON.parse(
    execFileSync('ip', ['-n', namespace, '-j', 'link', 'show', 'eth0'], { encoding: 'utf8' }),
  ) as {
    flags: string[]
  }[]
  return !(link?.flags ?? []).includes('NO-CARRIER')
}
