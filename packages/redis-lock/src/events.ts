import diagnosticsChannel from 'node:diagnostics_channel'
import { DIAGNOSTICS_CHANNELS, type LockEvent, type LockNodeFailedEvent } from '@getorcreate/core'

/**
 * The `getorcreate:lock:*` channels (see "Observability" in the README): a message is made only while its
 * channel has a subscriber.
 */
export const lockChannels = {
  acquired: diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.lockAcquired),
  extended: diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.lockExtended),
  lost: diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.lockLost),
  unavailable: diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.lockUnavailable),
  nodeFailed: diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.lockNodeFailed),
} as const

/** Publish `event()` on `channel` if anyone listens. */
export function publishLock(
  channel: diagnosticsChannel.Channel,
  event: () => LockEvent | LockNodeFailedEvent,
): void {
  if (channel.hasSubscribers) channel.publish(event())
}

/** Lock errors already told on a channel (by the acquire), so that an outer layer does not tell them twice. */
export const publishedErrors = new WeakSet<Error>()
