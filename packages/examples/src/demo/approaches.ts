/**
 * What the demo races: the code most people write first (find, then insert), alone and inside a transaction,
 * and `getOrCreate` with each strategy. Each approach names the table it needs; given one, it makes the call.
 */
import { getOrCreate, type Strategy } from '@getorcreate/core'
import { type AnyPgDatabase, drizzleStore } from '@getorcreate/core/drizzle'
import { redisLockStrategy } from '@getorcreate/redis-lock'
import { eq } from 'drizzle-orm'
import type { Redis } from 'ioredis'
import { type SlugIndex, tagsTable } from '../tags.js'

/** What one call answered: the id of the row the caller was given, and whether it created that row. */
interface Answer {
  readonly id: number
  readonly created: boolean
}

/** A way to get or create a tag by its slug. */
export interface Approach {
  /** What the table shows. */
  readonly name: string
  /** True for ours: any duplicate, extra created flag or split id is a failure. */
  readonly mustBeExact: boolean
  /** How `slug` is indexed in the table it runs on. */
  readonly slugIndex: SlugIndex
  /** The call, on the `tags` table named `table`. */
  callOn(table: string): (slug: string) => Promise<Answer>
}

type Tags = ReturnType<typeof tagsTable>

/** The code most people write first: SELECT by key; none, INSERT. */
async function findThenInsert(db: AnyPgDatabase, tags: Tags, slug: string): Promise<Answer> {
  const [found] = await db.select().from(tags).where(eq(tags.slug, slug)).limit(1)
  if (found) return { id: found.id, created: false }
  const [row] = await db.insert(tags).values({ slug, label: slug }).returning()
  return { id: row!.id, created: true }
}

/** Naive find-then-insert, on a table without a unique index. */
export function naive(db: AnyPgDatabase): Approach {
  return {
    name: 'naive find-then-insert',
    mustBeExact: false,
    slugIndex: 'none',
    callOn(table) {
      const tags = tagsTable(table)
      return (slug) => findThenInsert(db, tags, slug)
    },
  }
}

/** The same inside a transaction (READ COMMITTED): it does not help. */
export function naiveInTransaction(db: AnyPgDatabase): Approach {
  return {
    name: 'naive, inside a transaction',
    mustBeExact: false,
    slugIndex: 'none',
    callOn(table) {
      const tags = tagsTable(table)
      return (slug) => db.transaction((tx) => findThenInsert(tx, tags, slug))
    },
  }
}

/**
 * `getOrCreate` with `strategy` (default: the constraint strategy) on a table whose `slug` has `slugIndex`,
 * shown as `name` and held to our rule (`mustBeExact`: any duplicate, extra created flag, split id or error
 * fails the run). The demo's own rows are made with it; so is the row of a deliberately broken strategy in
 * the test of the demo's failure detector (`DemoOptions.moreStrategies`).
 */
export function withStrategy(
  db: AnyPgDatabase,
  name: string,
  slugIndex: SlugIndex,
  strategy?: Strategy,
): Approach {
  return {
    name,
    mustBeExact: true,
    slugIndex,
    callOn(table) {
      const store = drizzleStore(db, tagsTable(table))
      return async (slug) => {
        const { row, created } = await getOrCreate(store, { slug }, { label: slug }, strategy)
        return { id: row.id, created }
      }
    },
  }
}

/** `getOrCreate` with the default constraint strategy, on a table with a unique index on `slug`. */
export function withUniqueIndex(db: AnyPgDatabase): Approach {
  return withStrategy(db, 'getOrCreate (unique index)', 'unique')
}

/** `getOrCreate` with the Redis-lock strategy on `redis`, on a table without a unique index. */
export function withRedisLock(db: AnyPgDatabase, redis: Redis): Approach {
  return withStrategy(
    db,
    'getOrCreate (Redis lock, no unique index)',
    'none',
    redisLockStrategy({ clients: redis }),
  )
}
