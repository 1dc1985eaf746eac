/**
 * One OS process of the multi-process race: runs getOrCreate for every key `callers` times, shuffled with its
 * own seed, and prints one JSON line: [[key, id, created], …] plus its errors.
 * Usage: node --conditions=@getorcreate/source --import tsx pg-race-worker.ts <driver> <table> <keys> <callers> <concurrency> <seed>
 */
import { getOrCreate } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { openPg, type PgDriver, runConcurrently, shuffle } from '../support/pg.js'
import { itemsTable } from '../support/tables.js'

const [driver, table, keyCount, callers, concurrency, seed] = process.argv.slice(2)
const h = await openPg(driver as PgDriver, Number(concurrency))
const store = drizzleStore(h.db, itemsTable(table!))
const keys = Array.from({ length: Number(keyCount) }, (_, i) => `k${i}`)
const calls = shuffle(
  keys.flatMap((key) => Array.from({ length: Number(callers) }, () => key)),
  Number(seed),
)
const { results, errors } = await runConcurrently(
  calls.map((slug) => async () => {
    const { row, created } = await getOrCreate(store, { slug }, { title: `p${seed}` })
    return [slug, row.id, created] as const
  }),
  Number(concurrency),
)
await h.close()
process.stdout.write(`${JSON.stringify({ results, errors: errors.map(String) })}\n`)
