/**
 * The subscriber of the README's "Observability", verbatim below this comment (`pnpm run docs` checks that the
 * two are the same), so the typecheck proves that it compiles as printed.
 */
import diagnosticsChannel from 'node:diagnostics_channel'
import { DIAGNOSTICS_CHANNELS, type GetOrCreateTrace } from '@getorcreate/core'

const counts = new Map<string, number>() // outcome → calls, per store

diagnosticsChannel.tracingChannel<unknown, GetOrCreateTrace>(DIAGNOSTICS_CHANNELS.getOrCreate).subscribe({
  start() {},
  end() {},
  asyncStart() {},
  error() {},
  asyncEnd(trace) {
    const name = `${trace.store} ${trace.outcome}`
    counts.set(name, (counts.get(name) ?? 0) + 1)
  },
})
