/**
 * `pnpm bench:batch`: `getOrCreateMany` of N keys (half of them existing) against a loop of `getOrCreate` over
 * the same keys, against the hand-written floor (one multi-row `INSERT … ON CONFLICT DO NOTHING` and one
 * `SELECT` of the rows by `= ANY`, both prepared, in postgres.js), and beside what the ORMs and query builders
 * offer for a batch: Sequelize `bulkCreate(rows, { ignoreDuplicates: true })` then `findAll`, Knex
 * `insert(rows).onConflict().ignore()` then `whereIn`, drizzle `insert(rows).onConflictDoNothing()` then
 * `inArray`. The floor and the peers take two statements and tell no created row from a found one. Each round
 * gives every system a fresh table of its own (vacuumed and analyzed once seeded, so that autovacuum does
 * not pick it up mid-run) and has each make `--calls` batches of N new keys, its batches one after the other
 * as a service makes them, the systems taking turns batch by batch in an order shuffled anew for every
 * batch: a slow moment of this shared machine then falls on every system alike, not on whichever one's
 * turn it was (the first round or rounds warm up, uncounted: the JIT, the pool, the catalog). A system's
 * rate is its keys over the time its own batches took; the ratios are the medians of the ratios within a
 * round. Prints ratios, not a verdict on this machine's speed.
 *
 * Options: `--keys N` (default 1000), `--calls N` (batches per system and round, default 20: a system's
 * batches then take about 150 ms a round at 1,000 keys, so that one garbage collection or scheduling pause of
 * 10–15 ms does not decide it, as it could in the 30 ms of 5 batches), `--rounds N` (counted, default 5),
 * `--warmup N` (uncounted rounds first, default 1), `--pool N` (default 16).
 */
import { pathToFileURL } from 'node:url'
import { getOrCreate, getOrCreateMany } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { inArray } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/postgres-js'
import knex from 'knex'
import postgres from 'postgres'
import { DataTypes, Sequelize } from 'sequelize'
import { tagsTable } from '../tags.js'
import { settleTable, turnOrder } from './rounds.js'

/** What one round measured: keys per second of each system. */
export interface BatchRound {
  readonly loop: number
  readonly many: number
  readonly floor: number
  readonly sequelize: number
  readonly knex: number
  readonly drizzle: number
}

/** The options of {@link runBatchBench}. */
export interface BatchOptions {
  readonly databaseUrl: string
  readonly keys: number
  /** Batches of `keys` new keys each system makes per round, one after the other. Default 20. */
  readonly calls?: number
  readonly rounds: number
  /** Rounds run first and not counted. Default 1. */
  readonly warmup?: number
  readonly pool: number
  /** Called with a line of progress or of the result. */
  readonly print: (line: string) => void
}

type System = keyof BatchRound

const SYSTEMS: readonly System[] = ['loop', 'many', 'floor', 'sequelize', 'knex', 'drizzle']

/** The peers, as the result lines name them. */
const PEERS = {
  sequelize: 'Sequelize bulkCreate({ ignoreDuplicates }) + findAll',
  knex: 'Knex insert().onConflict().ignore() + whereIn',
  drizzle: 'drizzle insert().onConflictDoNothing() + inArray',
} as const

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] as number
}

