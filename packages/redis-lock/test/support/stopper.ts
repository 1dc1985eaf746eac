/**
 * Faults for worker processes, for fenced-load.test.ts: stop one (SIGSTOP) for longer than a lock's TTL and
 * resume it (SIGCONT), at a write it announces or at random moments; and read what each prints, line by line,
 * run after run.
 */
import { createInterface } from 'node:readline'
import { setTimeout as delay } from 'node:timers/promises'
import type { Worker } from '@getorcreate/test-support'
import { between } from './seeded.js'

/** How many stops of each kind a run makes at most, and how long a stop lasts. */
export interface StopPlan {
  /** Stops at writes the workers announce. */
  readonly atWrites: number
  /** Stops at random moments. */
  readonly atRandom: number
  /** Each stop lasts between these, in milliseconds (both past the TTL). */
  readonly minMs: number
  readonly maxMs: number
}

/** Stops and resumes worker processes, for one run, and counts the stops. */
export class Stopper {
  readonly #workers: readonly Worker[]
  readonly #random: () => number
  readonly #plan: StopPlan
  readonly #stopped = new Set<number>()
  readonly #resumes = new Set<NodeJS.Timeout>()
  /** Stops made at announced writes. */
  writeStops = 0
  /** Stops made at random moments. */
  randomStops = 0

  constructor(workers: readonly Worker[], random: () => number, plan: StopPlan) {
    this.#workers = workers
    this.#random = random
    this.#plan = plan
  }

  /** Stop worker `w` for a while, unless it is stopped already or has exited. */
  #stop(w: number): boolean {
    const child = this.#workers[w]!.child
    if (this.#stopped.has(w) || child.exitCode !== null) return false
    child.kill('SIGSTOP')
    this.#stopped.add(w)
    const resume = setTimeout(
      () => {
        this.#resumes.delete(resume)
        this.#stopped.delete(w)
        child.kill('SIGCONT')
      },
      between(this.#random, this.#plan.minMs, this.#plan.maxMs),
    )
    this.#resumes.add(resume)
    return true
  }

  /** Worker `w` is about to send a write: stop it there, while the run's share of such stops lasts. */
  atWrite(w: number): void {
    if (this.writeStops < this.#plan.atWrites && this.#stop(w)) this.writeStops++
  }

  /** Stop a random worker every 150–500 ms while `running(w)` holds for some, up to the run's share. */
  async atRandom(running: (w: number) => boolean): Promise<void> {
    const any = () => this.#workers.some((_, w) => running(w))
    while (any() && this.randomStops < this.#plan.atRandom) {
      await delay(between(this.#random, 150, 500))
      const w = between(this.#random, 0, this.#workers.length - 1)
      if (running(w) && this.#stop(w)) this.randomStops++
    }
  }

  /** Resume every stopped worker now. */
  resumeAll(): void {
    for (const resume of this.#resumes) clearTimeout(resume)
    this.#resumes.clear()
    for (const w of this.#stopped) this.#workers[w]!.child.kill('SIGCONT')
    this.#stopped.clear()
  }
}

/** The lines a worker prints, read in order, each once; `onLine` sees every line as it comes. */
export class WorkerLines {
  readonly #worker: Worker
  readonly #lines: string[] = []
  #cursor = 0
  #wake: (() => void) | undefined

  constructor(worker: Worker, onLine: (line: string) => void) {
    this.#worker = worker
    createInterface({ input: worker.child.stdout }).on('line', (line) => {
      onLine(line)
      this.#lines.push(line)
      this.#wake?.()
    })
  }

  /** The next line, after those already read, that starts with `prefix`; rejects if the worker exits first. */
  async next(prefix: string): Promise<string> {
    for (;;) {
      while (this.#cursor < this.#lines.length) {
        const line = this.#lines[this.#cursor++]!
        if (line.startsWith(prefix)) return line
      }
      const exited = this.#worker.done.then(
        () => Promise.reject(new Error(`the worker exited before it printed "${prefix}…"`)),
        (error: unknown) => Promise.reject(error),
      )
      await Promise.race([new Promise<void>((resolve) => (this.#wake = resolve)), exited])
    }
  }
}
