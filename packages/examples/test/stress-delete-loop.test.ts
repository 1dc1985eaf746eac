/**
 * The stress run's delete loop runs in the parent, which also injects the faults; its SQLite connection
 * (better-sqlite3, which waits for a lock synchronously) must not freeze the parent while a stopped worker
 * holds the file's write lock, or the worker's SIGCONT comes only when the wait runs out.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, expect, test } from 'vitest'
import {
  type Admin,
  DELETE_LOOP_BUSY_TIMEOUT_MS,
  deleteRange,
  openDeleteLoopSqlite,
  type TableSpec,
} from '../src/stress/tables.js'

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

test('a delete round skips a write lock held elsewhere within its short busy timeout; the parent keeps running', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'getorcreate-delete-loop-'))
  dirs.push(dir)
  const file = join(dir, 'stress.sqlite')
  const holder = new Database(file)
  holder.pragma('journal_mode = WAL')
  holder.exec(
    `create table t (id integer primary key, slug text not null); insert into t (slug) values ('d1'), ('k1')`,
  )
  const spec: TableSpec = { name: 't', dialect: 'sqlite', strategy: 'constraint', services: ['sqlite'] }
  const lite = openDeleteLoopSqlite(file)
  try {
    // A worker stopped inside its write transaction: the lock stays taken.
    holder.exec('begin immediate')
    holder.exec(`insert into t (slug) values ('d2')`)
    // A timer due while the round waits fires on time only if the wait does not freeze the process for long.
    const due = performance.now() + 20
    const fired = new Promise<number>((resolve) => setTimeout(() => resolve(performance.now() - due), 20))
    const started = performance.now()
    const error = await deleteRange({} as Admin, spec, lite).catch((e: unknown) => e)
    const waited = performance.now() - started
    expect((error as { code?: string }).code).toBe('SQLITE_BUSY')
    expect(waited).toBeGreaterThanOrEqual(DELETE_LOOP_BUSY_TIMEOUT_MS * 0.8)
    expect(waited).toBeLessThan(1_000)
    expect(await fired).toBeLessThan(1_000)
    // Once the worker goes on and commits, the next round deletes the range, its row included.
    holder.exec('commit')
    await deleteRange({} as Admin, spec, lite)
    expect(lite.prepare('select slug from t order by slug').pluck().all()).toEqual(['k1'])
  } finally {
    lite.close()
    holder.close()
  }
})
