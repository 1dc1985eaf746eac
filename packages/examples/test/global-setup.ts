import { guestRun } from '@getorcreate/test-support'
import { mysqlProbe, postgresProbe, redisProbe } from '@getorcreate/test-support/probes'
import Database from 'better-sqlite3'

/**
 * The connections the examples' tests hold at most at once, this check's own included: the sum of the pools
 * open together, which the teardown's sampling confirms for Postgres (it fails the run if the tests ever hold
 * more). Postgres, 35: demo.test.ts runs the demo with a pool of 32 and a raw pool of 2; measured peak 34.
 * MariaDB, 21: the mariadb example's pool of 20 callers; measured peak 21. stress.test.ts stays inside both:
 * 4 workers × (postgres.js 3 + node-postgres 3 + 2 statement_timeout sessions) + 2 = 34 Postgres connections,
 * 4 × 3 + 2 = 14 MariaDB ones; its Postgres sessions carry the stress run's own application_name (the
 * terminate waves look for it), so the sampler does not count them.
 */
export default guestRun({
  suite: 'the examples tests',
  services: ['postgres', 'mysql', 'redis'],
  postgres: { connections: 35, probe: postgresProbe },
  mysql: { connections: 21, probe: mysqlProbe },
  redis: { probe: redisProbe },
  native: { name: 'better-sqlite3', open: () => new Database(':memory:').close() },
})
