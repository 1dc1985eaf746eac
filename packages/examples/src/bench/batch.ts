/**
 * `pnpm bench:batch`: `getOrCreateMany` of N keys (half of them existing) against a loop of `getOrCreate` over
 * the same keys and against the hand-written floor (one multi-row `INSERT … ON CONFLICT DO NOTHING` and one
 * `SELECT … = ANY`), on Postgres through postgres.js. Each round runs the three on fresh tables, in a rotating
 * order; the ratios are the medians of the ratios within a round. Prints ratios, not a verdict on this
 * machine's speed.
 *
 * Options: `--keys N` (default 1000), `--rounds N` (default 5), `--pool N` (default 16).
 */
import { pathToFileURL } from 'node:url'
import { getOrCreate, getOrCreateMany } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { tagsTable } from '../tags.js'

/** What one round measured: keys per second of each system. */
export interface BatchRound {
  readonly loop: number
  readonly many: number
  readonly floor: number
}

/** The options of {@link runBatchBench}. */
export interface BatchOptions {
  readonly databaseUrl: string
  readonly keys: number
  readonly rounds: number
  readonly pool: number
  /** Called with a line of progress or of the result. */
  readonly print: (line: string) => void
}

type System = 'loop' | 'many' | 'floor'

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] as number
}

/** Run the rounds; every round's rates, and the two ratios (medians over rounds). */
export async function runBatchBench(options: BatchOptions): Promise<{
  rounds: BatchRound[]
  manyOverLoop: number
  manyOverFloor: number
}> {
  const { databaseUrl, keys, rounds, pool, print } = options
  const sql = postgres(databaseUrl, { max: pool, onnotice: () => {} })
  const made: string[] = []
  try {
    const results: BatchRound[] = []
    for (let round = 0; round < rounds; round++) {
      const slugs = Array.from({ length: keys }, (_, i) => `b${round}-${i}`)
      const rate: Partial<Record<System, number>> = {}
      const order: System[] = (['loop', 'many', 'floor'] as const).map(
        (_, i, all) => all[(i + round) % all.length] as System,
      )
      for (const system of order) {
        const table = `bench_batch_${process.pid}_${round}_${system}`
        made.push(table)
        await sql.unsafe(
          `create table ${table} (id serial primary key, slug text not null unique, label text)`,
        )
        // Half of the keys exist before the clock starts.
        await sql.unsafe(`insert into ${table} (slug, label) select unnest($1::text[]), 'seeded'`, [
          slugs.filter((_, i) => i % 2 === 0),
        ])
        const store = drizzleStore(drizzle(sql), tagsTable(table))
        // A store made once at start-up has read the catalog (its index, its columns' types, its triggers)
        // and prepared its statements before the calls that count.
        await getOrCreate(store, { slug: 'warm-up' }, { label: 'w' })
        await getOrCreateMany(store, [{ key: { slug: 'warm-up-2' }, defaults: { label: 'w' } }])
        const started = performance.now()
        if (system === 'loop') {
          for (const slug of slugs) await getOrCreate(store, { slug }, { label: slug })
        } else if (system === 'many') {
          await getOrCreateMany(
            store,
            slugs.map((slug) => ({ key: { slug }, defaults: { label: slug } })),
          )
        } else {
          await sql.unsafe(
            `insert into ${table} (slug, label) select s, s from unnest($1::text[]) as s on conflict (slug) do nothing returning id`,
            [slugs],
          )
          await sql.unsafe(`select id, slug from ${table} where slug = any($1::text[])`, [slugs])
        }
        rate[system] = keys / ((performance.now() - started) / 1000)
        const counted = await sql.unsafe(
          `select count(*)::int as n from ${table} where slug not like 'warm-up%'`,
        )
        const n = Number(counted[0]?.n)
        if (n !== keys) throw new Error(`${system}: ${n} rows for ${keys} keys`)
        await sql.unsafe(`drop table ${table}`)
        made.pop()
      }
      const measured = rate as BatchRound
      results.push(measured)
      print(
        `round ${round + 1}/${rounds}: keys/s loop ${measured.loop.toFixed(0)}, getOrCreateMany ` +
          `${measured.many.toFixed(0)}, floor ${measured.floor.toFixed(0)}`,
      )
    }
    const manyOverLoop = median(results.map((r) => r.many / r.loop))
    const manyOverFloor = median(results.map((r) => r.many / r.floor))
    print(`getOrCreateMany ÷ a loop of getOrCreate: ${manyOverLoop.toFixed(2)}× (target ≥ 20)`)
    print(`getOrCreateMany ÷ one multi-row INSERT + one SELECT: ${manyOverFloor.toFixed(2)}× (target ≥ 0.8)`)
    return { rounds: results, manyOverLoop, manyOverFloor }
  } finally {
    for (const table of made) await sql.unsafe(`drop table if exists ${table}`).catch(() => undefined)
    await sql.end({ timeout: 5 })
  }
}

function option(args: readonly string[], name: string, fallback: number): number {
  const at = args.indexOf(name)
  if (at < 0) return fallback
  const value = Number(args[at + 1])
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a whole number ≥ 1.`)
  return value
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2)
  runBatchBench({
    databaseUrl: process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test',
    keys: option(args, '--keys', 1000),
    rounds: option(args, '--rounds', 5),
    pool: option(args, '--pool', 16),
    print: (line) => console.log(line),
  }).catch((error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
}
