/**
 * A memory store that also reads and inserts in one statement (`findOrInsertManyAtomically`, as the Postgres
 * stores do), for tests of the strategy's choice between that statement and a read first.
 */
import { memoryStore } from '@getorcreate/core'

/** A row of {@link oneStatementStore}. */
export type SluggedRow = { id?: number; slug: string; title?: string }

/**
 * A memory store keyed by `slug` with `findOrInsertManyAtomically` as a database runs it for one entry: the
 * key's row as the statement began, else the row it inserted. `state.mode` makes it decline (`'declined'`:
 * nothing written) or play another caller's row committed after the statement's snapshot (`'committed
 * meanwhile'`: that row, titled `theirs`, is inserted and no row comes back). `state.sent` lists the store
 * calls in order: `one <slug>` for the statement, `find <slug>` for a read.
 */
export function oneStatementStore() {
  const base = memoryStore<SluggedRow>({ uniqueBy: [['slug']], autoIncrement: 'id' })
  const state = {
    mode: 'one statement' as 'one statement' | 'declined' | 'committed meanwhile',
    sent: [] as string[],
  }
  const store = Object.assign(Object.create(base) as typeof base, {
    find(key: Partial<SluggedRow>, options?: { fresh?: boolean }) {
      state.sent.push(`find ${key.slug}`)
      return base.find(key, options)
    },
    async findOrInsertManyAtomically(
      entries: readonly { key: Partial<SluggedRow>; values: Partial<SluggedRow> }[],
    ) {
      const [{ key, values }] = entries as [{ key: Partial<SluggedRow>; values: Partial<SluggedRow> }]
      state.sent.push(`one ${key.slug}`)
      if (state.mode === 'declined') return undefined
      if (state.mode === 'committed meanwhile') {
        await base.insert({ ...values, title: 'theirs' })
        return [{ row: undefined, inserted: false }]
      }
      const found = await base.find(key)
      if (found) return [{ row: found, inserted: false }]
      return [{ row: await base.insert(values), inserted: true }]
    },
    findMany: async () => [],
    insertManyIfAbsentAtomically: async () => undefined,
  })
  return { base, store, state }
}
