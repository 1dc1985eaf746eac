/**
 * The two-session cases of a fenced create on a server database (Postgres, MariaDB): another session holds
 * the fence row, as a fenced create does until it commits, and the create waits for it; what it reads and
 * writes once granted depends on what that session committed.
 */
import { type Fence, LockLostError } from '@getorcreate/core'
import { expect, test } from 'vitest'

/** A fresh items table (`slug` text, no unique index) with a store fenced by {@link FenceWaits.fencesName}. */
interface FencedItems {
  readonly name: string
  readonly store: {
    insertIfAbsentFenced?(key: { slug: string }, values: { slug: string }, fence: Fence): Promise<unknown>
  }
  count(slug: string): Promise<number>
  /** The fence token of `lockKey`, as stored (a bigint column may read as a string). */
  fence(lockKey: string): Promise<unknown>
}

/** What {@link registerFenceWaitCases} needs, once the test's `beforeAll` has run. */
export interface FenceWaits {
  readonly fencesName: string
  fixture(): Promise<FencedItems>
  /** A second session, outside the store's pool: the holder of a fence row. */
  session(): Promise<{ exec(text: string): Promise<void>; release(): Promise<void> }>
}

const pause = () => new Promise((resolve) => setTimeout(resolve, 200))

/** Register the cases; `get` is called inside each test. */
export function registerFenceWaitCases(get: () => FenceWaits): void {
  /** A fixture, a lock key whose fence holds 1, and a session holding its row, raised to `token`. */
  async function held(suffix: string, token: number) {
    const { fencesName, fixture, session } = get()
    const items = await fixture()
    const create = items.store.insertIfAbsentFenced!.bind(items.store)
    const lockKey = `lock-${fencesName}-${suffix}`
    await create({ slug: 'seed' }, { slug: 'seed' }, { token: 1, lockKey })
    const holder = await session()
    await holder.exec('begin')
    await holder.exec(`update ${fencesName} set token = ${token} where lock_key = '${lockKey}'`)
    return { ...items, create, lockKey, holder }
  }

  test('the read runs after the wait for the fence row: a row committed by the holder it waited for is found', async () => {
    const { name, create, count, lockKey, holder } = await held('wait', 2)
    try {
      await holder.exec(`insert into ${name} (slug) values ('w')`) // the holder creates the row
      const waiting = create({ slug: 'w' }, { slug: 'w' }, { token: 3, lockKey })
      await pause() // it is blocked on the fence row
      await holder.exec('commit')
      expect(await waiting).toBe(undefined) // it read after the commit: the row is there
      expect(await count('w')).toBe(1)
    } finally {
      await holder.release()
    }
  })

  test('a holder that wrote nothing: the create waiting on the fence row inserts once it is granted', async () => {
    const { create, count, lockKey, holder } = await held('nothing', 2)
    try {
      const waiting = create({ slug: 'v' }, { slug: 'v' }, { token: 3, lockKey })
      await pause() // it is blocked on the fence row
      expect(await count('v')).toBe(0)
      await holder.exec('commit')
      expect(await waiting).toMatchObject({ slug: 'v' }) // raised to 3 after the holder's 2, then inserted
      expect(await count('v')).toBe(1)
    } finally {
      await holder.release()
    }
  })

  test('a holder with a larger token: the waiting create gets LockLostError once granted, nothing written', async () => {
    const { create, count, fence, lockKey, holder } = await held('larger', 9)
    try {
      const waiting = create({ slug: 'u' }, { slug: 'u' }, { token: 3, lockKey })
      waiting.catch(() => undefined) // it may reject before the commit below resolves: handled here
      await pause()
      await holder.exec('commit')
      await expect(waiting).rejects.toBeInstanceOf(LockLostError)
      expect(await count('u')).toBe(0)
      expect(Number(await fence(lockKey))).toBe(9)
    } finally {
      await holder.release()
    }
  })
}
