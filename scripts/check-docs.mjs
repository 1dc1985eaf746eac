#!/usr/bin/env node
/**
 * The docs check, run by `pnpm run docs` right after TypeDoc has built the API reference into docs/api
 * (TypeDoc itself already failed the run on an export without a doc comment and on a `{@link}` it cannot
 * resolve).
 * Fails, listing every problem, when:
 *
 * 1. a link in the generated site that stays inside it reaches no file, or its `#fragment` no id in that
 *    file;
 * 2. a relative link in the repository's Markdown reaches no file, leaves the repository, or its `#fragment`
 *    matches no heading of the target (anchors as GitHub makes them);
 * 3. a code block marked `<!-- snippet: path/to/file.ts -->` differs from that file (less its leading doc
 *    comment): the file is type-checked with its package, so the snippet compiles as printed.
 *
 * Links to other sites are listed, not fetched: CI has no network.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, extname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const site = join(root, 'docs', 'api')
const problems = []
const external = new Set()

/** Files under `dir` whose name passes `keep`, skipping dependencies, build output and the site itself. */
function walk(dir, keep, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) {
      if (['node_modules', 'dist', '.git', '.turbo', 'results'].includes(entry.name)) continue
      if (path === site && keep !== isSiteFile) continue
      walk(path, keep, out)
    } else if (keep(path)) {
      out.push(path)
    }
  }
  return out
}

const isSiteFile = (path) => ['.html', '.svg'].includes(extname(path))
const show = (path) => relative(root, path).split(sep).join('/')
const isExternal = (target) => /^[a-z][a-z0-9+.-]*:/i.test(target)

// 1. The site.
if (!existsSync(join(site, 'index.html'))) {
  problems.push('docs/api/index.html is missing: run TypeDoc first (`pnpm run docs`)')
} else {
  const idCache = new Map()
  const idsOf = (file) => {
    let ids = idCache.get(file)
    if (!ids) {
      const text = readFileSync(file, 'utf8')
      ids = new Set([...text.matchAll(/\s(?:id|name)="([^"]*)"/g)].map((m) => m[1]))
      idCache.set(file, ids)
    }
    return ids
  }
  const pages = walk(site, isSiteFile)
  let links = 0
  for (const page of pages) {
    if (extname(page) !== '.html') continue
    const text = readFileSync(page, 'utf8')
    for (const match of text.matchAll(/\s(?:href|src)="([^"]*)"/g)) {
      const raw = match[1].replaceAll('&amp;', '&')
      if (raw === '' || raw === '#') continue
      if (isExternal(raw)) {
        if (/^(https?|mailto):/i.test(raw)) external.add(raw.replace(/#.*$/, ''))
        else problems.push(`${show(page)}: link "${raw}" is neither in the site nor on the web`)
        continue
      }
      links++
      const [pathPart, fragment] = raw.split('#', 2)
      const target = pathPart ? resolve(dirname(page), decodeURIComponent(pathPart.split('?')[0])) : page
      if (!target.startsWith(site + sep)) {
        problems.push(`${show(page)}: link "${raw}" leaves the site`)
      } else if (!existsSync(target) || statSync(target).isDirectory()) {
        problems.push(`${show(page)}: link "${raw}": ${show(target)} does not exist`)
      } else if (fragment && isSiteFile(target) && !idsOf(target).has(decodeURIComponent(fragment))) {
        problems.push(`${show(page)}: link "${raw}": no id "${fragment}" in ${show(target)}`)
      }
    }
  }
  console.log(`check-docs: site: ${pages.length} files, ${links} internal links checked`)
}

// 2. The repository's Markdown.
/** Fenced code blocks and inline code blanked out (same length and lines), so links in them are not read. */
function prose(text) {
  return text
    .replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, (block) => block.replace(/[^\n]/g, ' '))
    .replace(/`[^`\n]*`/g, (code) => ' '.repeat(code.length))
}

/** The anchors GitHub gives a Markdown file's headings (github-slugger's rules), plus explicit HTML ids. */
function anchorsOf(file) {
  const text = readFileSync(file, 'utf8').replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '')
  const anchors = new Set([...text.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)].map((m) => m[1]))
  const seen = new Map()
  for (const match of text.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const plain = match[1]
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/[`*]/g, '')
      .replace(/<[^>]+>/g, '')
    const base = plain
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-')
    const count = seen.get(base) ?? 0
    seen.set(base, count + 1)
    anchors.add(count === 0 ? base : `${base}-${count}`)
  }
  return anchors
}

const markdown = walk(root, (path) => extname(path) === '.md')
let mdLinks = 0
for (const file of markdown) {
  const text = prose(readFileSync(file, 'utf8'))
  const targets = [
    ...[...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]),
    ...[...text.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/gm)].map((m) => m[1]),
    ...[...text.matchAll(/\s(?:href|src)="([^"]+)"/g)].map((m) => m[1]),
  ]
  for (const raw of targets) {
    if (isExternal(raw)) {
      if (/^https?:/i.test(raw)) external.add(raw.replace(/#.*$/, ''))
      continue
    }
    mdLinks++
    const [pathPart, fragment] = raw.split('#', 2)
    const target = pathPart ? resolve(dirname(file), decodeURIComponent(pathPart)) : file
    if (target !== root && !target.startsWith(root + sep)) {
      problems.push(`${show(file)}: link "${raw}" points outside the repository: restate what it says here`)
    } else if (!existsSync(target)) {
      problems.push(`${show(file)}: link "${raw}": ${show(target)} does not exist`)
    } else if (fragment && extname(target) === '.md' && !anchorsOf(target).has(fragment)) {
      problems.push(`${show(file)}: link "${raw}": no heading with anchor #${fragment} in ${show(target)}`)
    }
  }
}
console.log(`check-docs: Markdown: ${markdown.length} files, ${mdLinks} relative links checked`)

// 3. Snippets kept verbatim in type-checked files.
let snippets = 0
for (const file of markdown) {
  const text = readFileSync(file, 'utf8')
  for (const match of text.matchAll(
    /<!--\s*snippet:\s*(\S+)\s*-->\s*\n(```|~~~)[^\n]*\n([\s\S]*?)^\2\s*$/gm,
  )) {
    snippets++
    const source = join(root, match[1])
    if (!existsSync(source)) {
      problems.push(`${show(file)}: snippet source ${match[1]} does not exist`)
      continue
    }
    const code = readFileSync(source, 'utf8')
      .replace(/^\/\*\*[\s\S]*?\*\/\n/, '')
      .trim()
    if (code !== match[3].trim()) {
      problems.push(
        `${show(file)}: the snippet differs from ${match[1]}: copy the file's code (below its header)`,
      )
    }
  }
}
console.log(`check-docs: ${snippets} snippets match their type-checked files`)

if (external.size > 0) {
  const hosts = [...new Set([...external].map((url) => new URL(url).host || url))].sort()
  console.log(`check-docs: ${external.size} links to other sites, not fetched: ${hosts.join(', ')}`)
}
if (problems.length > 0) {
  console.error(`check-docs: ${problems.length} problem(s):`)
  for (const problem of problems) console.error(`  - ${problem}`)
  process.exit(1)
}
console.log('check-docs: ok')
