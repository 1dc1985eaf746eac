/**
 * Ours: `getOrCreate` with the constraint strategy, with the Postgres advisory-lock strategy, and with the
 * Redis-lock strategy on one and three nodes, on a plain store and on a fenced one.
 */
import diagnosticsChannel from 'node:diagnostics_channel'
import {
  advisoryLockStrategy,
  constraintStrategy,
  DIAGNOSTICS_CHANNELS,
  type GetOrCreateTrace,
  getOrCreate,
  type Strategy,
} from '@getorcreate/core'
import { drizzleStore, pgFencesTable } from '@getorcreate/core/drizzle'
import { redisLockStrategy } from '@getorcreate/redis-lock'
import { drizzle } from 'drizzle-orm/postgres-js'
import { connectRedis, connectRedisNodes, quitRedis } from '../../redis.js'
import { tagsTable } from '../../tags.js'
import type { OpenSystem, System, SystemContext } from '../system.js'
import { fencesTableFor } from '../tables.js'
import { postgresPool } from './connections.js'

async function withStrategy(
  ctx: SystemContext,
  strategy: Strategy,
  close: () => Promise<void>,
  { fenced = false }: { fenced?: boolean } = {},
): Promise<OpenSystem> {
  const sql = postgresPool(ctx.databaseUrl, ctx.pool)
  const fences = fenced ? pgFencesTable(fencesTableFor(ctx.table)) : undefined
  const store = drizzleStore(drizzle(sql), tagsTable(ctx.table), fences ? { fences } : {})
  return {
    async call(slug) {
      const { row, created } = await getOrCreate(store, { slug }, { label: slug }, strategy)
      return { id: row.id, created }
    },
    async teardown() {
      await sql.end({ timeout: 5 })
      await close()
    },
  }
}

/** `getOrCreate` with `constraintStrategy()` (the default) on a table with a unique index on the key. */
export const oursConstraint: System = {
  id: 'ours-constraint',
  name: 'ours: constraintStrategy',
  kind: 'ours',
  table: 'unique',
  reportsCreated: true,
  setup: (ctx) => withStrategy(ctx, constraintStrategy(), async () => {}),
}

/**
 * {@link oursConstraint} without the in-process single flight (`constraintStrategy({ singleFlight: false })`):
 * what single flight saves, or costs on hits.
 */
export const oursConstraintUnshared: System = {
  id: 'ours-constraint-unshared',
  name: 'ours: constraintStrategy, no single flight',
  kind: 'ours',
  table: 'unique',
  reportsCreated: true,
  workloads: ['miss-storm', 'burst', 'hits'],
  setup: (ctx) => withStrategy(ctx, constraintStrategy({ singleFlight: false }), async () => {}),
}

/**
 * {@link oursConstraint} without batched reads (`constraintStrategy({ batchReads: false })`): one `SELECT` per
 * call, what a hit costs on its own; beside it, what sending the reads of one turn together saves.
 */
export const oursConstraintUnbatched: System = {
  id: 'ours-constraint-unbatched',
  name: 'ours: constraintStrategy, no batched reads',
  kind: 'ours',
  table: 'unique',
  reportsCreated: true,
  workloads: ['hits'],
  setup: (ctx) => withStrategy(ctx, constraintStrategy({ batchReads: false }), async () => {}),
}

/**
 * {@link oursConstraint} without batched writes (`constraintStrategy({ batchWrites: false })`): one statement
 * per fresh key, where the one statements of a turn otherwise go together; what sending them together saves.
 */
export const oursConstraintUnbatchedWrites: System = {
  id: 'ours-constraint-unbatched-writes',
  name: 'ours: constraintStrategy, no batched writes',
  kind: 'ours',
  table: 'unique',
  reportsCreated: true,
  workloads: ['burst'],
  setup: (ctx) => withStrategy(ctx, constraintStrategy({ batchWrites: false }), async () => {}),
}

/** Where the observed system's subscriber keeps a call's start time on its trace context. */
const STARTED = Symbol('bench.started')

/**
 * {@link oursConstraint} with a subscriber on the `getorcreate:getOrCreate` tracing channel while its calls run,
 * as a metrics exporter would be: it counts each call's outcome and sums its duration. What observing getOrCreate costs, beside {@link oursConstraint}, which nobody observes.
 */
