export { lockKeyFor } from './lock-key.js'
export type { RedisLockStrategyOptions } from './options.js'
export type { RedisClientLike } from './redis-client.js'
export { type RedisLockStrategy, redisLockStrategy } from './redis-lock-strategy.js'
