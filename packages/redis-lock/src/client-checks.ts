/**
 * The clients and the key prefix, checked when the strategy is made: settings with which a lock cannot be safe
 * are refused with `LOCK_MISCONFIGURED` rather than discovered as a second row.
 */
import { LockMisconfiguredError } from '@getorcreate/core'
import type { RedisClientLike } from './redis-client.js'

/** The ioredis options the checks read (`client.options`; a `Cluster`'s node options in `redisOptions`). */
interface ClientOptions {
  readonly maxRetriesPerRequest?: unknown
  readonly autoResendUnfulfilledCommands?: unknown
  readonly retryStrategy?: unknown
  readonly keyPrefix?: unknown
  readonly host?: unknown
  readonly port?: unknown
  readonly path?: unknown
  readonly redisOptions?: ClientOptions
}

function optionsOf(client: RedisClientLike): ClientOptions | undefined {
  const options = (client as { options?: unknown }).options
  return typeof options === 'object' && options !== null ? (options as ClientOptions) : undefined
}

/** True for an ioredis `Cluster` (`isCluster`), whose commands go to the node that owns each key's slot. */
export function isCluster(client: RedisClientLike): boolean {
  return (client as { isCluster?: unknown }).isCluster === true
}

/**
 * `host:port` (or the socket path) a `Redis` client connects to, from its options; `undefined` for a
 * `Cluster`, a Sentinel client, or a client whose options do not say.
 */
function addressOf(client: RedisClientLike): string | undefined {
  if (isCluster(client)) return undefined
  const options = optionsOf(client)
  if (options === undefined || Array.isArray((options as { sentinels?: unknown }).sentinels)) return undefined
  if (typeof options.path === 'string' && options.path !== '') return options.path
  if (typeof options.host === 'string' && typeof options.port === 'number') {
    return `${options.host}:${options.port}`
  }
  return undefined
}

/**
 * True when ioredis may send a command again after the connection it went out on closed unanswered: it keeps
 * such commands and resends them once reconnected (`autoResendUnfulfilledCommands`, default `true`) unless
 * `maxRetriesPerRequest` is `0`, which fails them at the close. A resent acquire lands after the strategy
 * gave up on it, and holds the key for a whole TTL with a token nobody owns.
 */
function canResend(options: ClientOptions): boolean {
  if (typeof options.retryStrategy !== 'function') return false // never reconnects: the close fails them
  return options.autoResendUnfulfilledCommands !== false && options.maxRetriesPerRequest !== 0
}

/** The reason `client` is unsafe for the lock, or `undefined`. */
function unsafeSetting(client: RedisClientLike): string | undefined {
  const options = optionsOf(client)
  if (options === undefined) return undefined
  const prefix = isCluster(client)
    ? (options.keyPrefix ?? options.redisOptions?.keyPrefix)
    : options.keyPrefix
  if (typeof prefix === 'string' && prefix !== '') {
    return (
      `has keyPrefix '${prefix}': ioredis would prefix every lock key again, so writers whose clients have ` +
      'different prefixes would take different locks for one key. Give the strategy a client without ' +
      "keyPrefix (e.g. client.duplicate({ keyPrefix: '' })); to namespace locks, use the strategy's own keyPrefix"
    )
  }
  if (!isCluster(client) && canResend(options)) {
    return (
      `can resend a lock command after reconnecting (maxRetriesPerRequest: ${String(options.maxRetriesPerRequest)}, ` +
      `autoResendUnfulfilledCommands: ${String(options.autoResendUnfulfilledCommands)}): an acquire cut off ` +
      'by a dropped connection would run after the strategy gave up on it, and lock the key for a whole TTL ' +
      'with a token nobody holds. Create the lock client with maxRetriesPerRequest: 0 (and enableOfflineQueue: ' +
      'false)'
    )
  }
  return undefined
}

/**
 * `clients`, checked: each at most once, each of its own Redis node (by `host:port`), none able to resend a
 * cut-off lock command, none with a key prefix of its own.
 *
 * @throws LockMisconfiguredError naming the client and what to set.
 */
export function checkClients(clients: readonly RedisClientLike[]): void {
  if (new Set(clients).size !== clients.length) {
    throw new LockMisconfiguredError(
      'redisLockStrategy: clients holds one client more than once. Each must talk to its own independent ' +
        'Redis node: a node counted twice makes a quorum of one node look like a majority.',
    )
  }
  const seen = new Map<string, number>()
  clients.forEach((client, index) => {
    const address = addressOf(client)
    if (address === undefined) return
    const first = seen.get(address)
    if (first !== undefined) {
      throw new LockMisconfiguredError(
        `redisLockStrategy: clients ${first + 1} and ${index + 1} both connect to ${address}: one Redis node ` +
          'given twice would count twice towards the majority. Give one client per independent node.',
      )
    }
    seen.set(address, index)
  })
  clients.forEach((client, index) => {
    const why = unsafeSetting(client)
    if (why !== undefined) {
      const which = clients.length === 1 ? 'the client' : `client ${index + 1} of ${clients.length}`
      throw new LockMisconfiguredError(`redisLockStrategy: ${which} ${why}.`)
    }
  })
}

/**
 * The Redis Cluster hash tag of `key`, as Redis finds it: what lies between the first `{` and the first `}`
 * after it, if that is not empty; else `undefined` (the whole key is hashed).
 */
function hashTagOf(key: string): string | undefined {
  const open = key.indexOf('{')
  if (open === -1) return undefined
  const close = key.indexOf('}', open + 1)
  if (close === -1 || close === open + 1) return undefined
  return key.slice(open + 1, close)
}

/**
 * `keyPrefix`, checked: a string with which every lock key keeps a hash tag, so that the lock and its fencing
 * counter (`<lock key>:fence`) share one Redis Cluster slot. An empty `{}` in the prefix makes Redis hash the
 * whole key: the two land in different slots, and every fenced write fails (`CROSSSLOT`).
 *
 * @throws LockMisconfiguredError for a prefix that is not a string, or that leaves lock keys without a hash tag.
 */
export function checkedKeyPrefix(keyPrefix: unknown, fallback: string): string {
  const prefix = keyPrefix ?? fallback
  if (typeof prefix !== 'string') {
    throw new LockMisconfiguredError(`redisLockStrategy: keyPrefix must be a string, got ${typeof prefix}.`)
  }
  const sample = `${prefix}{${'0'.repeat(64)}}`
  if (hashTagOf(sample) === undefined) {
    throw new LockMisconfiguredError(
      `redisLockStrategy: keyPrefix '${prefix}' holds an empty '{}': Redis Cluster would hash each lock key ` +
        'whole, so a lock and its fencing counter (<lock key>:fence) would land in different slots and every ' +
        "fenced write would fail (CROSSSLOT). Remove the '{}' (a non-empty '{tag}' pins every lock to one slot).",
    )
  }
  return prefix
}
