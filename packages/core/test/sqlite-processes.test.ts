import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'
import { createSqliteShape, openSqliteFile, tempDir } from './support/sqlite.js'

const WORKER = fileURLToPath(new URL('./workers/sqlite-race.ts', import.meta.url))
const PROCESSES = 4

interface Outcome {
  pid: number
  slug: string
  created: boolean
  id: number
}

/** A worker OS process (`node --conditions=@getorcreate/source --import tsx`): it says "ready", waits for "go", prints JSON. */
/** What one worker prints: the inserts it tried, and every call's outcome. */
interface WorkerReport {
  attempts: number
  results: Outcome[]
}

function startWorker(job: unknown): { ready: Promise<void>; go(): void; done: Promise<WorkerReport> } {
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
  const done = new Promise<WorkerReport>((resolve, reject) => {
    child.on('error', reject)
    child.on('exit', (code) => {
      if (code === 0) resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as WorkerReport)
      else reject(new Error(`worker exited with ${code}: ${err}`))
    })
  })
  return { ready: Promise.race([ready, done.then(() => {})]), go: () => child.stdin.end('go\n'), done }
}

/** Start `count` workers, wait until every one is loaded and connected, then start them all at once. */
async function race(count: number, job: unknown): Promise<WorkerReport[]> {
  const workers = Array.from({ length: count }, () => startWorker(job))
  await Promise.all(workers.map((worker) => worker.ready))
  for (const worker of workers) worker.go()
  return Promise.all(workers.map((worker) => worker.done))
}

test(`SQLite file (WAL): ${PROCESSES} OS processes race on the same keys, exact counts`, async () => {
  const temp = tempDir()
  try {
    const file = join(temp.dir, 'race.db')
    const setup = openSqliteFile(file)
    const table = createSqliteShape(setup, 'unique')
    const keys = Array.from({ length: 1000 }, (_, i) => `key-${i}`)
    const callersPerKey = 2
    const reports = await race(PROCESSES, { file, table, keys, callersPerKey })
    const all = reports.flatMap((report) => report.results)
    expect(all.length).toBe(PROCESSES * keys.length * callersPerKey)
    for (const slug of keys) {
      const mine = all.filter((outcome) => outcome.slug === slug)
      expect(mine.filter((outcome) => outcome.created).length).toBe(1)
      expect(new Set(mine.map((outcome) => outcome.id)).size).toBe(1)
    }
    // The processes really raced: more than one of them read a key as missing and tried to insert it. (Who
    // wins is up to SQLite's single writer: under load one process can win every key while the others wait
    // in its busy handler, so "rows created by several processes" would be a flaky proof.)
    expect(reports.filter((report) => report.attempts > 0).length).toBeGreaterThan(1)
    const rows = setup.prepare(`select slug, count(*) as n from ${table} group by slug`).all() as {
      slug: string
      n: number
    }[]
    expect(rows.length).toBe(keys.length)
    expect(rows.every((row) => row.n === 1)).toBe(true)
    setup.close()
  } finally {
    temp.remove()
  }
})
