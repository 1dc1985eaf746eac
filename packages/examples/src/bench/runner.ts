/**
 * Where turns run: in this process, or in child processes (each system's own, or ones all systems share), over
 * which a turn's calls are spread; they are set up and warmed up together and then run each slice together, so
 * that their measured windows overlap. Several turns (a group's) can be prepared at once; each is known by the
 * id its preparer gave it.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { childNodeFlags } from './packages.js'
import { prepareTurn, TooManyConnectionsError, type TurnResult, type TurnSpec } from './turn.js'
import type { ParentMessage, WorkerMessage } from './worker-protocol.js'

/** A turn set up and warm in every process, run slice by slice. */
export interface RunningTurn {
  /** Run the next slice in every process at once; true when no process has a call left to run. */
  slice(): Promise<boolean>
  /** Tear down everywhere; one result per process. */
  finish(): Promise<TurnResult[]>
  /** Tear down everywhere without results. */
  abort(): Promise<void>
}

/** Runs turns: one spec per process. */
export interface TurnRunner {
  /** Processes the calls are spread over. */
  readonly processes: number
  /**
   * Set up and warm up every spec (one per process). When any fails, those that did not are torn down and
   * the error is thrown.
   */
  prepare(specs: readonly TurnSpec[]): Promise<RunningTurn>
  /** Stop the child processes, if any. */
  stop(): Promise<void>
  /** Kill the child processes at once (for `process.on('exit')`). */
  kill(): void
}

/** Runs every turn in this process. */
export function localRunner(): TurnRunner {
  return {
    processes: 1,
    async prepare([spec]) {
      const turn = await prepareTurn(spec!)
      return {
        slice: () => turn.slice(),
        finish: async () => [await turn.finish()],
        abort: () => turn.abort(),
      }
    },
    stop: async () => {},
    kill: () => {},
  }
}

class Child {
  readonly process: ChildProcess
  #pending: { resolve: (message: WorkerMessage) => void; reject: (error: Error) => void } | undefined
  #exited: Error | undefined

  constructor(child: ChildProcess) {
    this.process = child
    child.on('message', (message: WorkerMessage) => {
      const pending = this.#pending
      this.#pending = undefined
      pending?.resolve(message)
    })
    child.on('exit', (code, signal) => {
      this.#exited = new Error(`A bench child process exited (code ${code}, signal ${signal}).`)
      this.#pending?.reject(this.#exited)
      this.#pending = undefined
    })
  }

  /** Wait for the next message (the child's answer). */
  next(): Promise<WorkerMessage> {
    if (this.#exited) return Promise.reject(this.#exited)
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject }
    })
  }

  request(message: ParentMessage): Promise<WorkerMessage> {
    const answer = this.next()
    this.process.send(message)
    return answer
  }
}

function failure(message: WorkerMessage): Error {
  if (message.type !== 'failed')
    return new Error(`Unexpected message from a bench child process: ${message.type}`)
  return message.tooManyConnections
    ? new TooManyConnectionsError(message.message.replace(/^.*\((.*)\)\.$/, '$1'))
    : new Error(message.message)
}

/** Children started at once, at most: each loads the bench's modules, a second or two of CPU. */
const STARTING_AT_ONCE = 4

/**
 * Start `count` child processes (`node --import tsx worker.ts`, with `--conditions=@getorcreate/source` when this
 * process runs the sources: see `packages.ts`), a few at a time, and wait until they answer. When one fails,
 * those started are killed and the error is thrown.
 */
async function startChildren(count: number): Promise<Child[]> {
  const script = fileURLToPath(new URL('./worker.ts', import.meta.url))
  const children: Child[] = []
  const start = async () => {
    const child = new Child(
      fork(script, [], {
        execArgv: [...childNodeFlags()],
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    )
    children.push(child)
    const hello = await child.next()
    if (hello.type !== 'ready') throw failure(hello)
  }
  try {
    for (let from = 0; from < count; from += STARTING_AT_ONCE) {
      await Promise.all(Array.from({ length: Math.min(STARTING_AT_ONCE, count - from) }, start))
    }
  } catch (error) {
    killAll(children)
    throw error
  }
  return children
}

/** Kill at once those of `children` still running. */
function killAll(children: readonly Child[]): void {
  for (const child of children) if (child.process.exitCode === null) child.process.kill('SIGKILL')
}

/**
 * A runner over child processes: a turn of system `id` runs in `childrenOf(id)`, one spec per child. `all` are
 * every child, to stop.
 */
function childRunner(
  count: number,
  all: readonly Child[],
  childrenOf: (systemId: string) => readonly Child[],
): TurnRunner {
  let turns = 0
  return {
    processes: count,
    async prepare(specs) {
      const id = ++turns
      const children = childrenOf(specs[0]!.systemId)
      const prepared = await Promise.all(
        specs.map((spec, i) => children[i]!.request({ type: 'prepare', id, turn: spec })),
      )
      const each = (message: ParentMessage) => Promise.all(specs.map((_, i) => children[i]!.request(message)))
      const failed = prepared.find((message) => message.type !== 'prepared')
      if (failed) {
        await Promise.all(
          prepared.map((message, i) =>
            message.type === 'prepared' ? children[i]!.request({ type: 'abort', id }) : undefined,
          ),
        )
        throw failure(failed)
      }
      return {
        async slice() {
          const answers = await each({ type: 'slice', id })
          return answers.every((message) => {
            if (message.type !== 'sliced') throw failure(message)
            return message.done
          })
        },
        async finish() {
          const answers = await each({ type: 'finish', id })
          return answers.map((message) => {
            if (message.type !== 'result') throw failure(message)
            return message.result
          })
        },
        async abort() {
          await each({ type: 'abort', id })
        },
      }
    },
    async stop() {
      const exits = all
        .filter((child) => child.process.exitCode === null)
        .map((child) => new Promise((resolve) => child.process.once('exit', resolve)))
      for (const child of all) if (child.process.connected) child.process.send({ type: 'exit' })
      const timer = setTimeout(() => killAll(all), 5_000)
      await Promise.all(exits)
      clearTimeout(timer)
    },
    kill: () => killAll(all),
  }
}

/** Runs every system's turns in the same `count` child processes (`--shared-process --procs N`). */
export async function processRunner(count: number): Promise<TurnRunner> {
  const children = await startChildren(count)
  return childRunner(count, children, () => children)
}

/**
 * Runs each of `systemIds` in `count` child processes of its own, started now and kept for the whole run: a
 * system's code is optimized for its own calls only, as in an application (see `BenchOptions.isolate`).
 */
export async function isolatedRunner(systemIds: readonly string[], count: number): Promise<TurnRunner> {
  const children = await startChildren(systemIds.length * count)
  const bySystem = new Map(systemIds.map((id, i) => [id, children.slice(i * count, (i + 1) * count)]))
  return childRunner(count, children, (systemId) => {
    const own = bySystem.get(systemId)
    if (!own) throw new Error(`isolatedRunner: no processes for system ${systemId}.`)
    return own
  })
}
