import { guestRun } from '@getorcreate/test-support'
import { mysqlProbe, postgresProbe, redisProbe } from '@getorcreate/test-support/probes'
import Database from 'better-sqlite3'

/**
 * The connections the examples' tests hold at most at once, this check's own included: the sum of the pools
 * open together, which the teardown's sampling confirms for Postgres (it fails the run if the tests ever hold
 * more). Postgres, 35: demo.test.ts runs the demo with a pool of 32 and a raw pool of 2; measured peak 34.
 * MariaDB, 21: the mariadb example's pool of 20 callers; measured peak 21.
 */
export default guestRun({
  suite: 'the examples tests',
  services: ['postgres', 'mysql', 'redis'],
  postgres: { connections: 35, probe: postgresProbe },
  mysql: { connections: 21, probe: mysqlProbe },
  redis: { probe: redisProbe },
  native: { name: 'better-sqlite3', open: () => new Database(':memory:').close() },
})
