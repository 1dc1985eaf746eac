/**
 * The test suite as a guest on someone's database (guest.ts of @getorcreate/test-support): the check of free connections
 * before a run, the count of connections during it, the leftover check after it. The whole-run cases start
 * vitest in a child process on a small fixture project (test/support/guest/) whose global setup is the one
 * every package uses, and read what it prints.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  checkConnections,
  checkNative,
  databaseUrl,
  GuestCheckError,
  leftovers,
  mysqlBudget,
  mysqlUrl,
  PeakSampler,
  postgresBudget,
  RUN_TAG_ENV,
  type SqlProbe,
  shortfall,
} from '@getorcreate/test-support'
import { mysqlProbe, postgresProbe } from '@getorcreate/test-support/probes'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { FIXTURE_ENV, type FixtureSpec } from './support/guest/spec.js'

const LINE =
  /^Postgres at \S+ has (\d+) free connections \(max_connections (\d+)(?: - (\d+) reserved)? - (\d+) in use\) and (.+) need (\d+): close some of the other clients or raise max_connections, then run the tests again\.$/

describe('the free-connections check', () => {
  test('the line gives what is needed and what is free: max_connections - reserved - in use', () => {
    const budget = { server: 'Postgres', max: 100, reserved: 3, inUse: 47, free: 50 }
    const line = shortfall(budget, 70, 'the core tests', 'postgres://app:secret@db.example:5432/shop')
    expect(line).toBe(
      'Postgres at postgres://app:***@db.example:5432/shop has 50 free connections (max_connections 100 - 3 ' +
        'reserved - 47 in use) and the core tests need 70: close some of the other clients or raise ' +
        'max_connections, then run the tests again.',
    )
    expect(shortfall(budget, 50, 'the core tests', 'postgres://h/db')).toBeUndefined()
  })

  describe('on the live server', () => {
    let probe: SqlProbe
    beforeAll(() => {
      probe = postgresProbe(databaseUrl(), 'getorcreate-guest-test')
    })
    afterAll(async () => {
      await probe.close()
    })

    test("reads the server's own settings", async () => {
      const budget = await postgresBudget(probe)
      const [settings] = await probe.query(`select current_setting('max_connections')::int as max,
        current_setting('superuser_reserved_connections')::int
          + coalesce(current_setting('reserved_connections', true)::int, 0) as reserved`)
      expect(budget).toMatchObject({ max: settings?.max, reserved: settings?.reserved })
      expect(budget.free).toBe(budget.max - budget.reserved - budget.inUse)
      expect(budget.inUse).toBeGreaterThanOrEqual(0)
    })

    test('a need above max_connections stops the run with the one line', async () => {
      const { max } = await postgresBudget(probe)
      const error = await checkConnections(probe, 'postgres', max + 1, 'the core tests', databaseUrl()).catch(
        (caught: unknown) => caught,
      )
      expect(error).toBeInstanceOf(GuestCheckError)
      const message = (error as Error).message
      expect(message).toMatch(LINE)
      expect(message.match(LINE)?.[6]).toBe(String(max + 1))
    })

    test('connections another client holds count as in use, and can leave too few free', async () => {
      const held = 5
      const other = postgres(databaseUrl(), {
        max: held,
        onnotice: () => {},
        connection: { application_name: 'getorcreate-guest-holder' },
      })
      try {
        const connections = await Promise.all(Array.from({ length: held }, () => other.reserve()))
        const { max, reserved } = await postgresBudget(probe)
        // With `held` connections open, at most max - reserved - held are free: one fewer than this need.
        const need = max - reserved - held + 1
        const error = await checkConnections(probe, 'postgres', need, 'the core tests', databaseUrl()).catch(
          (caught: unknown) => caught,
        )
        expect(error).toBeInstanceOf(GuestCheckError)
        const [, free, , , inUse] = (error as Error).message.match(LINE) ?? []
        expect(Number(inUse)).toBeGreaterThanOrEqual(held)
        expect(Number(free)).toBeLessThan(need)
        for (const connection of connections) connection.release()
      } finally {
        await other.end({ timeout: 5 })
      }
    })
  })
})

test('MariaDB: a need above max_connections stops the run with the one line', async () => {
  const probe = mysqlProbe(mysqlUrl())
  try {
    const { max, inUse, free } = await mysqlBudget(probe)
    expect(free).toBe(max - inUse)
    const error = await checkConnections(probe, 'mysql', max + 1, 'the core tests', mysqlUrl()).catch(
      (caught: unknown) => caught,
    )
    expect(error).toBeInstanceOf(GuestCheckError)
    expect((error as Error).message).toMatch(
      new RegExp(
        `^MariaDB / MySQL at \\S+ has \\d+ free connections \\(max_connections ${max} - \\d+ in use\\) and the core ` +
          `tests need ${max + 1}: close some of the other clients or raise max_connections, then run the tests again\\.$`,
      ),
    )
  } finally {
    await probe.close()
  }
})

test('a native addon that does not load stops the run with one line that says how to build it', () => {
  const missing = () => {
    throw new Error('Could not locate the bindings file. Tried:\n → /somewhere/build/better_sqlite3.node')
  }
  expect(() => checkNative({ name: 'better-sqlite3', open: missing }, 'the core tests')).toThrow(
    GuestCheckError,
  )
  expect(() => checkNative({ name: 'better-sqlite3', open: missing }, 'the core tests')).toThrow(
    "the core tests need better-sqlite3's native addon, which does not load (Could not locate the bindings " +
      'file. Tried:): run `node scripts/build-native.mjs` from the repository root; it builds the addon or says ' +
      'what is missing.',
  )
  expect(() => checkNative({ name: 'better-sqlite3', open: () => {} }, 'the core tests')).not.toThrow()
})

test('the peak sampler sends one sample at a time, so a slow server does not queue samples for the teardown', async () => {
  let sent = 0
  let inFlight = 0
  let mostInFlight = 0
  const slow: SqlProbe = {
    query: async () => {
      sent++
      inFlight++
      mostInFlight = Math.max(mostInFlight, inFlight)
      await new Promise((resolve) => setTimeout(resolve, 60))
      inFlight--
      return [{ n: sent }]
    },
    close: async () => {},
  }
  const sampler = new PeakSampler(slow, 'unused', 5)
  await new Promise((resolve) => setTimeout(resolve, 300))
  const stopping = performance.now()
  const peak = await sampler.stop()
  expect(performance.now() - stopping).toBeLessThan(1_000)
  expect(mostInFlight).toBe(1)
  expect(sent).toBeLessThanOrEqual(8)
  expect(peak).toBe(sent)
})

describe('leftovers', () => {
  test("new names are ours (tagged with this run) or untagged; another run's tagged names are its own", () => {
    const before = new Set(['public.old', 'public.t_run0000000a_111111'])
    const after = [
      'public.old',
      'public.t_run0000000a_111111',
      'public.t_run1234abcd_222222',
      'public.t_run9999ffff_333333',
      'public.tags_5e6f',
    ]
    expect(leftovers(before, after, '1234abcd')).toEqual({
      ours: ['public.t_run1234abcd_222222'],
      untagged: ['public.tags_5e6f'],
    })
  })
})

const fixtureDir = fileURLToPath(new URL('./support/guest/', import.meta.url))
const vitestBin = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs')

/** Run the fixture project in a new vitest process; its output as trimmed, non-empty lines but the banner. */
function runFixture(
  spec: FixtureSpec,
  env: Record<string, string> = {},
): Promise<{ code: number | null; lines: string[]; tag: string }> {
  const tag = randomBytes(4).toString('hex')
  // A run of its own: none of this run's tag, application name or vitest worker state.
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => !name.startsWith('VITEST') && name !== 'PGAPPNAME' && name !== RUN_TAG_ENV,
    ),
  )
  const child = spawn(process.execPath, [vitestBin, 'run', '--root', fixtureDir], {
    cwd: fixtureDir,
    env: { ...inherited, NO_COLOR: '1', [RUN_TAG_ENV]: tag, [FIXTURE_ENV]: JSON.stringify(spec), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => {
      const lines = output
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line !== '' && !/^RUN\s+v\d/.test(line))
      resolve({ code, lines, tag })
    })
  })
}

