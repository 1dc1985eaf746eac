import { defineConfig } from 'vitest/config'

export default defineConfig({
  resolve: { conditions: ['@getorcreate/source'] },
  ssr: { resolve: { conditions: ['@getorcreate/source'] } },
  test: {
    // Integration files share one Postgres (and MariaDB) with whoever else uses it, and race with pools of
    // up to 32: one file at a time keeps every race honest and the connections at the figure the global
    // setup checks before the run (guest.ts of @getorcreate/test-support).
    fileParallelism: false,
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'] },
  },
})
