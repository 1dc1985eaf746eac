import { guestRun } from '@getorcreate/test-support'
import { mysqlProbe, postgresProbe, redisProbe } from '@getorcreate/test-support/probes'

/**
 * The Postgres connections the redis-lock tests hold at most at once, this check's own included: the sum of
 * the pools open together (race.test.ts's 4 worker processes × 8 and its fixture's 2), which the teardown's
 * sampling confirms (it fails the run if the tests ever hold more). Measured peak: 34. MariaDB, 35:
 * fenced-load.test.ts's 4 worker processes × 8 and its table's pool of 2, and this check's own.
 */
export default guestRun({
  suite: 'the redis-lock tests',
  services: ['postgres', 'mysql', 'redis'],
  postgres: { connections: 37, probe: postgresProbe },
  mysql: { connections: 35, probe: mysqlProbe },
  redis: { probe: redisProbe },
})
