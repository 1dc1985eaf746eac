/**
 * The vitest configuration every package's tests share, as tsconfig.base.json is the TypeScript one: two
 * projects, `unit` and `integration` (CONTRIBUTING.md, "Tests"). `vitest run` runs both (what `pnpm test`
 * does); `vitest run --project unit` runs only the files that need no service (what `pnpm test:unit` does, in
 * about half a minute, with every service down).
 *
 * A file at the root imported by relative path, not a module of @getorcreate/test-support: vite bundles a
 * config's relative imports but loads its package imports with plain Node, which cannot load TypeScript.
 */
import { configDefaults, type ViteUserConfig } from 'vitest/config'

/** The export condition under which workspace packages resolve to their TypeScript sources. */
const SOURCE_CONDITION = '@getorcreate/source'

/** What sets one package's tests apart, for {@link packageTestConfig}. */
export interface PackageTestOptions {
  /**
   * The `unit` project: test files (paths from the package root) that need no Postgres, MariaDB, Redis,
   * `redis-server`, PGlite or SQLite file, so they run without the global setup and in parallel. Every other
   * `*.test.ts` under `test/` is an integration test, so a new or renamed file that is not listed here still
   * runs in `pnpm test`.
   */
  readonly unit: readonly string[]
  /** Type tests (`*.test-d.ts`), run by vitest's typecheck in the `unit` project. */
  readonly typecheck?: readonly string[]
  /**
   * The `integration` project's global setup (`guestRun` of @getorcreate/test-support): it provides the
   * services and runs the guest checks around the run. None for a package whose tests are all `unit`
   * (test-support's own).
   */
  readonly globalSetup?: string
}

/**
 * A package's vitest configuration: workspace packages resolved to their sources, generous timeouts (the
 * races run thousands of calls on a shared, loaded machine), and the two projects. Integration files run one
 * at a time: they share one Postgres (and MariaDB) with whoever else uses it and race with pools of up to 32,
 * so one file at a time keeps every race honest and the connections at the figure the global setup checks
 * before the run. Unit files run first, in parallel, before the integration files start.
 */
export function packageTestConfig(options: PackageTestOptions): ViteUserConfig {
  const typecheck = options.typecheck ?? []
  return {
    resolve: { conditions: [SOURCE_CONDITION] },
    ssr: { resolve: { conditions: [SOURCE_CONDITION] } },
    test: {
      testTimeout: 120_000,
      hookTimeout: 120_000,
      projects: [
        {
          extends: true,
          test: {
            name: 'unit',
            include: [...options.unit],
            typecheck: { enabled: typecheck.length > 0, include: [...typecheck] },
          },
        },
        {
          extends: true,
          test: {
            name: 'integration',
            include: ['test/**/*.test.ts'],
            exclude: [...configDefaults.exclude, ...options.unit],
            globalSetup: options.globalSetup === undefined ? [] : [options.globalSetup],
            fileParallelism: false,
          },
        },
      ],
    },
  }
}
