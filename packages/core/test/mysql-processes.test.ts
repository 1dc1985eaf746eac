import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { createMysqlShape, type MysqlHarness, mysqlUrl, openMysql } from './support/mysql.js'

const WORKER = fileURLToPath(new URL('./workers/mysql-race.ts', import.meta.url))
const PROCESSES = 4

interface Outcome {
  pid: number
  slug: string
  created: boolean
  id: number
}

/** A worker OS process (`node --conditions=@getorcreate/source --import tsx`): it says "ready", waits for "go", prints JSON. */
function startWorker(job: unknown): { ready: Promise<void>; go(): void; done: Promise<Outcome[]> } {
  const child = spawn(
    process.execPath,
    ['--conditions=@getorcreate/source', '--import', 'tsx', WORKER, JSON.stringify(job)],
    {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  )
  let out = ''
  let err = ''
  let signalReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => {
    signalReady = resolve
  })
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString()
    if (out.startsWith('ready\n')) signalReady()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString()
  })
  const done = new Promise<Outcome[]>((resolve, reject) => {
    child.on('error', reject)
    child.on('exit', (code) => {
      if (code === 0) resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '[]') as Outcome[])
      else reject(new Error(`worker exited with ${code}: ${err}`))
    })
  })
  return { ready: Promise.race([ready, done.then(() => {})]), go: () => child.stdin.end('go\n'), done }
}

/** Start `count` workers, wait until every one is loaded and connected, then start them all at once. */
async function race(count: number, job: unknown): Promise<Outcome[]> {
  const workers = Array.from({ length: count }, () => startWorker(job))
  await Promise.all(workers.map((worker) => worker.ready))
  for (const worker of workers) worker.go()
  return (await Promise.all(workers.map((worker) => worker.done))).flat()
}

let h: MysqlHarness
beforeAll(() => {
  h = openMysql(2)
})
afterAll(async () => {
  await h.close()
})

test(`MariaDB: ${PROCESSES} OS processes race on the same keys, exact counts`, async () => {
  const table = await createMysqlShape(h, 'unique')
  const keys = Array.from({ length: 60 }, (_, i) => `key-${i}`)
  const callersPerKey = 3
  const concurrency = 8 // per process: its pool has as many connections (32 in all)
  const all = await race(PROCESSES, { url: mysqlUrl(), table, keys, callersPerKey, concurrency })
  expect(all.length).toBe(PROCESSES * keys.length * callersPerKey)
  for (const slug of keys) {
    const mine = all.filter((outcome) => outcome.slug === slug)
    expect(mine.filter((outcome) => outcome.created).length).toBe(1)
    expect(new Set(mine.map((outcome) => outcome.id)).size).toBe(1)
  }
  // The processes really raced: rows were created by more than one of them.
  expect(
    new Set(all.filter((outcome) => outcome.created).map((outcome) => outcome.pid)).size,
  ).toBeGreaterThan(1)
  const rows = await h.rows(
    `select slug, count(*) as n from ${table} group by slug order by slug collate utf8mb4_bin`,
  )
  expect(rows.map((row) => [row.slug, Number(row.n)])).toEqual([...keys].sort().map((slug) => [slug, 1]))
})
