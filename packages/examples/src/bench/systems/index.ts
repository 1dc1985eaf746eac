/** Every system of the bench, in the order the tables show them. */
import type { System } from '../system.js'
import { floorInsert, floorSelect } from './floors.js'
import {
  oursAdvisoryLock,
  oursConstraint,
  oursConstraintObserved,
  oursConstraintUnbatched,
  oursConstraintUnbatchedWrites,
  oursConstraintUnshared,
  oursRedisLock,
  oursRedisLockFenced,
  oursRedisLockTrio,
  oursRedisLockTrioFenced,
} from './ours.js'
import {
  knexInsertIgnore,
  mikroOrmUpsert,
  sequelizeFindCreateFind,
  sequelizeFindOrCreate,
} from './peers-orm.js'
import { advisoryLock, django, naive, naiveTransaction, redisMutex, redisRedlockTrio } from './peers-sql.js'

/** All systems: ours, then the peers, then the floors. */
export const allSystems: readonly System[] = [
  oursConstraint,
  oursConstraintUnshared,
  oursConstraintUnbatched,
  oursConstraintUnbatchedWrites,
  oursConstraintObserved,
  oursAdvisoryLock,
  oursRedisLock,
  oursRedisLockFenced,
  oursRedisLockTrio,
  oursRedisLockTrioFenced,
  naive,
  naiveTransaction,
  django,
  sequelizeFindOrCreate,
  sequelizeFindCreateFind,
  knexInsertIgnore,
  mikroOrmUpsert,
  redisMutex,
  redisRedlockTrio,
  advisoryLock,
  floorSelect,
  floorInsert,
]

/** The system with this id. @throws Error naming the known ids. */
export function systemById(id: string): System {
  const system = allSystems.find((candidate) => candidate.id === id)
  if (!system) {
    throw new Error(`Unknown system "${id}". Known: ${allSystems.map((known) => known.id).join(', ')}.`)
  }
  return system
}
