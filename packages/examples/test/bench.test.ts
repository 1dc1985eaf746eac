import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { describe, expect, test } from 'vitest'
import { writeResults } from '../src/bench/report.js'
import { type BenchOptions, isWrong, runBench } from '../src/bench/run-bench.js'
import { systemById } from '../src/bench/systems/index.js'
import { createTables, dropTables, fencesTableFor } from '../src/bench/tables.js'
import { workloads } from '../src/bench/workloads.js'

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test'
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

// Every call runs (no time cap), so the counts are exact: 20 keys × 4 callers in the miss storm; 100 calls
// in hits and mixed, the mixed ones with round(100 × 10 % / 4) = 3 fresh keys × 4 callers.
const tiny = (procs: number): BenchOptions => ({
  databaseUrl,
  redisUrl,
  rounds: 1,
  pool: 8,
  concurrency: 16,
  procs,
  maxMs: Number.POSITIVE_INFINITY,
  sizes: { keys: 20, callersPerKey: 4, hotKeys: 50, calls: 100 },
  systems: [
    'ours-constraint',
    'ours-constraint-unshared',
    'ours-constraint-observed',
    'ours-advisory-lock',
    'ours-redis-lock',
    'ours-redis-lock-fenced',
    'ours-redis-lock-3',
    'ours-redis-lock-3-fenced',
    'naive',
    'advisory-lock',
    'floor-select',
    'floor-insert',
  ],
  workloads: ['miss-storm', 'burst', 'hits', 'mixed'],
})

const expected = {
  'miss-storm': { calls: 80, keysCreated: 20 },
  burst: { calls: 80, keysCreated: 20 },
  hits: { calls: 100, keysCreated: 0 },
  mixed: { calls: 100, keysCreated: 3 },
} as const

