import { sql } from 'drizzle-orm'
import type { AnyMySqlDatabase } from './mysql-database.js'

/**
 * Per transaction: one insert-in-a-savepoint at a time. Two calls sharing a transaction would otherwise
 * interleave `savepoint` / `rollback to savepoint`, and one call's rollback would undo the other's insert.
 */
const savepointQueues = new WeakMap<object, Promise<unknown>>()

function serialized<T>(owner: object, run: () => Promise<T>): Promise<T> {
  const previous = savepointQueues.get(owner) ?? Promise.resolve()
  const result = previous.then(run, run)
  savepointQueues.set(
    owner,
    result.then(
      () => undefined,
      () => undefined,
    ),
  )
  return result
}

/**
 * Run `work` in a savepoint of the transaction `tx`, one at a time per transaction, so that a failure undoes
 * only itself and the caller's transaction goes on.
 */
export function inSavepoint<T>(tx: AnyMySqlDatabase, work: () => Promise<T>): Promise<T> {
  return serialized(tx, async () => {
    await tx.execute(sql.raw('savepoint goc_insert'))
    let result: T
    try {
      result = await work()
    } catch (error) {
      try {
        await tx.execute(sql.raw('rollback to savepoint goc_insert'))
      } catch {
        // The server already ended the transaction (a deadlock rolls it all back): the work's own error is
        // the one to report.
      }
      throw error
    }
    await tx.execute(sql.raw('release savepoint goc_insert'))
    return result
  })
}
