import { packageTestConfig } from '../../vitest.base.mjs'

/**
 * `unit`: none yet. Every examples test runs an example, the demo or the bench against Postgres (or PGlite),
 * MariaDB, Redis or a SQLite file: all are `integration`, one file at a time.
 */
export default packageTestConfig({
  unit: [],
  globalSetup: './test/global-setup.ts',
})