describe('pnpm bench', () => {
  for (const procs of [1, 2]) {
    test(`a tiny run in ${procs} process(es): ours exact in every workload, files written`, async () => {
      const result = await runBench(tiny(procs))
      const ours = result.cells.filter((cell) => cell.kind === 'ours')
      // Five systems in four workloads, the one without single flight and the advisory lock in three (not
      // mixed), and the one observed by a diagnostics subscriber in two (miss storm, hits).
      expect(ours).toHaveLength(28)
      for (const cell of ours) {
        const { calls, keysCreated } = expected[cell.workload]
        expect(cell, `${cell.workload} · ${cell.name}`).toMatchObject({
          calls,
          duplicates: 0,
          wrongIds: 0,
          splitKeys: 0,
          errors: 0,
          createdFlags: keysCreated,
          keysCreated,
        })
        expect(isWrong(cell)).toBe(false)
        expect(cell.rate).toBeGreaterThan(0)
      }
      const floor = result.cells.find((cell) => cell.workload === 'hits' && cell.systemId === 'floor-select')
      expect(floor?.ratioToFloor).toBe(1)
      const fencing = result.expectations.filter((target) => target.label.includes('fenced'))
      expect(fencing).toHaveLength(4)
      for (const target of fencing) {
        expect(target.comparison).toBe('≤')
        expect(target.measured, target.label).toBeGreaterThan(0)
      }

      const advisory = result.expectations.filter((target) => target.label.startsWith('advisoryLockStrategy'))
      expect(advisory.map((target) => target.label)).toEqual([
        'advisoryLockStrategy hits ÷ floor SELECT',
        'advisoryLockStrategy miss storm ÷ advisory lock + find-then-insert on every call',
      ])
      for (const target of advisory) expect(target.measured, target.label).toBeGreaterThan(0)

      const observed = result.expectations.filter((target) => target.label.includes('diagnostics subscriber'))
      expect(observed.map((target) => target.label)).toEqual([
        'constraintStrategy hits, a diagnostics subscriber attached ÷ none',
        'constraintStrategy miss storm, a diagnostics subscriber attached ÷ none',
      ])
      for (const target of observed) expect(target.measured, target.label).toBeGreaterThan(0)

      const dir = await mkdtemp(join(tmpdir(), 'bench-'))
      try {
        await writeResults(dir, result, 'test')
        expect(await readFile(join(dir, 'chart.svg'), 'utf8')).toMatch(/^<svg[\s\S]*ours: constraintStrategy/)
        expect(await readFile(join(dir, 'results.md'), 'utf8')).toContain('| **ours: constraintStrategy** |')
        expect(JSON.parse(await readFile(join(dir, 'results.json'), 'utf8')).cells).toHaveLength(
          result.cells.length,
        )
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    })
  }
})

describe('the fenced systems', () => {
  test('get a seeded fences table beside their table, write their fence in it, and the run drops it', async () => {
    const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} })
    const created: string[] = []
    const fenced = systemById('ours-redis-lock-fenced')
    const plain = systemById('ours-redis-lock')
    const fencesCount = async (table: string) =>
      Number((await admin.unsafe(`select count(*)::int as n from ${table}`))[0]!.n)
    const exists = async (table: string) => (await admin`select to_regclass(${table}) as t`)[0]!.t !== null
    try {
      const runId = `t${crypto.randomUUID().replaceAll('-', '').slice(0, 8)}`
      const workload = workloads({ keys: 1, callersPerKey: 1, hotKeys: 1, calls: 1 })['miss-storm']
      const tableOf = await createTables(admin, runId, workload, [plain, fenced], created)
      const fences = fencesTableFor(tableOf.get(fenced.id)!)
      expect(created).toContain(fences)
      expect(await exists(fencesTableFor(tableOf.get(plain.id)!))).toBe(false)
      const before = await fencesCount(fences)
      expect(before).toBe(20_000)

      const open = await fenced.setup({
        databaseUrl,
        table: tableOf.get(fenced.id)!,
        pool: 2,
        redisUrl,
        redisTrioUrls: [],
      })
      try {
        // The background rows' tokens are 1…20,000; a real token (microseconds since 1970) is the largest.
        const newest = async () =>
          (
            await admin.unsafe(
              `select lock_key, token, prev_token, updated_at from ${fences} order by token desc limit 1`,
            )
          )[0]
        expect(await open.call('fresh')).toMatchObject({ created: true })
        expect(await fencesCount(fences)).toBe(before + 1)
        const raised = await newest()
        expect(Number(raised!.token)).toBeGreaterThan(20_000)
        // A hit does no fence work: the fence row is as the create left it.
        expect(await open.call('fresh')).toMatchObject({ created: false })
        expect(await fencesCount(fences)).toBe(before + 1)
        expect(await newest()).toEqual(raised)
      } finally {
        await open.teardown()
      }
    } finally {
      await dropTables(admin, created)
      for (const table of created) expect(await exists(table), table).toBe(false)
      await admin.end({ timeout: 5 })
    }
  })
})

describe('pnpm bench:batch', () => {
  test('a tiny run: every system (the peers too) leaves one row per key, and the ratios are printed', async () => {
    const { runBatchBench } = await import('../src/bench/batch.js')
    const lines: string[] = []
    const result = await runBatchBench({
      databaseUrl,
      keys: 20,
      rounds: 1,
      pool: 4,
      print: (line) => lines.push(line),
    })
    expect(result.rounds).toHaveLength(1)
    expect(result.manyOverLoop).toBeGreaterThan(0)
    expect(result.manyOverFloor).toBeGreaterThan(0)
    expect(lines.at(-2)).toMatch(/^getOrCreateMany ÷ a loop of getOrCreate: [\d.]+× \(target ≥ 20\)$/)
    expect(Object.keys(result.manyOverPeers).sort()).toEqual(['drizzle', 'knex', 'sequelize'])
    for (const peer of ['Sequelize bulkCreate', 'Knex insert', 'drizzle insert']) {
      expect(lines.some((line) => line.startsWith(`getOrCreateMany ÷ ${peer}`))).toBe(true)
    }
  })
})

