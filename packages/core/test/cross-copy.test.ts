/**
 * Errors across real copies of this package loaded in one process: the sources (as every test here loads
 * `@getorcreate/core`), the CommonJS build (`dist/index.cjs`, what `require('@getorcreate/core')` loads) and
 * the ESM build (`dist/index.js`, what `import` loads): three module instances, three `GetOrCreateError`
 * classes. An error thrown by one copy's `getOrCreate` fails every other copy's `instanceof` and passes its
 * `isGetOrCreateError`, which is why the README says to use the guard where two copies may be loaded.
 *
 * Needs the build: `pnpm test` builds every package first (turbo.json: `test` depends on `build`); run alone,
 * build first (`pnpm exec tsup` in packages/core). A missing build, or one whose exports differ from the
 * sources' (stale), fails here with that instruction rather than testing an old copy. An integration test for
 * that reason: `pnpm test:unit` runs with no build.
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import * as source from '@getorcreate/core'
import { beforeAll, describe, expect, test } from 'vitest'

/** The package's public runtime API, as each copy exports it. */
type Core = typeof source

const requireHere = createRequire(import.meta.url)
const dist = fileURLToPath(new URL('../dist/', import.meta.url))
const cjsFile = `${dist}index.cjs`
const esmFile = `${dist}index.js`
const BUILD_FIRST =
  'build @getorcreate/core first: `pnpm exec tsup` in packages/core (`pnpm test` builds before it tests)'

/** The copies, by name: the sources at once, the builds in `beforeAll`, once they are known to be there. */
const copies = new Map<string, Core>([['source', source]])

beforeAll(async () => {
  for (const file of [cjsFile, esmFile]) {
    expect(existsSync(file), `${file} is missing: ${BUILD_FIRST}`).toBe(true)
  }
  // The files a consumer gets from the package's "exports": require() the CommonJS build, import the ESM one.
  // (Loaded by path: these tests resolve the package with the "@getorcreate/source" condition, to the sources.)
  const manifest = requireHere('../package.json') as {
    exports: { '.': { require: { default: string }; import: { default: string } } }
  }
  expect(manifest.exports['.'].require.default).toBe('./dist/index.cjs')
  expect(manifest.exports['.'].import.default).toBe('./dist/index.js')
  copies.set('cjs build', requireHere(cjsFile) as Core)
  copies.set('esm build', (await import(pathToFileURL(esmFile).href)) as Core)
})

/** The errors a copy's own `getOrCreate` throws over its own `memoryStore`, writing nothing. */
async function errorsOf(core: Core): Promise<unknown[]> {
  const store = core.memoryStore<{ id: number; slug: string; title?: string }>({
    uniqueBy: [['slug']],
    autoIncrement: 'id',
  })
  const noUnique = core.memoryStore<{ id: number; slug: string }>()
  return Promise.all([
    core.getOrCreate(store, {} as never).catch((error: unknown) => error), // INVALID_KEY
    core.getOrCreate(store, { slug: 'a' }, { slug: 'b' } as never).catch((error: unknown) => error), // CONFLICTING_DEFAULTS
    core.getOrCreate(noUnique, { slug: 'a' }).catch((error: unknown) => error), // MISSING_UNIQUE_CONSTRAINT
  ])
}

/** What {@link errorsOf} throws, in order: each error's `code` and `name`. */
const EXPECTED = [
  ['INVALID_KEY', 'InvalidKeyError'],
  ['CONFLICTING_DEFAULTS', 'ConflictingDefaultsError'],
  ['MISSING_UNIQUE_CONSTRAINT', 'MissingUniqueConstraintError'],
]

describe('three copies of @getorcreate/core in one process', () => {
  test('the builds are those of these sources (same exports), and really other copies (other classes)', () => {
    expect([...copies.keys()]).toEqual(['source', 'cjs build', 'esm build'])
    for (const [name, core] of copies) {
      expect(Object.keys(core).sort(), `${name}'s exports differ from the sources': ${BUILD_FIRST}`).toEqual(
        Object.keys(source).sort(),
      )
    }
    const classes = new Set([...copies.values()].map((core) => core.GetOrCreateError))
    expect(classes.size).toBe(3)
  })

  for (const thrower of ['source', 'cjs build', 'esm build']) {
    test(`errors thrown by the ${thrower}'s getOrCreate: every other copy's isGetOrCreateError says yes, its instanceof no`, async () => {
      const own = copies.get(thrower) as Core
      const errors = await errorsOf(own)
      for (const [index, error] of errors.entries()) {
        expect(error).toBeInstanceOf(own.GetOrCreateError)
        expect(own.isGetOrCreateError(error) && [error.code, error.name]).toEqual(EXPECTED[index])
      }
      for (const [name, other] of copies) {
        if (other === own) continue
        for (const [index, error] of errors.entries()) {
          expect(error instanceof other.GetOrCreateError, `${name}'s instanceof`).toBe(false)
          expect(other.isGetOrCreateError(error), `${name}'s isGetOrCreateError`).toBe(true)
          // Narrowed by the other copy's guard, the stable fields read as documented.
          if (other.isGetOrCreateError(error)) {
            expect([error.code, error.name, error.retryable]).toEqual([...(EXPECTED[index] ?? []), false])
          }
        }
        // And the guard still says no to what is not one of them.
        expect(other.isGetOrCreateError(new Error('x'))).toBe(false)
        expect(other.isGetOrCreateError({ code: 'INVALID_KEY' })).toBe(false)
      }
    })
  }
})
