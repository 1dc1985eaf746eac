/**
 * Which copy of the getorcreate packages a bench process runs: the built ones (`dist/`, what users install) or
 * the TypeScript sources through tsx (`--conditions=@getorcreate/source`, as the tests and the demo run). The
 * two do not cost the same: tsx transforms with esbuild's `keepNames`, which wraps every function created at
 * run time (each closure of every call) in a `__name(fn, 'name')` call that defines its `name`, so the sources
 * spend more CPU per call than the built code. `pnpm bench` builds the packages and measures the built code.
 */
import { sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { WORKER_NODE_FLAGS } from '@getorcreate/test-support'

/** What this process runs: `'built'` when `@getorcreate/core` resolves outside its `src/`. */
export type PackagesRun = 'built' | 'sources'

/** {@link PackagesRun} for this process (`'sources'` where the module resolver cannot say, as under vitest). */
export function packagesRun(): PackagesRun {
  try {
    const resolved = fileURLToPath(import.meta.resolve('@getorcreate/core'))
    return resolved.includes(`${sep}src${sep}`) ? 'sources' : 'built'
  } catch {
    return 'sources'
  }
}

/** Node's flags for a child process that runs the same copy as this one: the workers' flags, less the condition. */
export function childNodeFlags(run: PackagesRun = packagesRun()): readonly string[] {
  return run === 'built'
    ? WORKER_NODE_FLAGS.filter((flag) => !flag.startsWith('--conditions='))
    : WORKER_NODE_FLAGS
}

/** What a run from the sources is told (on the console and in `results.md`). */
export const SOURCES_NOTE =
  'the TypeScript sources through tsx, which cost more CPU per call than the built packages (tsx keeps ' +
  'function names by wrapping every closure; see packages.ts); `pnpm bench` builds and measures the built ones'
