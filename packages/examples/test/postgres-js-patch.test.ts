/**
 * The repository's patch of postgres.js 3.4.9 (`patches/postgres@3.4.9.patch`, applied by pnpm): without it,
 * backends terminated under load (`pg_terminate_backend`), with the client process paused meanwhile (SIGSTOP,
 * as a GC pause or a stopped VM does), leave postgres.js with queries that never settle and connections that
 * never reconnect (each reconnect times out, CONNECT_TIMEOUT, again and again). `pnpm stress` injects both
 * faults; this is the driver's part of it, on its own. And the pool's queue of idle connections, which a busy
 * pool never empties, grew by a slot a query and was searched whole on every query. And a query's classes
 * (`Query`, `Result`) declared `Symbol.species` with a static getter, which makes V8 (Node 20) give up
 * optimizing their constructors, on every query.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { scratchName } from '@getorcreate/test-support'
import postgres from 'postgres'
import { afterAll, expect, test } from 'vitest'

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test'
const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} })
const workers: ChildProcess[] = []
const require = createRequire(import.meta.url)
/** Where the installed postgres.js lives (its `src`, `cjs` and `cf` builds beside each other). */
const root = dirname(dirname(dirname(require.resolve('postgres'))))

afterAll(async () => {
  for (const worker of workers) worker.kill('SIGKILL')
  await admin.end({ timeout: 5 })
})

interface Report {
  readonly done: number
  readonly oldestMs: number
  readonly errors: Record<string, number>
}

test('postgres.js, backends terminated under load while the process is paused: every query settles, every connection comes back', async () => {
  const name = scratchName('pgjs')
  const script = fileURLToPath(new URL('./workers/postgres-js-load.ts', import.meta.url))
  const worker = spawn(
    process.execPath,
    ['--conditions=@getorcreate/source', '--import', 'tsx', script, name],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, DATABASE_URL: databaseUrl },
    },
  )
  workers.push(worker)
  const reports: Report[] = []
  createInterface({ input: worker.stdout! }).on('line', (line) => reports.push(JSON.parse(line) as Report))
  const backends = async () =>
    (await admin`select count(*)::int as n from pg_stat_activity where application_name = ${name}`)[0]!
      .n as number
  const terminate = async () =>
    (
      await admin`select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where application_name = ${name}`
    )[0]!.n as number
  while (reports.length < 2) await delay(100)
  expect(await backends()).toBe(8)
  for (let round = 0; round < 3; round++) {
    expect(await terminate()).toBeGreaterThan(0)
    await delay(100 + round * 300)
    worker.kill('SIGSTOP')
    await delay(3_000)
    worker.kill('SIGCONT')
    await delay(3_000)
  }
  // Every call started before the faults has settled long since; the pool is whole again and still serves.
  await delay(12_000)
  const last = reports.at(-1)!
  const before = reports.at(-4)!
  expect(last.oldestMs, JSON.stringify(last)).toBeLessThan(5_000)
  expect(last.done - before.done).toBeGreaterThan(100)
  expect(await backends()).toBe(8)
  // The faults did reach the driver: its queries failed with the terminated connections' errors.
  expect(Object.keys(last.errors).length).toBeGreaterThan(0)
  expect(last.errors.CONNECT_TIMEOUT ?? 0).toBe(0)
  worker.kill('SIGKILL')
  await once(worker, 'exit')
}, 60_000)

/** postgres.js's `Queue` (its pool's queues of connections and queries): the ESM build and the CommonJS one. */
async function queues(): Promise<[string, (initial?: unknown[]) => PostgresQueue][]> {
  const esm = await import(pathToFileURL(join(root, 'src', 'queue.js')).href)
  return [
    ['src', esm.default],
    ['cjs', require(join(root, 'cjs', 'src', 'queue.js'))],
  ]
}

interface PostgresQueue {
  readonly length: number
  push(x: unknown): unknown
  shift(): unknown
  remove(x: unknown): unknown
}