export const oursConstraintObserved: System = {
  id: 'ours-constraint-observed',
  name: 'ours: constraintStrategy, a subscriber attached',
  kind: 'ours',
  table: 'unique',
  reportsCreated: true,
  workloads: ['miss-storm', 'hits'],
  async setup(ctx) {
    const channel = diagnosticsChannel.tracingChannel<unknown, GetOrCreateTrace>(
      DIAGNOSTICS_CHANNELS.getOrCreate,
    )
    // Each call's start time on its context object, as Node's tracing subscribers keep a span (a WeakMap of
    // contexts costs more in garbage collection than the tracing it would measure).
    type Timed = GetOrCreateTrace & { [STARTED]?: number }
    const outcomes = new Map<string, { calls: number; ms: number }>()
    const handlers = {
      // Node requires no handler but these two; its typings want all five.
      end: () => undefined,
      asyncStart: () => undefined,
      error: () => undefined,
      start(trace: Timed) {
        trace[STARTED] = performance.now()
      },
      asyncEnd(trace: Timed) {
        const key = `${trace.outcome}:${trace.errorCode ?? ''}`
        const seen = outcomes.get(key) ?? { calls: 0, ms: 0 }
        seen.calls++
        seen.ms += performance.now() - (trace[STARTED] ?? performance.now())
        outcomes.set(key, seen)
      },
    }
    const open = await withStrategy(ctx, constraintStrategy(), async () => {
      channel.unsubscribe(handlers)
    })
    // Subscribed only while its own calls run: the subscriber is the whole process's, and the other systems
    // of its group run their slices in between.
    return {
      ...open,
      enter: () => channel.subscribe(handlers),
      leave: () => channel.unsubscribe(handlers),
    }
  },
}

/**
 * `getOrCreate` with `advisoryLockStrategy()` on a table without a unique index: no Redis, the creators of a
 * key serialized by `pg_advisory_xact_lock`; set against the peer that takes the lock on every call.
 */
export const oursAdvisoryLock: System = {
  id: 'ours-advisory-lock',
  name: 'ours: advisoryLockStrategy',
  kind: 'ours',
  table: 'plain',
  reportsCreated: true,
  workloads: ['miss-storm', 'burst', 'hits'],
  setup: (ctx) => withStrategy(ctx, advisoryLockStrategy(), async () => {}),
}

/** `getOrCreate` with `redisLockStrategy` on one Redis node (`REDIS_URL`), on a table without a unique index. */
export const oursRedisLock: System = {
  id: 'ours-redis-lock',
  name: 'ours: redisLockStrategy, 1 node',
  kind: 'ours',
  table: 'plain',
  reportsCreated: true,
  needs: 'redis',
  async setup(ctx) {
    const redis = await connectRedis(ctx.redisUrl)
    return withStrategy(ctx, redisLockStrategy({ clients: redis }), () => quitRedis([redis]))
  },
}

/** `getOrCreate` with `redisLockStrategy` on three independent Redis nodes (Redlock quorum of 2). */
export const oursRedisLockTrio: System = {
  id: 'ours-redis-lock-3',
  name: 'ours: redisLockStrategy, 3 nodes',
  kind: 'ours',
  table: 'plain',
  reportsCreated: true,
  needs: 'redis-trio',
  async setup(ctx) {
    const clients = await connectRedisNodes(ctx.redisTrioUrls)
    return withStrategy(ctx, redisLockStrategy({ clients }), () => quitRedis(clients))
  },
}

/** {@link oursRedisLock} on a fenced store: `drizzleStore(db, table, { fences })`, its fences table beside. */
export const oursRedisLockFenced: System = {
  id: 'ours-redis-lock-fenced',
  name: 'ours: redisLockStrategy, 1 node, fenced store',
  kind: 'ours',
  table: 'plain',
  reportsCreated: true,
  needs: 'redis',
  fenced: true,
  async setup(ctx) {
    const redis = await connectRedis(ctx.redisUrl)
    return withStrategy(ctx, redisLockStrategy({ clients: redis }), () => quitRedis([redis]), {
      fenced: true,
    })
  },
}

/** {@link oursRedisLockTrio} on a fenced store: tokens from a quorum of the three nodes. */
export const oursRedisLockTrioFenced: System = {
  id: 'ours-redis-lock-3-fenced',
  name: 'ours: redisLockStrategy, 3 nodes, fenced store',
  kind: 'ours',
  table: 'plain',
  reportsCreated: true,
  needs: 'redis-trio',
  fenced: true,
  async setup(ctx) {
    const clients = await connectRedisNodes(ctx.redisTrioUrls)
    return withStrategy(ctx, redisLockStrategy({ clients }), () => quitRedis(clients), { fenced: true })
  },
}