/** Run the rounds; every round's rates, and the two ratios (medians over rounds). */
export async function runBatchBench(options: BatchOptions): Promise<{
  rounds: BatchRound[]
  manyOverLoop: number
  manyOverFloor: number
  /** getOrCreateMany ÷ each peer. */
  manyOverPeers: Record<keyof typeof PEERS, number>
}> {
  const { databaseUrl, keys, rounds, pool, print } = options
  const calls = options.calls ?? 20
  const warmup = options.warmup ?? 1
  const sql = postgres(databaseUrl, { max: pool, onnotice: () => {} })
  const sequelize = new Sequelize(databaseUrl, { logging: false, pool: { max: pool, min: 0 } })
  const builder = knex({ client: 'pg', connection: databaseUrl, pool: { min: 0, max: pool } })
  const made: string[] = []
  const storeOf = (table: string) => drizzleStore(drizzle(sql), tagsTable(table))
  try {
    const results: BatchRound[] = []
    for (let round = 0; round < warmup + rounds; round++) {
      const counted = round >= warmup
      // `calls` batches of `keys` keys each; half of every batch's keys exist before the clock starts.
      const batches = Array.from({ length: calls }, (_, c) =>
        Array.from({ length: keys }, (_, i) => `b${round}-${c}-${i}`),
      )
      // Every system's table made, seeded and its store warmed before the clock starts for any of them.
      const tableOf = (system: System) => `bench_batch_${process.pid}_${round}_${system}`
      const stores = new Map<System, ReturnType<typeof storeOf>>()
      for (const system of SYSTEMS) {
        const table = tableOf(system)
        made.push(table)
        await sql.unsafe(
          `create table ${table} (id serial primary key, slug text not null unique, label text)`,
        )
        await sql.unsafe(`insert into ${table} (slug, label) select unnest($1::text[]), 'seeded'`, [
          batches.flatMap((slugs) => slugs.filter((_, i) => i % 2 === 0)),
        ])
        // Statistics, as a production table has, and nothing left for autovacuum to do while the clock runs.
        await settleTable(sql, table, false)
        const store = storeOf(table)
        // A store made once at start-up has read the catalog (its index, its columns' types, its triggers)
        // and prepared its statements before the calls that count.
        await getOrCreate(store, { slug: 'warm-up' }, { label: 'w' })
        await getOrCreateMany(store, [{ key: { slug: 'warm-up-2' }, defaults: { label: 'w' } }])
        stores.set(system, store)
        if (system === 'sequelize') sequelizeModel(table)
      }
      // Batch by batch, in an order shuffled anew for each batch (see the top of this file).
      const spent = new Map<System, number>(SYSTEMS.map((system) => [system, 0]))
      for (let c = 0; c < calls; c++) {
        const slugs = batches[c] as string[]
        for (const system of turnOrder(SYSTEMS, round * calls + c + 1)) {
          const table = tableOf(system)
          const store = stores.get(system) as ReturnType<typeof storeOf>
          const started = performance.now()
          if (system === 'loop') {
            for (const slug of slugs) await getOrCreate(store, { slug }, { label: slug })
          } else if (system === 'many') {
            await getOrCreateMany(
              store,
              slugs.map((slug) => ({ key: { slug }, defaults: { label: slug } })),
            )
          } else if (system === 'floor') {
            // Prepared, as a service's hand-written statements would be; the rows read whole, as
            // getOrCreateMany returns them.
            await sql.unsafe(
              `insert into ${table} (slug, label) select s, s from unnest($1::text[]) as s on conflict (slug) do nothing returning id`,
              [slugs],
              { prepare: true },
            )
            await sql.unsafe(`select id, slug, label from ${table} where slug = any($1::text[])`, [slugs], {
              prepare: true,
            })
          } else {
            await peerBatch(system, table, slugs)
          }
          spent.set(system, (spent.get(system) as number) + (performance.now() - started))
        }
      }
      const rate: Partial<Record<System, number>> = {}
      for (const system of SYSTEMS) {
        const table = tableOf(system)
        rate[system] = (calls * keys) / ((spent.get(system) as number) / 1000)
        const count = await sql.unsafe(
          `select count(*)::int as n from ${table} where slug not like 'warm-up%'`,
        )
        const n = Number(count[0]?.n)
        if (n !== calls * keys) throw new Error(`${system}: ${n} rows for ${calls * keys} keys`)
        await sql.unsafe(`drop table ${table}`)
        made.splice(made.indexOf(table), 1)
      }
      const measured = rate as BatchRound
      if (counted) results.push(measured)
      print(
        `${counted ? `round ${round - warmup + 1}/${rounds}` : `warm-up ${round + 1}/${warmup}`}: keys/s ` +
          SYSTEMS.map((system) => `${system} ${measured[system].toFixed(0)}`).join(', '),
      )
    }
    const manyOverLoop = median(results.map((r) => r.many / r.loop))
    const manyOverFloor = median(results.map((r) => r.many / r.floor))
    const manyOverPeers = Object.fromEntries(
      Object.keys(PEERS).map((peer) => [
        peer,
        median(results.map((r) => r.many / r[peer as keyof typeof PEERS])),
      ]),
    ) as Record<keyof typeof PEERS, number>
    for (const [peer, label] of Object.entries(PEERS)) {
      print(`getOrCreateMany ÷ ${label}: ${manyOverPeers[peer as keyof typeof PEERS].toFixed(2)}×`)
    }
    print(`getOrCreateMany ÷ a loop of getOrCreate: ${manyOverLoop.toFixed(2)}× (target ≥ 20)`)
    print(`getOrCreateMany ÷ one multi-row INSERT + one SELECT: ${manyOverFloor.toFixed(2)}× (target ≥ 0.8)`)
    return { rounds: results, manyOverLoop, manyOverFloor, manyOverPeers }
  } finally {
    for (const table of made) await sql.unsafe(`drop table if exists ${table}`).catch(() => undefined)
    await sql.end({ timeout: 5 })
    await sequelize.close()
    await builder.destroy()
  }

  /** The Sequelize model of `table`, defined on first use (before the clock starts). */
  function sequelizeModel(table: string) {
    return (
      sequelize.models[table] ??
      sequelize.define(
        table,
        {
          id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
          slug: { type: DataTypes.TEXT, allowNull: false },
          label: { type: DataTypes.TEXT },
        },
        { tableName: table, timestamps: false },
      )
    )
  }

  /** A peer's batch, as its documentation shows one: insert ignoring duplicates, then read every key. */
  async function peerBatch(system: keyof typeof PEERS, table: string, slugs: readonly string[]) {
    const rows = slugs.map((slug) => ({ slug, label: slug }))
    if (system === 'sequelize') {
      const Tag = sequelizeModel(table)
      await Tag.bulkCreate(rows, { ignoreDuplicates: true })
      await Tag.findAll({ where: { slug: [...slugs] }, raw: true })
    } else if (system === 'knex') {
      await builder(table).insert(rows).onConflict('slug').ignore().returning('id')
      await builder(table).select('id', 'slug', 'label').whereIn('slug', slugs)
    } else {
      const db = drizzle(sql)
      const tags = tagsTable(table)
      await db.insert(tags).values(rows).onConflictDoNothing({ target: tags.slug }).returning({ id: tags.id })
      await db
        .select()
        .from(tags)
        .where(inArray(tags.slug, [...slugs]))
    }
  }
}

function option(args: readonly string[], name: string, fallback: number, least = 1): number {
  const at = args.indexOf(name)
  if (at < 0) return fallback
  const value = Number(args[at + 1])
  if (!Number.isInteger(value) || value < least)
    throw new RangeError(`${name} must be a whole number ≥ ${least}.`)
  return value
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2)
  runBatchBench({
    databaseUrl: process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test',
    keys: option(args, '--keys', 1000),
    calls: option(args, '--calls', 20),
    rounds: option(args, '--rounds', 5),
    warmup: option(args, '--warmup', 1, 0),
    pool: option(args, '--pool', 16),
    print: (line) => console.log(line),
  }).catch((error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
}
