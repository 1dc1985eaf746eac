/** A drizzle query cache that really caches, for the tests that prove a store's reads never use one. */
import { getTableName, is, Table } from 'drizzle-orm'
import { Cache, type MutationOption } from 'drizzle-orm/cache/core'

/** A cache that caches: results by query hash, dropped when a mutation names one of their tables. */
export class MapCache extends Cache {
  readonly entries = new Map<string, { rows: unknown[]; tables: string[] }>()
  /** How many times drizzle asked it for a result. */
  gets = 0
  override strategy(): 'all' {
    return 'all'
  }
  override async get(key: string): Promise<unknown[] | undefined> {
    this.gets++
    return this.entries.get(key)?.rows
  }
  override async put(key: string, rows: unknown, tables: string[]): Promise<void> {
    this.entries.set(key, { rows: rows as unknown[], tables })
  }
  override async onMutate(params: MutationOption): Promise<void> {
    const named = [params.tables ?? []]
      .flat()
      .map((table) => (is(table, Table) ? getTableName(table) : String(table)))
    for (const [key, entry] of this.entries) {
      if (entry.tables.some((table) => named.includes(table))) this.entries.delete(key)
    }
  }
}
