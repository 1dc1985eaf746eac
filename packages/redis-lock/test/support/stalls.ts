/**
 * A write stalled inside the database, for stalled-in-database.test.ts: a trigger on a table makes the lock
 * holder's inserts into it wait at a gate the test holds, with the statement already in the database, and
 * the test asks the database what waits on what. Only the holder's writes wait:
 *
 * - Postgres: a trigger function waits for an advisory lock the test holds (`pg_advisory_xact_lock`) when the
 *   session's setting `getorcreate.stall` is the mark (the holder sets it at connection start).
 * - MariaDB: a trigger waits for a user lock the test holds (`GET_LOCK`, then `RELEASE_LOCK`) when the
 *   session's `@getorcreate_stall` is the mark (set on each of the holder's connections).
 * - SQLite: a trigger cannot see a session, so the holder's own connection makes the trigger (a TEMP one: on
 *   that connection only), which calls a function of the holder's process that blocks it, synchronously, in
 *   the middle of its statement, until the test creates a file (polled with `Atomics.wait`).
 */

import { randomInt } from 'node:crypto'
import { existsSync, writeFileSync } from 'node:fs'
import { scratchName } from '@getorcreate/test-support'
import Database from 'better-sqlite3'
import mysql from 'mysql2/promise'
import postgres from 'postgres'
import type { ItemsDatabase } from './items-database.js'

/** A stall of SQLite inserts into `table`, installed by the holder on its connection. */
export interface SqliteStall {
  readonly table: string
  /** Created by the holder when its insert stalls. */
  readonly stalledFile: string
  /** Created by the test to let the insert go on. */
  readonly gateFile: string
}

/** In the holder's process: make `client`'s inserts into `stall.table` wait until the gate file exists. */
export function stallSqliteInserts(client: Database.Database, stall: SqliteStall): void {
  const cell = new Int32Array(new SharedArrayBuffer(4))
  client.function('getorcreate_stall', () => {
    writeFileSync(stall.stalledFile, String(process.pid))
    while (!existsSync(stall.gateFile)) Atomics.wait(cell, 0, 0, 10)
    return null
  })
  client.exec(`create temp trigger getorcreate_stall before insert on ${stall.table}
    begin select getorcreate_stall(); end`)
}

/** A stall installed on one table of the database, the gate held by the test. */
export interface Stall {
  /** What the holder's job carries: its sessions' mark, or the SQLite stall. */
  readonly holder: { readonly stallMark?: string; readonly sqliteStall?: SqliteStall }
  /** The holder's insert waits at the gate now. */
  stalled(): Promise<boolean>
  /**
   * Another session's write waits for the stalled holder (Postgres, MariaDB: the database's lock waits; SQLite:
   * the holder has the database's one write lock, which every other writer waits for).
   */
  otherWaits(): Promise<boolean>
  /** Open the gate: the stalled statement goes on (once its process runs, on SQLite). */
  release(): Promise<void>
  /** Open the gate if still held, drop the trigger, close the connections. */
  drop(): Promise<void>
}

async function postgresStall(db: ItemsDatabase, on: string): Promise<Stall> {
  const mark = scratchName('rl_stall')
  const gateKey = randomInt(1, 2 ** 31)
  const sql = postgres(db.target.url, { max: 2, onnotice: () => undefined })
  const gate = await sql.reserve()
  await db.exec(`create function ${mark}() returns trigger language plpgsql as $$
    begin
      if current_setting('getorcreate.stall', true) = '${mark}' then perform pg_advisory_xact_lock(${gateKey}); end if;
      return new;
    end $$`)
  await db.exec(`create trigger ${mark} before insert on ${on} for each row execute function ${mark}()`)
  await gate`select pg_advisory_lock(${gateKey})`
  let holderPid = 0
  return {
    holder: { stallMark: mark },
    stalled: async () => {
      const [waiter] = await sql<{ pid: number }[]>`select pid from pg_locks where locktype = 'advisory'
        and classid = 0 and objid = ${gateKey} and objsubid = 1 and not granted`
      holderPid = waiter?.pid ?? 0
      return holderPid !== 0
    },
    otherWaits: async () => {
      const [row] = await sql<{ n: number }[]>`select count(*)::int as n from pg_stat_activity
        where ${holderPid} = any(pg_blocking_pids(pid))`
      return (row?.n ?? 0) > 0
    },
    release: async () => void (await gate`select pg_advisory_unlock(${gateKey})`),
    drop: async () => {
      try {
        await gate`select pg_advisory_unlock_all()`
        gate.release()
        await db.exec(`drop function if exists ${mark}() cascade`)
      } finally {
        await sql.end({ timeout: 5 })
      }
    },
  }
}

