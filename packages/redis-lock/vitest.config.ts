import { packageTestConfig } from '../../vitest.base.mjs'

/**
 * `unit`: the lock key, which needs no service; `integration`: the rest, against Postgres, the local Redis and
 * `redis-server` processes of their own, one file at a time.
 */
export default packageTestConfig({
  unit: ['test/lock-key.test.ts'],
  globalSetup: './test/global-setup.ts',
})
