#!/usr/bin/env node
/**
 * Makes better-sqlite3's native addon ready after `pnpm install`; run by the root `postinstall`.
 *
 * pnpm is told not to run better-sqlite3's own install script (pnpm-workspace.yaml, `allowBuilds`): where no
 * prebuilt binary can be downloaded, that script compiles with node-gyp, and node-gyp fetches Node's headers
 * from the internet, so on a machine without access the whole install fails. Here, for each copy of
 * better-sqlite3 in the workspace whose addon does not load yet:
 * 1. the ordinary path: its own `prebuild-install` downloads the prebuilt binary for this Node;
 * 2. else node-gyp compiles it, pointed at the headers Node ships with (`include/node/node.h` beside the
 *    `node` binary) unless `npm_config_nodedir` already says where they are;
 * 3. else it says what failed and what to do, and exits 0 all the same: only the SQLite store's tests and
 *    example need the addon, and nothing else should be held back by it.
 *
 * Idempotent: an addon that already loads is left alone.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs'
import { createRequire } from 'node:module'
import { delimiter, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const PREBUILT_TIMEOUT_MS = 120_000
const COMPILE_TIMEOUT_MS = 15 * 60_000

const say = (line) => console.log(`build-native: ${line}`)

/** Every distinct better-sqlite3 the workspace's packages depend on, as real directories. */
function betterSqliteDirs() {
  const dirs = new Set()
  const packages = join(root, 'packages')
  const owners = [root, ...readdirSync(packages).map((name) => join(packages, name))]
  for (const owner of owners) {
    if (!existsSync(join(owner, 'package.json'))) continue
    try {
      const manifest = createRequire(join(owner, 'package.json')).resolve('better-sqlite3/package.json')
      dirs.add(realpathSync(dirname(manifest)))
    } catch {
      // This package does not depend on better-sqlite3.
    }
  }
  return [...dirs]
}

/** True when the addon in `dir` loads in this Node and opens a database. */
function loads(dir) {
  const probe = `const D = require(${JSON.stringify(dir)}); new D(':memory:').prepare('select 1').get()`
  return spawnSync(process.execPath, ['-e', probe], { stdio: 'ignore', timeout: 30_000 }).status === 0
}

/** Runs a step quietly; returns its combined output and whether it succeeded. */
function run(command, args, options) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options })
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? `\n${result.error.message}` : ''}`
  return { ok: result.status === 0, output, timedOut: result.error?.code === 'ETIMEDOUT' }
}

/** The directory holding `include/node/node.h` for this Node, or undefined. */
function nodeHeadersDir() {
  const configured = process.env.npm_config_nodedir
  if (configured) return configured
  const beside = resolve(dirname(process.execPath), '..')
  return existsSync(join(beside, 'include', 'node', 'node.h')) ? beside : undefined
}

/** node-gyp's entry: the one the package manager points at, else the one on PATH, else npm's own. */
function nodeGyp() {
  const fromEnv = process.env.npm_config_node_gyp
  if (fromEnv && existsSync(fromEnv)) return [process.execPath, fromEnv]
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'node-gyp')
    if (dir && existsSync(candidate)) return [candidate]
  }
  const npmBundled = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules')
  const script = join(npmBundled, 'node-gyp', 'bin', 'node-gyp.js')
  return existsSync(script) ? [process.execPath, script] : undefined
}

function tail(text, lines = 15) {
  return text.trimEnd().split('\n').slice(-lines).join('\n')
}

function prepare(dir) {
  const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
  const name = `better-sqlite3 ${version}`
  if (loads(dir)) {
    say(`${name}: native addon ready`)
    return true
  }

  const require = createRequire(join(dir, 'package.json'))
  let prebuilt
  try {
    prebuilt = run(process.execPath, [require.resolve('prebuild-install/bin.js')], {
      cwd: dir,
      timeout: PREBUILT_TIMEOUT_MS,
    })
  } catch (error) {
    prebuilt = { ok: false, output: String(error) }
  }
  if (prebuilt.ok && loads(dir)) {
    say(`${name}: prebuilt binary downloaded`)
    return true
  }
  const why = prebuilt.timedOut ? 'timed out' : tail(prebuilt.output, 1) || 'failed'
  say(`${name}: no prebuilt binary (${why}); compiling from source (a minute or two)…`)

  const gyp = nodeGyp()
  const nodedir = nodeHeadersDir()
  if (!gyp) return fail(name, 'node-gyp was not found (neither from the package manager nor beside npm).')
  const env = { ...process.env }
  if (nodedir) env.npm_config_nodedir = nodedir
  const compiled = run(gyp[0], [...gyp.slice(1), 'rebuild', '--release'], {
    cwd: dir,
    env,
    timeout: COMPILE_TIMEOUT_MS,
  })
  if (compiled.ok && loads(dir)) {
    say(`${name}: compiled${nodedir ? ` against the headers in ${join(nodedir, 'include', 'node')}` : ''}`)
    return true
  }
  return fail(
    name,
    `node-gyp ${compiled.timedOut ? 'timed out' : 'failed'}${nodedir ? '' : ' (no Node headers beside the node binary, so node-gyp tried to download them)'}:\n${tail(compiled.output)}`,
  )
}

function fail(name, detail) {
  console.warn(
    [
      '',
      `build-native: WARNING: ${name}'s native addon could not be prepared. The install goes on: only the`,
      "SQLite store's tests and example need it, and they will fail until it is built.",
      detail.replace(/^/gm, '  '),
      "To fix: install python3, make and a C++ compiler (Debian: apt-get install python3 make g++), and Node's",
      'headers if your Node came without them (point npm_config_nodedir at the directory holding',
      'include/node/node.h), then run `node scripts/build-native.mjs` again.',
      '',
    ].join('\n'),
  )
  return false
}

const dirs = betterSqliteDirs()
if (dirs.length === 0) say('no better-sqlite3 in the workspace: nothing to do')
for (const dir of dirs) prepare(dir)