describe('a whole run', () => {
  let probe: SqlProbe
  beforeAll(() => {
    probe = postgresProbe(databaseUrl(), 'getorcreate-guest-test')
  })
  afterAll(async () => {
    await probe.close()
  })

  async function tablesTagged(tag: string): Promise<number> {
    const [row] = await probe.query(
      `select count(*)::int as n from pg_tables where tablename like 'guest\\_run${tag}\\_%'`,
    )
    return Number(row?.n)
  }

  test('with too few free Postgres connections it prints one line, the figures, and no test runs', async () => {
    const { code, lines, tag } = await runFixture({ need: 100_000 })
    expect(code).toBe(1)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(LINE)
    expect(lines[0]).toContain('the fixture tests need 100000')
    expect(await tablesTagged(tag)).toBe(0)
  })

  test('with a DATABASE_URL that does not answer it prints one line, not "No test files found" first', async () => {
    const { code, lines } = await runFixture(
      { need: 1 },
      { DATABASE_URL: 'postgres://root@127.0.0.1:1/test' },
    )
    expect(code).toBe(1)
    expect(lines).toEqual([
      'DATABASE_URL=postgres://root@127.0.0.1:1/test does not answer. Fix the URL or start Postgres 15+ ' +
        'locally (pg_ctlcluster <version> main start), or set DATABASE_URL=postgres://user@host:port/db.',
    ])
  })

  test('a clean run passes the checks', async () => {
    const { code, lines, tag } = await runFixture({ need: 4, hold: 2 })
    expect(lines.join('\n')).not.toMatch(/left|held/)
    expect(code).toBe(0)
    expect(await tablesTagged(tag)).toBe(0)
  })

  test('a run that leaves a table tagged with it fails, naming it, and removes it', async () => {
    const { code, lines, tag } = await runFixture({ need: 4, leaveTagged: true })
    expect(code).toBe(1)
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^the fixture tests left 1 Postgres table: public\\.guest_run${tag}_[0-9a-f]+\\. ` +
            'A test must drop what it creates; removed now\\.$',
        ),
      ),
    )
    expect(await tablesTagged(tag)).toBe(0)
  })

  test("a table another client makes during the run is named and left alone; the run's result stands", async () => {
    const untagged = `guest_untagged_${randomBytes(6).toString('hex')}`
    try {
      const { code, lines } = await runFixture({ need: 4, leaveUntagged: untagged })
      expect(code).toBe(0)
      expect(lines).toContain(
        `note: 1 Postgres table: public.${untagged} appeared during the fixture tests, not tagged with a test ` +
          'run (another client, or a test that does not tag its names): left alone.',
      )
      expect(lines.join('\n')).not.toMatch(/fixture tests left/)
      const [row] = await probe.query(
        `select count(*)::int as n from pg_tables where tablename = '${untagged}'`,
      )
      expect(row?.n).toBe(1)
    } finally {
      await probe.query(`drop table if exists ${untagged}`)
    }
  })

  test('a run that holds more Postgres connections than it declares fails', async () => {
    const { code, lines } = await runFixture({ need: 3, hold: 6 })
    expect(code).toBe(1)
    const line = lines.find((candidate) => candidate.startsWith('the fixture tests held'))
    const [, total, sampled] =
      line?.match(
        /^the fixture tests held (\d+) Postgres connections at once \((\d+) \+ this check's 1\), more than the 3 their global setup declares/,
      ) ?? []
    expect(Number(sampled)).toBeGreaterThanOrEqual(6)
    expect(Number(total)).toBe(Number(sampled) + 1)
  })
})
