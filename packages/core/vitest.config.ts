import { defineConfig } from 'vitest/config'

export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    // Integration files share one Postgres (max_connections = 100) and race with pools of 64:
    // one file at a time keeps every race honest and under the server's limit.
    fileParallelism: false,
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'] },
  },
})
