/**
 * The bench measures the code it says it measures: run as `pnpm bench` runs it (`node --import tsx`, no
 * source condition) it loads the built packages and starts its `--procs` children the same way; run with
 * `--conditions=@getorcreate/source` it loads the sources, and its children do too. (The built packages exist
 * here: `pnpm test` builds before it tests.)
 */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { WORKER_NODE_FLAGS } from '@getorcreate/test-support'
import { expect, test } from 'vitest'
import { packagesRun } from '../src/bench/packages.js'

const script = fileURLToPath(new URL('./workers/packages-run.ts', import.meta.url))

function report(flags: readonly string[]): { run: string; flags: string[] } {
  return JSON.parse(execFileSync(process.execPath, [...flags, script], { encoding: 'utf8' }))
}

test('without the source condition: the built packages, and children started without it', () => {
  expect(report(['--import', 'tsx'])).toEqual({ run: 'built', flags: ['--import', 'tsx'] })
})

test('with the source condition: the sources, and children started with it', () => {
  expect(report(WORKER_NODE_FLAGS)).toEqual({ run: 'sources', flags: [...WORKER_NODE_FLAGS] })
})

test('under vitest, which resolves the workspace to its sources: the sources', () => {
  expect(packagesRun()).toBe('sources')
})
