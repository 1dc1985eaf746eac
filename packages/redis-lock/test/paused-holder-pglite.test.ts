/**
 * paused-holder.test.ts on PGlite. PGlite is a Postgres embedded in one process: a second process cannot open
 * it, so both callers run here, each with a strategy and a Redis connection of its own, and the pause is made
 * of two real faults instead of a SIGSTOP:
 *
 * - the holder's write waits at a gate the test opens (`interceptedStore`), after every check the strategy
 *   makes before a write (its lock confirmed, its fencing token drawn);
 * - meanwhile its Redis connection goes through a proxy that the test freezes (support/freezable-proxy.ts, a
 *   partition between the holder and Redis): the holder's lock keeper gets no answer to its extensions, and
 *   its lock expires in Redis by its TTL, as it would for a stopped process. No key is deleted by hand.
 *
 * A second strategy, connected to Redis directly, takes the expired lock and creates the row; then the gate
 * opens and the link heals. Fenced: the holder's write, the fenced create, reads the key before it raises the
 * fence: it finds the other's row and answers it (`created: false`), nothing written, one row. Plain (the
 * control run; its write is the insert after a fresh read): a second row. Both callers' locks are gone when
 * the scenario ends (the next one counts the locks held).
 */
import { PGlite } from '@electric-sql/pglite'
import { getOrCreate, isGetOrCreateError } from '@getorcreate/core'
import { drizzleStore, pgFencesSql, pgFencesTable } from '@getorcreate/core/drizzle'
import { scratchName } from '@getorcreate/test-support'
import { RedisNode } from '@getorcreate/test-support/redis-nodes'
import { drizzle } from 'drizzle-orm/pglite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisLockStrategy } from '../src/index.js'
import { FreezableProxy } from './support/freezable-proxy.js'
import { interceptedStore } from './support/items-store.js'
import { itemsTable } from './support/postgres.js'
import { lockKeysOf, readyClients } from './support/redis.js'

const TTL_MS = 1_000

let node: RedisNode
let pglite: PGlite
beforeAll(async () => {
  node = await RedisNode.start()
  pglite = await PGlite.create()
})
afterAll(async () => {
  await pglite?.close()
  await node?.stop()
})

/** Until `check` holds, polled every 20 ms; throws, naming `what`, after 30 s. */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** The scenario on a fresh PGlite table: the holder's outcome, the other caller's result, the rows for the key. */
async function pausedPastTtl(fenced: boolean) {
  const name = scratchName('rl_items')
  const fences = fenced ? scratchName('rl_fences') : undefined
  await pglite.exec(
    `create table ${name} (id serial primary key, slug text not null, payload text, fence integer)`,
  )
  if (fences) await pglite.exec(pgFencesSql(fences))
  const table = itemsTable(name)
  const db = drizzle({ client: pglite })
  const store = fences ? drizzleStore(db, table, { fences: pgFencesTable(fences) }) : drizzleStore(db, table)
  const proxy = await FreezableProxy.start(node.port)
  const [holderClient] = await readyClients([proxy.url])
  const admin = await node.client()
  try {
    let reached: () => void = () => undefined
    const atGate = new Promise<void>((resolve) => (reached = resolve))
    let open: () => void = () => undefined
    const gate = new Promise<void>((resolve) => (open = resolve))
    const holderStore = interceptedStore(store, async (send) => {
      reached()
      await gate
      return send()
    })
    const holder = redisLockStrategy({ clients: holderClient!, ttlMs: TTL_MS })
    const slug = 'paused'
    const holderCall = getOrCreate(holderStore, { slug }, { payload: 'paused' }, holder).then(
      ({ row, created }) => ({ id: row.id, created }),
      (error: unknown) => ({ error: isGetOrCreateError(error) ? error.code : String(error) }),
    )
    await atGate
    // At its write, the lock is the holder's; then the link to Redis freezes, and the lock expires.
    const heldAtGate = (await lockKeysOf(admin)).length
    proxy.freeze()
    await until("the holder's lock to expire in Redis", async () => (await lockKeysOf(admin)).length === 0)
    const strategy = redisLockStrategy({ clients: admin, ttlMs: TTL_MS, acquireTimeoutMs: 10_000 })
    const other = await getOrCreate(store, { slug }, { payload: 'other' }, strategy)
    open()
    proxy.thaw()
    const paused = await holderCall
    // The other's release is not awaited by its call: wait for it, so that no lock outlives the scenario.
    await until('every lock to be released', async () => (await lockKeysOf(admin)).length === 0)
    const [counted] = (
      await pglite.query<{ n: number }>(`select count(*)::int as n from ${name} where slug = $1`, [slug])
    ).rows
    return { heldAtGate, paused, other, rows: counted?.n }
  } finally {
    holderClient?.disconnect()
    admin.disconnect()
    await proxy.close()
    await pglite.exec(`drop table ${name}${fences ? `; drop table ${fences}` : ''}`)
  }
}

describe(`PGlite: a holder paused past its lock's TTL (${TTL_MS} ms) between its last check and its write`, () => {
  it("fenced store: the holder's create finds the other's row before raising the fence, writes nothing and answers that row; one row, created once", async () => {
    const { heldAtGate, paused, other, rows } = await pausedPastTtl(true)
    expect(heldAtGate).toBe(1)
    expect(other.created).toBe(true)
    expect(paused).toEqual({ id: other.row.id, created: false })
    expect(rows).toBe(1)
  })

  it('plain store (the control run): the holder writes a second row', async () => {
    const { heldAtGate, paused, other, rows } = await pausedPastTtl(false)
    expect(heldAtGate).toBe(1)
    expect(other.created).toBe(true)
    expect(paused).toMatchObject({ created: true })
    expect(rows).toBe(2)
  })
})
