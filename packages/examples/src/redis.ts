/** The one way the examples, the demo and the bench open Redis clients, and close them. */
import { Redis, type RedisOptions } from 'ioredis'

/**
 * A dedicated lock connection: no offline queue, so that a Redis outage fails a call at once instead of queueing
 * it (ioredis's defaults wait for tens of seconds when Redis is down), and `maxRetriesPerRequest: 0`, so that a
 * command cut off by a dropped connection fails instead of being resent once reconnected (the lock strategy
 * refuses a client that can resend).
 */
export const LOCK_CONNECTION: RedisOptions = { enableOfflineQueue: false, maxRetriesPerRequest: 0 }

/** No Redis answered at a URL within the time allowed. */
export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError'
}

/**
 * An ioredis client for `url` that is ready (connected, and past ioredis's ready check), or a
 * {@link RedisUnavailableError} within `timeoutMs` that says which Redis did not answer and why:
 * `No Redis answers at redis://…: connect ECONNREFUSED …`. The client never emits unhandled `'error'` events:
 * later failures surface on the commands.
 *
 * @param options - ioredis options; the default is {@link LOCK_CONNECTION}. Give `{}` for ioredis's own
 *   defaults (offline queue, 20 retries), as clients that other libraries' READMEs show are made.
 */
export async function connectRedis(
  url: string,
  options: RedisOptions = LOCK_CONNECTION,
  timeoutMs = 3_000,
): Promise<Redis> {
  const client = new Redis(url, { ...options, lazyConnect: true })
  client.on('error', () => {}) // connect() below reports the first failure; later ones reject the commands
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      client.connect(),
      new Promise((_, reject) => {
        timer = setTimeout(reject, timeoutMs, new Error('timed out'))
      }),
    ])
    return client
  } catch (error) {
    client.disconnect()
    throw new RedisUnavailableError(
      `No Redis answers at ${url}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    )
  } finally {
    clearTimeout(timer)
  }
}

/**
 * {@link connectRedis} to every URL at once (the nodes of a Redlock): every client ready, or the first
 * {@link RedisUnavailableError}, with the clients that did connect closed.
 */
export async function connectRedisNodes(
  urls: readonly string[],
  options: RedisOptions = LOCK_CONNECTION,
): Promise<Redis[]> {
  const settled = await Promise.allSettled(urls.map((url) => connectRedis(url, options)))
  const clients = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []))
  const failed = settled.find((result) => result.status === 'rejected')
  if (failed) {
    await quitRedis(clients)
    throw failed.reason
  }
  return clients
}

/** Close ioredis clients politely (QUIT), or at once where that fails. */
export async function quitRedis(clients: readonly Redis[]): Promise<void> {
  await Promise.all(clients.map((client) => client.quit().catch(() => client.disconnect())))
}
