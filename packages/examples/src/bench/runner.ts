/**
 * Where turns run: in this process, or spread over `--procs` child processes that are set up and warmed up
 * together and then run each slice together, so that their measured windows overlap. Several turns (a group's)
 * can be prepared at once; each is known by the id its preparer gave it.
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
      this.#exited = new Error(`A --procs child exited (code ${code}, signal ${signal}).`)
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
  if (message.type !== 'failed') return new Error(`Unexpected message from a --procs child: ${message.type}`)
  return message.tooManyConnections
    ? new TooManyConnectionsError(message.message.replace(/^.*\((.*)\)\.$/, '$1'))
    : new Error(message.message)
}

/**
 * Start `count` child processes (`node --import tsx worker.ts`, with `--conditions=@getorcreate/source` when this
 * process runs the sources: see `packages.ts`) and wait until they answer.
 */
export async function processRunner(count: number): Promise<TurnRunner> {
  const script = fileURLToPath(new URL('./worker.ts', import.meta.url))
  const children: Child[] = []
  let turns = 0
  const kill = () => {
    for (const child of children) if (child.process.exitCode === null) child.process.kill('SIGKILL')
  }
  try {
    for (let i = 0; i < count; i++) {
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
  } catch (error) {
    kill()
    throw error
  }
  return {
    processes: count,
    async prepare(specs) {
      const id = ++turns
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
      const exits = children
        .filter((child) => child.process.exitCode === null)
        .map((child) => new Promise((resolve) => child.process.once('exit', resolve)))
      for (const child of children) if (child.process.connected) child.process.send({ type: 'exit' })
      const timer = setTimeout(kill, 5_000)
      await Promise.all(exits)
      clearTimeout(timer)
    },
    kill,
  }
}
