import { guestRun } from '@getorcreate/test-support'
import { mysqlProbe, postgresProbe } from '@getorcreate/test-support/probes'
import Database from 'better-sqlite3'

/**
 * The connections the core tests hold at most at once, this check's own included: the sum of the pools open
 * together, which the teardown's sampling confirms (it fails the run if the tests ever hold more).
 * Postgres, 35: pg.test.ts's pool of 32 and raw pool of 2, or pg-processes.test.ts's 4 processes × 8 and its
 * 2; measured peak 34. MariaDB, 35: mysql-store.test.ts's pool of 32 and raw pool of 2, or
 * mysql-processes.test.ts's 4 processes × 8 and its 2; measured peak 34 (Max_used_connections).
 */
export default guestRun({
  suite: 'the core tests',
  services: ['postgres', 'mysql'],
  postgres: { connections: 35, probe: postgresProbe },
  mysql: { connections: 35, probe: mysqlProbe },
  native: { name: 'better-sqlite3', open: () => new Database(':memory:').close() },
})
