import { packageTestConfig } from '../../vitest.base.mjs'

/**
 * `unit`: no service at all (the memory store, key validation, index matching, the compiler's messages, the
 * type tests); `integration`: the rest, against Postgres, PGlite, MariaDB and SQLite files, one file at a time.
 */
export default packageTestConfig({
  unit: [
    'test/compile-messages.test.ts',
    'test/conformance-local-lock.test.ts',
    'test/conformance-memory.test.ts',
    'test/facade.test.ts',
    'test/key.test.ts',
    'test/memory-store.test.ts',
    'test/unique-index-match.test.ts',
  ],
  typecheck: ['test/**/*.test-d.ts'],
  globalSetup: './test/global-setup.ts',
})
