/**
 * The slice of an ioredis client the lock uses, declared here rather than imported, so that a `Redis` and a
 * `Cluster` from ioredis 5 or 6 both fit and the public types do not depend on ioredis internals.
 */
export interface RedisClientLike {
  /** ioredis's connection status; lock commands are sent only when it is `'ready'`. */
  readonly status: string
  /** `EVAL script numkeys ...keys ...args`: runs a script and loads it into the node's script cache. */
  eval(script: string, numkeys: number, ...args: (string | number)[]): Promise<unknown>
  /**
   * `EVALSHA sha1 numkeys ...keys ...args`: runs a script the node already holds, by the SHA1 of its source;
   * rejects with a `NOSCRIPT` error when the node does not hold it (then the lock sends `EVAL`).
   */
  evalsha(sha1: string, numkeys: number, ...args: (string | number)[]): Promise<unknown>
  /**
   * `INFO section`: with several clients, each node's `run_id` is read once (`INFO server`), at the first lock,
   * so that one node reached under two addresses is refused.
   */
  info?(section: string): Promise<unknown>
  /** Opens the connection of a `lazyConnect` client (status `'wait'`). */
  connect?(): Promise<void>
}
