/**
 * The last resort of a run's network: when the process exits, or is stopped by Ctrl-C (SIGINT), SIGTERM or
 * SIGHUP, before `teardown` ran, the namespaces and links still held are removed synchronously. A crash that
 * no hook sees (SIGKILL, a kernel kill) leaves them to the next start, which removes leftovers by name.
 */
import { ipBatchSync } from './netns-ip.js'

const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']

/** The `ip` lines that remove each live network, by network. */
const held = new Map<object, readonly string[]>()

function removeAll(): void {
  const lines = [...held.values()].flat()
  held.clear()
  detach()
  ipBatchSync(lines)
}

/**
 * On a signal: remove everything, then let the signal do what it would have done without us. When the
 * program has listeners of its own for it, they decide (and the exit hook has nothing left to do); when
 * ours was the only one, the signal is raised again with the default action restored, and the process ends
 * as it would have.
 */
function onSignal(signal: NodeJS.Signals): void {
  removeAll()
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
}

function attach(): void {
  process.on('exit', removeAll)
  for (const signal of SIGNALS) process.on(signal, onSignal)
}

function detach(): void {
  process.off('exit', removeAll)
  for (const signal of SIGNALS) process.off(signal, onSignal)
}

/** Removes `lines` (the `ip` commands that delete a network) if the process ends before {@link release}. */
export function holdUntilExit(network: object, lines: readonly string[]): void {
  if (held.size === 0) attach()
  held.set(network, lines)
}

/** The network was torn down: nothing to do for it at exit any more. */
export function release(network: object): void {
  if (!held.delete(network)) return
  if (held.size === 0) detach()
}