describe('pnpm bench options', () => {
  test('--quick: 3 rounds of 200 ms turns on a pool of 4 with 8 in flight; explicit options still win', async () => {
    const { parseOptions } = await import('../src/bench/main.js')
    const quick = parseOptions(['--quick'])
    expect([quick.rounds, quick.maxMs, quick.pool, quick.concurrency]).toEqual([3, 200, 4, 8])
    const full = parseOptions([])
    expect([full.rounds, full.maxMs, full.pool, full.concurrency]).toEqual([7, 1500, 16, 32])
    const mixed = parseOptions(['--quick', '--pool', '16', '--concurrency', '32'])
    expect([mixed.pool, mixed.concurrency]).toEqual([16, 32])
  })
})

describe('pnpm bench targets', () => {
  test("issue 14's targets: miss storm 0.78× the INSERT floor and 1.3× Django; the 1-node Redis lock 1.3× at 4 callers, 1.5× at 8", async () => {
    const { expectations } = await import('../src/bench/targets.js')
    const target = (callers: number, label: string) =>
      expectations([], callers).find((expectation) => expectation.label === label)
    expect(target(4, 'constraintStrategy miss storm ÷ floor INSERT')?.target).toBe(0.78)
    expect(target(4, "constraintStrategy miss storm ÷ Django's get_or_create")?.target).toBe(1.3)
    const redis = 'redisLockStrategy (1 node) miss storm ÷ Redis lock around every call'
    expect([target(4, redis)?.target, target(8, redis)?.target]).toEqual([1.3, 1.5])
    // Nothing measured, nothing judged.
    expect(expectations([], 4).every((expectation) => expectation.met === undefined)).toBe(true)
  })
})

describe('pnpm bench rounds', () => {
  test('each round runs every system once, and no system follows the same one in every round', async () => {
    const { turnOrder } = await import('../src/bench/rounds.js')
    const systems = Array.from({ length: 19 }, (_, i) => `s${i}`)
    const orders = Array.from({ length: 7 }, (_, r) => turnOrder(systems, r + 1))
    for (const order of orders) expect([...order].sort()).toEqual([...systems].sort())
    // A rotation keeps every system behind the same one: the system after the INSERT floor, slowed by the
    // work the floor leaves Postgres, would be the same in every round.
    const before = (order: readonly string[], system: string) => order[order.indexOf(system) - 1]
    for (const system of systems) {
      const predecessors = new Set(orders.map((order) => before(order, system)))
      expect(predecessors.size, system).toBeGreaterThan(1)
    }
    // Seeded: a run replays.
    expect(turnOrder(systems, 3)).toEqual(orders[2])
  })

  test("a turn's table is vacuumed and analyzed before the next turn (autovacuum then has nothing to do during it)", async () => {
    const { settleTable } = await import('../src/bench/rounds.js')
    const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} })
    const made: string[] = []
    try {
      const fenced = systemById('ours-redis-lock-fenced')
      const missStorm = workloads(tiny(1).sizes)['miss-storm']
      const tables = await createTables(admin, `settle${process.pid}`, missStorm, [fenced], made)
      const own = tables.get(fenced.id)!
      await admin.unsafe(
        `insert into ${own} (slug, label) select 'new-' || g, 'n' from generate_series(1, 5000) g`,
      )
      const stats = () =>
        admin<{ relname: string; vacuums: number; analyzes: number }[]>`
          select relname, vacuum_count::int as vacuums, analyze_count::int as analyzes
          from pg_stat_user_tables where relname in (${own}, ${fencesTableFor(own)}) order by relname`
      const before = await stats()
      await settleTable(admin, own, true)
      const after = await stats()
      expect(after.map((row) => row.relname)).toEqual([own, fencesTableFor(own)])
      after.forEach((row, i) => {
        expect(row.vacuums, row.relname).toBe((before[i]?.vacuums ?? 0) + 1)
        expect(row.analyzes, row.relname).toBe((before[i]?.analyzes ?? 0) + 1)
      })
    } finally {
      await dropTables(admin, made)
      await admin.end({ timeout: 5 })
    }
  })
})
