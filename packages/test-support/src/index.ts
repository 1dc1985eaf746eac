/**
 * `@getorcreate/test-support`: what the tests of every package share (private, consumed as TypeScript
 * sources). This entry loads no database driver, so unit tests, worker processes, the demo and the bench can
 * use it freely:
 * - names.ts: the run's tag and the names that carry it;
 * - services.ts: where the services are, and their URLs for tests and workers;
 * - guest.ts: the checks of a package's global setup (free connections, the connection peak, leftovers),
 *   with guest-connections.ts (connection budgets, the peak sampler) and guest-leftovers.ts (what a run left);
 * - concurrency.ts: the bounded concurrent runner and the seeded shuffle;
 * - race.ts: the race invariants, counted exactly;
 * - sql.ts: the WHERE clause of the tests' counting queries;
 * - workers.ts: worker processes that start together (ready / go), and the one rerun of a child that met
 *   V8's WebAssembly crash.
 *
 * Apart: `@getorcreate/test-support/probes` (the guest checks' connections: postgres.js, mysql2, ioredis),
 * `@getorcreate/test-support/redis-nodes` (`redis-server` processes and ioredis clients) and
 * `@getorcreate/test-support/arbitraries` (fast-check). The vitest configuration the packages share is
 * vitest.base.mts at the repository root.
 */
export * from './concurrency.js'
export * from './guest.js'
export * from './guest-connections.js'
export * from './guest-leftovers.js'
export * from './names.js'
export * from './race.js'
export * from './services.js'
export * from './sql.js'
export * from './workers.js'
