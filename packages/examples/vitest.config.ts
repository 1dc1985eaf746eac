import { packageTestConfig } from '../../vitest.base.mjs'

/**
 * `unit`: the stress run's checker over made-up histories, and its fault schedule. Every other examples test runs an example, the
 * demo, the bench or the stress run against Postgres (or PGlite), MariaDB, Redis or a SQLite file: all are
 * `integration`, one file at a time.
 */
export default packageTestConfig({
  unit: ['test/stress-checker.test.ts', 'test/stress-schedule.test.ts'],
  globalSetup: './test/global-setup.ts',
})
