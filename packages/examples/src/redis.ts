import { Redis } from 'ioredis'

/**
 * An ioredis client for `url` that fails fast instead of queueing and retrying (ioredis's defaults wait for
 * tens of seconds when Redis is down): undefined when nothing answers within `timeoutMs`.
 */
export async function connectRedis(url: string, timeoutMs = 1_000): Promise<Redis | undefined> {
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: timeoutMs,
    retryStrategy: (attempt) => (attempt > 3 ? null : 100),
  })
  client.on('error', () => {}) // reported by connect() below; later errors surface on the commands
  try {
    await client.connect()
    await client.ping()
    return client
  } catch {
    client.disconnect()
    return undefined
  }
}
