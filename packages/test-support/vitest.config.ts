import { packageTestConfig } from '../../vitest.base.mjs'

/** `unit`: test-support's own tests, of what needs no service (the bounded runner, the seeded shuffle, the rerun after a WebAssembly crash). */
export default packageTestConfig({
  unit: ['test/concurrency.test.ts', 'test/workers.test.ts'],
})
