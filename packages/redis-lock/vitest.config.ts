import { packageTestConfig } from '../../vitest.base.mjs'

/**
 * `unit`: the lock key and its formula, which need no service; `integration`: the rest, against Postgres, the local Redis and
 * `redis-server` processes of their own, one file at a time.
 */
export default packageTestConfig({
  unit: ['test/lock-key.test.ts', 'test/lock-key-formula.test.ts'],
  globalSetup: './test/global-setup.ts',
})
