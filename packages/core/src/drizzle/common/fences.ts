import type { Fence } from '../../types.js'

/** The fences table's name when none is given. */
export const DEFAULT_FENCES_TABLE = 'getorcreate_fences'

/** `fence` when it is a fence a strategy could have drawn (a non-negative safe integer token, a lock key). */
export function checkFence(fence: Fence | undefined): Fence {
  const token = fence?.token
  if (typeof token !== 'number' || !Number.isSafeInteger(token) || token < 0) {
    throw new TypeError(`A fencing token must be a non-negative safe integer; got ${String(token)}.`)
  }
  if (typeof fence?.lockKey !== 'string' || fence.lockKey === '') {
    throw new TypeError('A fencing token needs the lock key it belongs to (a non-empty string).')
  }
  return fence
}

/**
 * `table` has the columns of a fences table (`lockKey`, `token`, `prevToken`, `updatedAt`), or a `TypeError`
 * that says how to make one. `dialect` names the definition to use.
 */
export function checkFencesTable(table: unknown, dialect: 'pg' | 'mysql' | 'sqlite'): void {
  const candidate = table as Record<string, unknown> | null | undefined
  for (const column of ['lockKey', 'token', 'prevToken', 'updatedAt']) {
    if (typeof candidate?.[column] !== 'object' || candidate[column] === null) {
      throw new TypeError(
        `drizzleStore: options.fences must be a fences table, as ${dialect}FencesTable() defines it (it has no ` +
          `column ${column}).`,
      )
    }
  }
}

/**
 * A store's fenced writes through one fences table, as each dialect builds them (`pgFencing`, `sqliteFencing`).
 */
export interface StoreFencing {
  /**
   * The fenced create: raise the fence of `fence.lockKey` to `fence.token`, read the key after that, and
   * insert unless it is found. The new row, or `undefined` when a row has the key; `LockLostError` when the
   * fence holds a larger token (nothing written).
   */
  create<Row>(
    key: Record<string, unknown>,
    values: Record<string, unknown>,
    fence: Fence,
  ): Promise<Row | undefined>
  /** An unconditional insert under the fence: the fence raised, then the insert, atomically. */
  insert<Row>(values: Record<string, unknown>, fence: Fence): Promise<Row>
}
