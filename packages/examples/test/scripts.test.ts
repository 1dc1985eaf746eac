/**
 * The demo and the quickstart run as a user runs them: as scripts, in their own process (`pnpm demo` runs the
 * package's `demo` script, `node --conditions=@getorcreate/source --import tsx src/demo.ts`). What they print is read, and
 * the process must end by itself.
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { againAfterWasmCrash } from '@getorcreate/test-support'
import { describe, expect, test } from 'vitest'

const examples = join(dirname(fileURLToPath(import.meta.url)), '..')

/** `node` and its flags, as the package's `demo` script runs a file (`node --conditions=@getorcreate/source --import tsx`). */
function nodeFlags(): string[] {
  const scripts = (
    JSON.parse(readFileSync(join(examples, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>
    }
  ).scripts
  const words = (scripts.demo ?? '').split(/\s+/)
  expect(words[0]).toBe('node')
  expect(words.at(-1)).toBe('src/demo.ts')
  return words.slice(1, -1)
}

interface Ran {
  /** The exit code; `null` when the process had to be killed (it did not end by itself) or died of a signal. */
  readonly code: number | null
  /** The signal it died of, `null` when it exited (or had to be killed). */
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  readonly ms: number
}

/**
 * Run `file` (under src/) as the package scripts run files, with `env` added; kill it after `limitMs`. A
 * script may open embedded PGlite: one that dies of V8's WebAssembly SIGSEGV is run once more
 * ({@link againAfterWasmCrash}).
 */
function runScript(file: string, env: Record<string, string | undefined>, limitMs: number): Promise<Ran> {
  return againAfterWasmCrash(file, () => runScriptOnce(file, env, limitMs))
}

/** {@link runScript}, one process. */
function runScriptOnce(file: string, env: Record<string, string | undefined>, limitMs: number): Promise<Ran> {
  const started = Date.now()
  const merged: Record<string, string | undefined> = { ...process.env, ...env }
  for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name]
  const child = spawn(process.execPath, [...nodeFlags(), `src/${file}`], {
    cwd: examples,
    env: merged,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  let killed = false
  const timer = setTimeout(() => {
    killed = true
    child.kill('SIGKILL')
  }, limitMs)
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({
        code: killed ? null : code,
        signal: killed ? null : signal,
        stdout,
        stderr,
        ms: Date.now() - started,
      })
    })
  })
}

/** The lines a script printed, without blank ones. */
function lines(text: string): string[] {
  return text.split('\n').filter((line) => line.trim() !== '')
}

describe('pnpm demo with a database it cannot use: one line that says what failed and what to do', () => {
  test('DATABASE_URL where nothing listens (ECONNREFUSED): one line on stderr, exit code 1', async () => {
    const ran = await runScript('demo.ts', { DATABASE_URL: 'postgres://root@127.0.0.1:1/test' }, 60_000)
    expect(ran.code).toBe(1)
    expect(ran.stdout).toBe('')
    expect(lines(ran.stderr)).toEqual([
      'pnpm demo: cannot use the Postgres at DATABASE_URL=postgres://root@127.0.0.1:1/test: connect ' +
        'ECONNREFUSED 127.0.0.1:1. Start Postgres there, or fix DATABASE_URL, or unset it to run the demo on ' +
        'embedded PGlite.',
    ])
  })

  test('a login the server refuses: the server says why, the password is not printed', async () => {
    const server = new URL(process.env.DATABASE_URL as string)
    server.username = 'getorcreate_no_such_role'
    server.password = 'secret-password'
    const ran = await runScript('demo.ts', { DATABASE_URL: server.href }, 60_000)
    expect(ran.code).toBe(1)
    const printed = lines(ran.stderr)
    expect(printed).toHaveLength(1)
    expect(printed[0]).toMatch(
      /^pnpm demo: cannot use the Postgres at DATABASE_URL=postgres:\/\/getorcreate_no_such_role:\*\*\*@/,
    )
    expect(printed[0]).toContain('role "getorcreate_no_such_role" does not exist')
    expect(ran.stderr).not.toContain('secret-password')
  })

  test('DATABASE_URL that is not a URL', async () => {
    const ran = await runScript('demo.ts', { DATABASE_URL: 'localhost' }, 60_000)
    expect(ran.code).toBe(1)
    expect(lines(ran.stderr)).toEqual([
      'pnpm demo: DATABASE_URL is not a URL (expected postgres://user@host:port/db). Fix it, or unset it to ' +
        'run the demo on embedded PGlite.',
    ])
  })
})

describe('the quickstart, run as a script, prints what it got and exits by itself', () => {
  for (const [label, url] of [
    ['a Postgres server (the README code, postgres.js)', process.env.DATABASE_URL],
    ['embedded PGlite', undefined],
  ] as const) {
    test(`on ${label}`, async () => {
      const ran = await runScript('quickstart.ts', { DATABASE_URL: url }, 90_000)
      expect(ran.stderr).toBe('')
      expect(ran.code).toBe(0) // null: it had to be killed, so something kept it running
      if (url)
        expect(ran.stdout).toMatch(
          /quickstart: \{ row: \{ id: \d+, slug: 'news', label: 'News' \}, created: true \}/,
        )
      expect(ran.stdout).toMatch(
        /first: \{ row: \{ id: \d+, slug: 'news', label: 'News' \}, created: true \}/,
      )
    })
  }
})
