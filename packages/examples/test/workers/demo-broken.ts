/**
 * A child process of test/demo.test.ts: `pnpm demo`'s own main ({@link demoMain}, with its verdict and exit
 * code) on embedded PGlite, with one more `getOrCreate` row over a strategy broken on purpose (the test-only
 * `moreStrategies` option), so that the test can prove the demo exits non-zero, naming that row, when a
 * strategy held to our rule produces a duplicate or a wrong answer. Its job (one JSON argument) names the
 * breakage; the demo's own sizes are cut so the run takes a few seconds, and Redis is left out.
 *
 * - `'always-inserts'`: inserts on every call, never reads: duplicate rows, a `created: true` per call, and
 *   every caller of a key given another id, on a table without a unique index;
 * - `'claims-created'`: the constraint strategy, exact rows, but every call answers `created: true`: no
 *   duplicate row, a wrong answer only;
 * - `'none'`: no extra row, the control: the same run exits 0.
 */
import { constraintStrategy, type Strategy } from '@getorcreate/core'
import { workerJob } from '@getorcreate/test-support'
import { type DemoStrategy, demoMain } from '../../src/demo.js'

/** What the parent asks for. */
export interface DemoBrokenJob {
  readonly broken: 'always-inserts' | 'claims-created' | 'none'
}

/** Inserts on every call, never reads first: the breakage the demo must catch first of all. */
const alwaysInserts: Strategy = {
  name: 'always-inserts',
  async getOrCreate(store, _key, values) {
    return { row: await store.insert(await values()), created: true }
  },
}

/** The constraint strategy, whose every answer claims `created: true`: right rows, wrong answers. */
function claimsCreated(): Strategy {
  const inner = constraintStrategy({ singleFlight: false })
  return {
    name: 'claims-created',
    async getOrCreate(store, key, values) {
      const { row } = await inner.getOrCreate(store, key, values)
      return { row, created: true }
    },
  }
}

/** The broken strategy of each job, as a demo row. */
const BROKEN: Record<Exclude<DemoBrokenJob['broken'], 'none'>, DemoStrategy> = {
  'always-inserts': {
    name: 'getOrCreate (broken on purpose: always inserts)',
    slugIndex: 'none',
    strategy: alwaysInserts,
  },
  'claims-created': {
    name: 'getOrCreate (broken on purpose: always says created)',
    slugIndex: 'unique',
    strategy: claimsCreated(),
  },
}

const { broken } = workerJob<DemoBrokenJob>()
await demoMain({
  databaseUrl: undefined, // embedded PGlite: no connection of the shared Postgres
  redisUrl: 'redis://127.0.0.1:1', // nothing answers there: the Redis-lock row is left out, with its note
  keys: 20,
  callersPerKey: 4,
  concurrency: 8,
  moreStrategies: broken === 'none' ? [] : [BROKEN[broken]],
})
