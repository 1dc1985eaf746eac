import { defineConfig } from 'vitest/config'

/**
 * A small vitest project run by test/guest.test.ts in a child process, to watch what a whole run prints
 * when the global setup's checks (guest.ts of @getorcreate/test-support) fail. Its test file is not a `*.test.ts`, so the
 * package's own run does not pick it up.
 */
export default defineConfig({
  test: {
    include: ['*.fixture.ts'],
    globalSetup: ['./global-setup.ts'],
    testTimeout: 30_000,
  },
})
