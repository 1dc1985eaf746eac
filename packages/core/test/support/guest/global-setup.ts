import { guestRun } from '@getorcreate/test-support'
import { postgresProbe } from '@getorcreate/test-support/probes'
import { fixtureSpec } from './spec.js'

/** The global setup every package uses, with the figure the fixture run is given. */
export default guestRun({
  suite: 'the fixture tests',
  services: ['postgres'],
  postgres: { connections: fixtureSpec().need, probe: postgresProbe },
})