test("postgres.js's queue of idle connections, never empty in a busy pool, stays small and is searched from its head", async () => {
  for (const [build, Queue] of await queues()) {
    // What a busy pool does with its idle connections: one taken (shift) and another put back (push) on every
    // query, with one or more always waiting, so the queue never empties; and the connection taken is then
    // removed from the queue it left (`move`), which finds it no longer there.
    const idle = Queue()
    const connections = [{}, {}, {}]
    for (const connection of connections) idle.push(connection)
    const searched: [number, number][] = []
    const indexOf = Array.prototype.indexOf
    Array.prototype.indexOf = function (this: unknown[], ...args: [unknown, number?]) {
      searched.push([this.length, args[1] ?? 0])
      return indexOf.apply(this, args)
    }
    let found = 0
    try {
      for (let query = 0; query < 100_000; query++) {
        const taken = idle.shift()
        if (idle.remove(taken) !== null) found++
        idle.push(taken)
      }
    } finally {
      Array.prototype.indexOf = indexOf
    }
    expect(found, build).toBe(0)
    expect(idle.length, build).toBe(3)
    expect(searched, build).toHaveLength(100_000)
    // Unpatched, the array behind the queue grows by one slot a query (100,003 at the end) and every search
    // starts at 0: 5 billion slots read in all. Patched, it is cut back once its holes fill half of it, and a
    // search starts at the head.
    const longest = Math.max(...searched.map(([length]) => length))
    expect(longest, build).toBeLessThanOrEqual(2_048 + 3)
    const slotsRead = searched.reduce((sum, [length, from]) => sum + (length - from), 0)
    expect(slotsRead, build).toBeLessThanOrEqual(3 * 100_000)
    // And it is still a queue: first in, first out.
    const order = Queue()
    for (const x of [1, 2, 3]) order.push(x)
    expect(order.remove(2)).toBe(2)
    expect([order.shift(), order.shift(), order.shift(), order.length]).toEqual([1, 3, undefined, 0])
  }
})

/** postgres.js's `Query` and `Result` classes, from its ESM build and its CommonJS one. */
async function queryClasses(): Promise<[string, { Query: PromiseConstructor; Result: ArrayConstructor }][]> {
  const load = async (build: string) => ({
    Query: (await import(pathToFileURL(join(root, build, 'query.js')).href)).Query,
    Result: (await import(pathToFileURL(join(root, build, 'result.js')).href)).default,
  })
  return [
    ['src', await load('src')],
    [
      'cjs',
      {
        Query: require(join(root, 'cjs', 'src', 'query.js')).Query,
        Result: require(join(root, 'cjs', 'src', 'result.js')),
      },
    ],
  ]
}

/** How many times V8 gave up optimizing a function named `name` while `script` ran (`--trace-opt`). */
async function abortedOptimizations(script: string, name: string): Promise<number> {
  const child = spawn(process.execPath, ['--trace-opt', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let aborted = 0
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line.includes('aborted optimizing') && line.includes(`<JSFunction ${name} `)) aborted++
  })
  const [code] = await once(child, 'exit')
  expect(code).toBe(0)
  return aborted
}

test("postgres.js's Query and Result: Symbol.species a data property, so that V8 optimizes their constructors", async () => {
  for (const [build, { Query, Result }] of await queryClasses()) {
    // What `.then()` of a query and `.map()` of its rows make: a plain Promise, a plain Array, as before.
    expect(Query[Symbol.species], build).toBe(Promise)
    expect(Result[Symbol.species], build).toBe(Array)
    // A data property: with a static getter, V8 (Node 20) gives up optimizing the constructor every time it tries.
    expect(Object.getOwnPropertyDescriptor(Query, Symbol.species), build).toMatchObject({ value: Promise })
    expect(Object.getOwnPropertyDescriptor(Result, Symbol.species), build).toMatchObject({ value: Array })
  }
  const construct = (load: string) => `${load}
    const handler = () => {}
    let kept = []
    for (let round = 0; round < 400; round++) {
      for (let i = 0; i < 500; i++) kept.push(new Query(['select 1'], [i], handler, null, {}), new Result())
      kept = []
    }`
  const source = pathToFileURL(join(root, 'src')).href
  const patched = construct(
    `import { Query } from '${source}/query.js'; import Result from '${source}/result.js'`,
  )
  // The same classes as postgres.js 3.4.9 declares them, a static getter for Symbol.species: the control.
  const unpatched = construct(`
    class Query extends Promise {
      constructor(strings, args, handler, canceller, options = {}) {
        super(() => {}); this.strings = strings; this.args = args; this.handler = handler; this.options = options
      }
      static get [Symbol.species]() { return Promise }
    }
    class Result extends Array {
      constructor() { super(); this.count = null; this.command = null }
      static get [Symbol.species]() { return Array }
    }`)
  expect(await abortedOptimizations(unpatched, 'Query')).toBeGreaterThan(20)
  expect(await abortedOptimizations(unpatched, 'Result')).toBeGreaterThan(20)
  expect(await abortedOptimizations(patched, 'Query')).toBeLessThanOrEqual(2)
  expect(await abortedOptimizations(patched, 'Result')).toBeLessThanOrEqual(2)
}, 60_000)
