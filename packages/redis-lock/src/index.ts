export { lockKeyFor } from './lock-key.js'
export type { RedisClientLike } from './redis-client.js'
export {
  type RedisLockStrategy,
  type RedisLockStrategyOptions,
  redisLockStrategy,
} from './redis-lock-strategy.js'