/**
 * True when InnoDB's status text (`SHOW ENGINE INNODB STATUS`) has a transaction of a session other than
 * `holderId` waiting for a record lock of one of `tables` (their names are this test's own).
 */
function lockWaitOn(status: string, tables: readonly (string | undefined)[], holderId: number): boolean {
  return status.split(/\n---TRANSACTION /).some((trx) => {
    const thread = /MariaDB thread id (\d+)/.exec(trx)?.[1]
    if (!trx.includes('LOCK WAIT') || thread === undefined || Number(thread) === holderId) return false
    const waitingFor = trx.split('FOR THIS LOCK TO BE GRANTED')[1] ?? ''
    return tables.some((table) => table !== undefined && waitingFor.includes(`\`.\`${table}\``))
  })
}

async function mariadbStall(db: ItemsDatabase, on: string): Promise<Stall> {
  const mark = scratchName('rl_stall')
  const gate = await mysql.createConnection({ uri: db.target.url })
  await db.exec(`create trigger ${mark} before insert on ${on} for each row
    begin
      if @getorcreate_stall = '${mark}' then do get_lock('${mark}', 600); do release_lock('${mark}'); end if;
    end`)
  await gate.query('select get_lock(?, 0)', [mark])
  const one = async (query: string, params: unknown[]) =>
    ((await gate.query(query, params))[0] as Record<string, unknown>[])[0]
  let holderId = 0
  return {
    holder: { stallMark: mark },
    stalled: async () => {
      // A statement waiting in a trigger shows the trigger's statement: the GET_LOCK of this mark.
      const waiter = await one(
        `select id from information_schema.processlist where state = 'User lock' and info like ?`,
        [`%get_lock('${mark}'%`],
      )
      holderId = Number(waiter?.id ?? 0)
      return holderId !== 0
    },
    otherWaits: async () => {
      const row = await one(
        `select count(*) as n from information_schema.innodb_lock_waits w
           join information_schema.innodb_trx t on t.trx_id = w.blocking_trx_id
         where t.trx_mysql_thread_id = ?`,
        [holderId],
      )
      if (Number(row?.n) > 0) return true
      // A statement of an anonymous block (MariaDB's one-statement fenced create) that waits for a row lock
      // is missing from innodb_trx and innodb_lock_waits (MariaDB 10.11); the engine's status shows its wait:
      // another session's transaction waiting for a record lock of this test's own tables.
      const status = (await one('show engine innodb status', []))?.Status
      return typeof status === 'string' && lockWaitOn(status, [on, db.target.fences], holderId)
    },
    release: async () => void (await gate.query('select release_lock(?)', [mark])),
    drop: async () => {
      // Its connection's end lets go of the user lock, so that no statement still waits in the trigger.
      await gate.end()
      await db.exec(`drop trigger if exists ${mark}`)
    },
  }
}

function sqliteStall(db: ItemsDatabase, on: string): Stall {
  const file = db.target.url
  const stall: SqliteStall = { table: on, stalledFile: `${file}.stalled`, gateFile: `${file}.gate` }
  return {
    holder: { sqliteStall: stall },
    stalled: async () => existsSync(stall.stalledFile) && !existsSync(stall.gateFile),
    otherWaits: async () => {
      const probe = new Database(file)
      try {
        probe.pragma('busy_timeout = 0')
        probe.exec('begin immediate')
        probe.exec('rollback')
        return false
      } catch (error) {
        if ((error as { code?: unknown }).code === 'SQLITE_BUSY') return true
        throw error
      } finally {
        probe.close()
      }
    },
    release: async () => writeFileSync(stall.gateFile, ''),
    drop: async () => writeFileSync(stall.gateFile, ''),
  }
}

/** Install a stall of the holder's inserts into table `on` (the items table, or its fences table) of `db`. */
export async function installStall(db: ItemsDatabase, on: string): Promise<Stall> {
  if (db.target.dialect === 'mariadb') return mariadbStall(db, on)
  if (db.target.dialect === 'sqlite') return sqliteStall(db, on)
  return postgresStall(db, on)
}
