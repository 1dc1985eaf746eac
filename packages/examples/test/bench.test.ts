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
// in hits and mixed, the mixed ones with round(100 × 10 % / 4) = 3 fresh keys × 4 callers. The floor that
// several groups share takes a turn in each, with keys of its own each time.
const tiny = (procs: number, isolate = false): BenchOptions => ({
  databaseUrl,
  redisUrl,
  rounds: 1,
  // A group's 5 systems hold their pools at once: 20 connections.
  pool: 4,
  concurrency: 8,
  procs,
  isolate,
  maxMs: Number.POSITIVE_INFINITY,
  stormMaxMs: Number.POSITIVE_INFINITY,
  // A first slice of 1 ms: every turn runs in two slices at least, alternating with its group's.
  sliceMs: 1,
  sizes: { keys: 20, callersPerKey: 4, hotKeys: 50, calls: 100 },
  systems: [
    'ours-constraint',
    'ours-constraint-unshared',
    'ours-constraint-unbatched',
    'ours-constraint-unbatched-writes',
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
  // One process per system (--isolate), and two processes that every system shares.
  for (const [procs, isolate] of [
    [1, true],
    [2, false],
  ] as const) {
    const where = isolate ? `${procs} process(es) per system` : `${procs} process(es) for all`
    test(`a tiny run in ${where}: ours exact in every workload, files written`, async () => {
      const result = await runBench(tiny(procs, isolate))
      const ours = result.cells.filter((cell) => cell.kind === 'ours')
      // Five systems in four workloads, the one without single flight and the advisory lock in three (not
      // mixed), the one observed by a diagnostics subscriber in two (miss storm, hits), the one without
      // batched reads in one (hits) and the one without batched writes in one (burst).
      expect(ours).toHaveLength(30)
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
      // Where the calls ran: each system in processes of its own, the same in every workload and group; or
      // every system in the same ones. Never in this process.
      const pidsOf = new Map<string, Set<number>>()
      for (const cell of result.cells) {
        const pids = pidsOf.get(cell.systemId) ?? new Set<number>()
        for (const turn of cell.turns) for (const pid of turn.pids) pids.add(pid)
        pidsOf.set(cell.systemId, pids)
      }
      const everyPid = new Set([...pidsOf.values()].flatMap((pids) => [...pids]))
      expect(everyPid.has(process.pid)).toBe(false)
      if (isolate) {
        for (const [systemId, pids] of pidsOf) expect(pids.size, systemId).toBe(procs)
        expect(everyPid.size).toBe(pidsOf.size * procs)
      } else {
        expect(everyPid.size).toBe(procs)
      }
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
  test('--quick: 3 rounds of 200 ms turns in 50 ms slices on a pool of 4 with 8 in flight, no longer first warm-up; explicit options still win; each system in its own processes with --isolate', async () => {
    const { parseOptions } = await import('../src/bench/main.js')
    const quick = parseOptions(['--quick'])
    expect([quick.rounds, quick.maxMs, quick.pool, quick.concurrency, quick.sliceMs]).toEqual([
      3, 200, 4, 8, 50,
    ])
    const full = parseOptions([])
    expect([full.rounds, full.maxMs, full.pool, full.concurrency, full.sliceMs]).toEqual([
      7, 1500, 16, 32, 200,
    ])
    // The first round's longer warm-up in a full run only: a quick run stays short.
    expect([full.longFirstWarmup, quick.longFirstWarmup]).toEqual([true, false])
    expect(parseOptions(['--slice-ms', '120']).sliceMs).toBe(120)
    expect(() => parseOptions(['--slice-ms', '0'])).toThrow(/--slice-ms must be a whole number ≥ 1/)
    const mixed = parseOptions(['--quick', '--pool', '16', '--concurrency', '32'])
    expect([mixed.pool, mixed.concurrency]).toEqual([16, 32])
    // Every system in the same process(es) unless told otherwise, quick or not.
    expect([full.isolate, quick.isolate, parseOptions(['--isolate']).isolate]).toEqual([false, false, true])
  })
})

describe('the warm-up', () => {
  test("the first round's turns warm up on a quarter of the fresh keys and a tenth of the hits; later rounds on a pool's worth", () => {
    const all = workloads({ keys: 2000, callersPerKey: 4, hotKeys: 1000, calls: 20_000 })
    const count = (calls: readonly string[]) => ({
      fresh: new Set(calls.filter((key) => key.startsWith('warm'))).size,
      freshCalls: calls.filter((key) => key.startsWith('warm')).length,
      hits: calls.filter((key) => key.startsWith('hot-')).length,
    })
    expect(count(all.hits.warmup(1, 32, true))).toEqual({ fresh: 500, freshCalls: 1000, hits: 2000 })
    expect(count(all.hits.warmup(2, 32, false))).toEqual({ fresh: 32, freshCalls: 64, hits: 64 })
    expect(count(all['miss-storm'].warmup(1, 32, true))).toEqual({ fresh: 500, freshCalls: 1000, hits: 0 })
    expect(count(all.burst.warmup(2, 32, false))).toEqual({ fresh: 32, freshCalls: 64, hits: 0 })
    // Never fewer than a pool's worth, whatever the sizes.
    const tiny = workloads({ keys: 20, callersPerKey: 4, hotKeys: 50, calls: 100 })
    expect(count(tiny.mixed.warmup(1, 8, true))).toEqual({ fresh: 8, freshCalls: 16, hits: 16 })
  })
})

describe("the miss storm's turns", () => {
  test('a prefix of its shuffled list holds more than its share of first calls; the other workloads hold their share', async () => {
    const { workloads } = await import('../src/bench/workloads.js')
    const all = workloads({ keys: 2000, callersPerKey: 4, hotKeys: 1000, calls: 20_000 })
    const firstCalls = (calls: readonly string[]) => {
      const seen = new Set<string>()
      let first = 0
      for (const key of calls) {
        if (key.startsWith('hot-') || seen.has(key)) continue
        seen.add(key)
        first++
      }
      return first
    }
    const storm = all['miss-storm'].calls(1)
    const quarter = storm.slice(0, storm.length / 4)
    // 1 − (3/4)^4 ≈ 68 % of the keys have a caller in the first quarter: 0.68 first calls a call, not 0.25.
    expect(firstCalls(quarter) / quarter.length).toBeGreaterThan(0.6)
    expect(firstCalls(storm) / storm.length).toBe(0.25)
    const burst = all.burst.calls(1)
    expect(firstCalls(burst.slice(0, burst.length / 4)) / (burst.length / 4)).toBe(0.25)
    const mixed = all.mixed.calls(1)
    const mixedShare = firstCalls(mixed) / mixed.length
    expect(firstCalls(mixed.slice(0, mixed.length / 4)) / (mixed.length / 4)).toBeCloseTo(mixedShare, 2)
  })

  test('run every call up to --storm-max-ms, while the other workloads stop at --max-ms', async () => {
    const { parseOptions } = await import('../src/bench/main.js')
    const { turnMaxMs } = await import('../src/bench/options.js')
    const full = parseOptions([])
    expect([full.stormMaxMs, turnMaxMs(full, 'miss-storm'), turnMaxMs(full, 'hits')]).toEqual([
      5000, 5000, 1500,
    ])
    expect(turnMaxMs(parseOptions(['--quick']), 'miss-storm')).toBe(200)
    // Never shorter than the other workloads' cap; --max-ms 0 runs every call everywhere.
    expect(turnMaxMs(parseOptions(['--storm-max-ms', '800']), 'miss-storm')).toBe(1500)
    expect(turnMaxMs(parseOptions(['--max-ms', '0']), 'miss-storm')).toBe(Number.POSITIVE_INFINITY)
    expect(() => parseOptions(['--storm-max-ms', '0'])).toThrow(/--storm-max-ms must be a whole number ≥ 1/)

    // A run whose turns stop after 1 ms, but not the miss storm's: its 80 calls all run; 2,000 hits cannot.
    const result = await runBench({
      ...tiny(1),
      maxMs: 1,
      stormMaxMs: Number.POSITIVE_INFINITY,
      sizes: { keys: 20, callersPerKey: 4, hotKeys: 50, calls: 2000 },
      systems: ['floor-select', 'floor-insert'],
      workloads: ['miss-storm', 'hits'],
    })
    const cell = (workload: string, systemId: string) =>
      result.cells.find((candidate) => candidate.workload === workload && candidate.systemId === systemId)
    expect(cell('miss-storm', 'floor-insert')?.calls).toBe(80)
    expect(cell('hits', 'floor-select')?.calls).toBeLessThan(2000)
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

  test('the passes of a turn go in mirrored pairs: a shuffled order, then the same backwards; every system first as often as last', async () => {
    const { passOrder, turnOrder } = await import('../src/bench/rounds.js')
    const systems = ['a', 'b', 'c', 'd']
    for (let seed = 1; seed <= 20; seed++) {
      const first = passOrder([], systems, seed, 0)
      expect(first).toEqual(turnOrder(systems, seed))
      const second = passOrder(first, systems, seed + 1, 1)
      expect(second).toEqual([...first].reverse())
      // Two systems: A B then B A, whatever the shuffle said.
      const pair = passOrder([], ['x', 'y'], seed, 0)
      expect([...pair, ...passOrder(pair, ['x', 'y'], seed + 1, 1)]).toEqual([
        ...pair,
        ...[...pair].reverse(),
      ])
      // A system that finished its calls leaves the mirrored pass; the rest keep their mirrored order.
      const left = first.filter((system) => system !== first[1])
      expect(passOrder(first, left, seed + 1, 1)).toEqual([...first].reverse().filter((s) => s !== first[1]))
      // The next pair of passes is shuffled anew.
      expect([...passOrder(second, systems, seed + 2, 2)].sort()).toEqual(systems)
    }
    // Over both passes of a pair, each system's positions add up alike: first in one, last in the other.
    const first = passOrder([], systems, 7, 0)
    const second = passOrder(first, systems, 8, 1)
    for (const system of systems)
      expect(first.indexOf(system) + second.indexOf(system)).toBe(systems.length - 1)
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

describe('pnpm bench groups', () => {
  test("every target's two systems share a group of at most 5, each system in one group a round but a shared floor", async () => {
    const { groupsFor, totalTurns } = await import('../src/bench/options.js')
    const { targetPairs } = await import('../src/bench/targets.js')
    const { systemIds } = await import('../src/bench/options.js')
    const options = { systems: systemIds, pool: 16, procs: 1 }
    for (const workload of ['miss-storm', 'burst', 'hits', 'mixed'] as const) {
      const groups = groupsFor(options, workload)
      for (const group of groups) {
        expect(group.length, workload).toBeLessThanOrEqual(5)
        expect(new Set(group).size, `${workload}: a system twice in one group`).toBe(group.length)
      }
      const pairs = targetPairs(workload)
      expect(pairs.length, workload).toBeGreaterThan(0)
      for (const [a, b] of pairs) {
        expect(
          groups.some((group) => group.includes(a) && group.includes(b)),
          `${workload}: ${a} and ${b} apart`,
        ).toBe(true)
      }
      const turns = groups.flat()
      const extra = turns.filter((id, i) => turns.indexOf(id) !== i)
      // The hits targets link 9 systems (the SELECT floor with four strategies, two of them with their fenced
      // or unshared twins): too many for one group, so the floor takes a turn in two.
      expect(extra, workload).toEqual(workload === 'hits' ? ['floor-select'] : [])
    }
    // Fewer connections to spare, smaller groups: a pool of 32 leaves room for two systems at once.
    for (const group of groupsFor({ ...options, pool: 32 }, 'miss-storm'))
      expect(group.length).toBeLessThanOrEqual(2)
    expect(totalTurns({ ...options, workloads: ['hits'], rounds: 3 })).toBe(
      3 * groupsFor(options, 'hits').flat().length,
    )
  })

  test('a group of systems too large for one is split pair by pair, and parts are packed first-fit', async () => {
    const { turnGroups } = await import('../src/bench/groups.js')
    const star: [string, string][] = [
      ['a', 'hub'],
      ['b', 'hub'],
      ['c', 'hub'],
      ['d', 'c'],
    ]
    expect(turnGroups(['hub', 'a', 'b', 'c', 'd', 'e'], star, 3)).toEqual([
      ['a', 'hub', 'b'],
      ['c', 'hub', 'd'],
      ['e'],
    ])
    expect(
      turnGroups(
        ['a', 'b', 'c', 'd', 'e'],
        [
          ['a', 'b'],
          ['c', 'd'],
          ['x', 'a'],
        ],
        3,
      ),
    ).toEqual([
      ['a', 'b', 'e'],
      ['c', 'd'],
    ])
    expect(() => turnGroups(['a'], [], 1)).toThrow(RangeError)
  })

  test("a group's systems are set up together and take turns slice by slice, each rate over its own slices", async () => {
    const { runRounds } = await import('../src/bench/rounds.js')
    const { localRunner } = await import('../src/bench/runner.js')
    const { systemsFor } = await import('../src/bench/options.js')
    const admin = postgres(databaseUrl, { max: 2, onnotice: () => {} })
    const made: string[] = []
    const local = localRunner()
    const log: string[] = []
    // The local runner, logging what the rounds ask of it.
    const runner = {
      ...local,
      async prepare(specs: Parameters<typeof local.prepare>[0]) {
        const id = specs[0]!.systemId
        const running = await local.prepare(specs)
        log.push(`prepare ${id}`)
        return {
          slice: async () => {
            log.push(`slice ${id}`)
            return running.slice()
          },
          finish: async () => {
            log.push(`finish ${id}`)
            return running.finish()
          },
          abort: () => running.abort(),
        }
      },
    }
    try {
      const options = {
        ...tiny(1),
        systems: ['ours-constraint', 'floor-insert', 'django'],
        workloads: ['miss-storm' as const],
        sliceMs: 1,
      }
      const workload = workloads(options.sizes)['miss-storm']
      const systems = systemsFor(options, 'miss-storm')
      const tableOf = await createTables(admin, `slices${process.pid}`, workload, systems, made)
      const cells = await runRounds({
        options,
        admin,
        runner,
        workload,
        systems,
        tableOf,
        redisTrioUrls: [],
        interrupted: () => false,
        turnDone: () => {},
      })
      // One group (the two targets link the three), all set up before the first slice.
      expect(log.slice(0, 3).every((line) => line.startsWith('prepare'))).toBe(true)
      const slices = log.filter((line) => line.startsWith('slice'))
      // 80 calls cannot run in a first slice of 1 ms: each system runs two slices at least, in passes of one
      // slice each (the pass after a system's last slice, whose answer is "done", has one system fewer).
      expect(slices.length).toBeGreaterThanOrEqual(6)
      expect(new Set(slices.slice(0, 3)).size).toBe(3)
      expect(new Set(slices.slice(3, 6)).size).toBe(3)
      expect(log.slice(-3).every((line) => line.startsWith('finish'))).toBe(true)
      for (const cell of cells) {
        expect(cell.calls, cell.name).toBe(80)
        expect(cell.duplicates, cell.name).toBe(0)
        expect(cell.turns.map((turn) => turn.group)).toEqual([0])
      }
    } finally {
      await dropTables(admin, made)
      await admin.end({ timeout: 5 })
    }
  })

  test("a turn's time is the sum of its slices, each from the first start to the last end in any process", async () => {
    const { measureTurn } = await import('../src/bench/stats.js')
    const result = (windows: [number, number][], outcomes: [number, number, number][]) => ({
      outcomes,
      latenciesUs: outcomes.map(() => 1000),
      errors: 0,
      errorSamples: [],
      tooManyConnections: false,
      windows,
      cpuUs: 0,
      pid: 1,
    })
    const measure = measureTurn(
      1,
      0,
      [['k1', 'k2'], ['k3']],
      [
        result(
          [
            [1_000, 1_010],
            [1_100, 1_104],
          ],
          [
            [0, 1, 1],
            [1, 2, 1],
          ],
        ),
        // The second process ran out of calls after one slice.
        result([[1_002, 1_012]], [[0, 3, 1]]),
      ],
      [
        { slug: 'k1', id: 1 },
        { slug: 'k2', id: 2 },
        { slug: 'k3', id: 3 },
      ],
      new Set(),
    )
    // (1,012 - 1,000) + (1,104 - 1,100) = 16 ms, not the 104 ms from the first start to the last end.
    expect(measure.seconds).toBeCloseTo(0.016, 9)
    expect(measure.rate).toBeCloseTo(3 / 0.016, 6)
    expect(measure.group).toBe(0)
  })
})

describe('the observed system', () => {
  test("subscribes to the tracing channel only while its own calls run, never during its group's other slices", async () => {
    const diagnosticsChannel = await import('node:diagnostics_channel')
    const { DIAGNOSTICS_CHANNELS } = await import('@getorcreate/core')
    const { prepareTurn } = await import('../src/bench/turn.js')
    const channel = diagnosticsChannel.tracingChannel(DIAGNOSTICS_CHANNELS.getOrCreate)
    const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} })
    const made: string[] = []
    try {
      const observed = systemById('ours-constraint-observed')
      const workload = workloads(tiny(1).sizes)['miss-storm']
      const tables = await createTables(admin, `observed${process.pid}`, workload, [observed], made)
      expect(channel.hasSubscribers).toBe(false)
      const turn = await prepareTurn({
        systemId: observed.id,
        ctx: { databaseUrl, table: tables.get(observed.id)!, pool: 2, redisUrl, redisTrioUrls: [] },
        warmup: workload.warmup(1, 4, false),
        calls: workload.calls(1),
        concurrency: 4,
        sliceMs: 1,
        maxMs: 1e12,
      })
      // Set up and warmed up: between its slices, the process runs other systems' calls, unobserved.
      expect(channel.hasSubscribers).toBe(false)
      // A slice subscribes before its first call starts (synchronously), and leaves when its calls are done.
      const slice = turn.slice()
      expect(channel.hasSubscribers).toBe(true)
      expect(await slice).toBe(false)
      expect(channel.hasSubscribers).toBe(false)
      while (!(await turn.slice())) expect(channel.hasSubscribers).toBe(false)
      const result = await turn.finish()
      expect(result.outcomes).toHaveLength(80)
      expect(channel.hasSubscribers).toBe(false)
    } finally {
      await dropTables(admin, made)
      await admin.end({ timeout: 5 })
    }
  })
})

describe('a turn in slices', () => {
  test('after its first slice, a slice lasts 50 times the previous mean latency where that is longer than --slice-ms', async () => {
    const { prepareTurn } = await import('../src/bench/turn.js')
    const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} })
    const made: string[] = []
    try {
      const floor = systemById('floor-insert')
      const workload = workloads({ ...tiny(1).sizes, keys: 60 })['miss-storm']
      const tables = await createTables(admin, `slicelen${process.pid}`, workload, [floor], made)
      const turn = await prepareTurn({
        systemId: floor.id,
        ctx: { databaseUrl, table: tables.get(floor.id)!, pool: 2, redisUrl, redisTrioUrls: [] },
        warmup: workload.warmup(1, 2, false),
        calls: workload.calls(1),
        concurrency: 2,
        sliceMs: 1,
        maxMs: 1e12,
      })
      while (!(await turn.slice())) {}
      const result = await turn.finish()
      expect(result.outcomes).toHaveLength(240)
      // 240 calls, 2 in flight, of at least 0.1 ms each: 12 ms at least, 12 slices or more of 1 ms. The second
      // slice lasts 50 mean latencies (5 ms or more), the third too if need be.
      expect(result.windows.length).toBeGreaterThanOrEqual(2)
      expect(result.windows.length).toBeLessThanOrEqual(4)
      const [first, second] = result.windows.map(([start, end]) => end - start)
      expect(second!).toBeGreaterThan(first!)
    } finally {
      await dropTables(admin, made)
      await admin.end({ timeout: 5 })
    }
  })
})
