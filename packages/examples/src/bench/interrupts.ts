/**
 * Ctrl-C (or SIGTERM) during a run: the first asks it to stop after the running turn and clean up, a second
 * quits at once. Child processes the run started are killed however the process ends.
 */

/** Watches the signals from construction until {@link RunGuard.releaseSignals}. */
export class RunGuard {
  #interrupted = false
  readonly #kills: (() => void)[] = []

  readonly #onSignal = () => {
    if (this.#interrupted) {
      this.#killAll()
      process.exit(130)
    }
    this.#interrupted = true
    process.stderr.write(
      '\nInterrupted: stopping after this turn and cleaning up (Ctrl-C again to quit now).\n',
    )
  }

  readonly #killAll = () => {
    for (const kill of this.#kills) kill()
  }

  constructor() {
    process.on('SIGINT', this.#onSignal)
    process.on('SIGTERM', this.#onSignal)
    process.on('exit', this.#killAll)
  }

  /** True once a signal asked the run to stop. */
  get interrupted(): boolean {
    return this.#interrupted
  }

  /** Call `kill` (synchronous: it stops child processes) when the process exits or is interrupted twice. */
  onExit(kill: () => void): void {
    this.#kills.push(kill)
  }

  /** Stop watching the signals: the run is cleaning up. */
  releaseSignals(): void {
    process.off('SIGINT', this.#onSignal)
    process.off('SIGTERM', this.#onSignal)
  }

  /** Stop killing at exit: what there was to kill has stopped. */
  releaseExit(): void {
    process.off('exit', this.#killAll)
  }
}
