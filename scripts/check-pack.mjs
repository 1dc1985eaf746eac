#!/usr/bin/env node
/**
 * Packs the package in the current directory (`pnpm pack`, as `pnpm publish` would) and fails unless the
 * tarball carries what its npm page and its users need: README.md, LICENSE, CHANGELOG.md and the built
 * `dist/`; a package.json that names its repository, homepage and bug tracker and has no `workspace:` range
 * left; and a README whose links work on npm, where the rest of the repository is not beside it (no relative
 * links).
 *
 * Run by each published package's `lint:package` script: `node ../../scripts/check-pack.mjs`.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const REQUIRED = ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md']

const dir = mkdtempSync(join(tmpdir(), 'getorcreate-pack-'))
const problems = []
let name = process.cwd()
try {
  const packed = JSON.parse(
    execFileSync('pnpm', ['pack', '--json', '--pack-destination', dir], { encoding: 'utf8' }),
  )
  name = `${packed.name}@${packed.version}`
  const tarball = packed.filename
  const entries = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((entry) => entry.replace(/^package\//, ''))
  const read = (file) => execFileSync('tar', ['-xzOf', tarball, `package/${file}`], { encoding: 'utf8' })

  for (const file of REQUIRED) {
    if (!entries.includes(file)) problems.push(`${file} is missing (add it, and list it in "files")`)
  }
  if (!entries.some((entry) => entry.startsWith('dist/'))) problems.push('dist/ is missing (build first)')

  if (entries.includes('package.json')) {
    const manifest = JSON.parse(read('package.json'))
    if (!manifest.repository?.url || !manifest.repository?.directory) {
      problems.push('package.json has no repository { url, directory }')
    }
    if (!manifest.homepage) problems.push('package.json has no homepage')
    if (!manifest.bugs?.url) problems.push('package.json has no bugs.url')
    if (manifest.license !== 'MIT')
      problems.push(`package.json says license ${manifest.license}, LICENSE is MIT`)
    for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
      for (const [dep, range] of Object.entries(manifest[field] ?? {})) {
        if (String(range).startsWith('workspace:')) problems.push(`${field}.${dep} is still ${range}`)
      }
    }
  }

  if (entries.includes('README.md')) {
    const readme = read('README.md')
      .replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '') // fenced code
      .replace(/`[^`\n]*`/g, '') // inline code
    for (const match of readme.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)|href="([^"]+)"/g)) {
      const target = match[1] ?? match[2]
      if (!/^(https?:|mailto:|#)/.test(target)) {
        problems.push(`README.md links "${target}": a relative link is broken on npm; use the repository URL`)
      }
    }
  }
  if (problems.length === 0) {
    console.log(`check-pack: ${name}: ${entries.length} files, ${REQUIRED.join(', ')} and dist/ included`)
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}

if (problems.length > 0) {
  console.error(`check-pack: ${name}: the packed tarball is not fit to publish:`)
  for (const problem of problems) console.error(`  - ${problem}`)
  process.exit(1)
}
