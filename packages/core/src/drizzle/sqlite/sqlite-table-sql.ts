/**
 * The default collation of each column of a `CREATE TABLE` statement, as SQLite keeps it in `sqlite_schema`.
 * SQLite reports a column's type (`pragma table_xinfo`) but not its collation, and no pragma or function
 * answers it: the statement's text is the one place that holds it (ALTER TABLE rewrites it there).
 */

/** One token of SQLite's SQL: a bare word, a quoted name or string (unquoted), or one punctuation character. */
interface Token {
  readonly kind: 'word' | 'name' | 'string' | 'punct'
  readonly text: string
}

/** A quoted token's end: the closing `close` not doubled; `-1` where the text ends first. */
function closingQuote(sql: string, from: number, close: string): number {
  for (let i = from; i < sql.length; i++) {
    if (sql[i] !== close) continue
    if (close !== ']' && sql[i + 1] === close) i++
    else return i
  }
  return -1
}

const QUOTES: Record<string, { close: string; kind: Token['kind'] }> = {
  "'": { close: "'", kind: 'string' },
  '"': { close: '"', kind: 'name' },
  '`': { close: '`', kind: 'name' },
  '[': { close: ']', kind: 'name' },
}

/** A bare word: SQLite takes every character beyond ASCII as part of a name. */
const WORD = /[A-Za-z0-9_$\u{80}-\u{10ffff}]+/uy

/** SQLite's tokens of `sql`, comments and white space dropped. Unterminated text ends the list. */
function tokenize(sql: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < sql.length) {
    const c = sql[i] as string
    if (/[ \t\n\f\r]/.test(c)) i++
    else if (sql.startsWith('--', i)) i = sql.includes('\n', i) ? sql.indexOf('\n', i) + 1 : sql.length
    else if (sql.startsWith('/*', i))
      i = sql.includes('*/', i + 2) ? sql.indexOf('*/', i + 2) + 2 : sql.length
    else if (QUOTES[c]) {
      const { close, kind } = QUOTES[c]
      const end = closingQuote(sql, i + 1, close)
      if (end < 0) break
      const body = sql.slice(i + 1, end)
      tokens.push({ kind, text: close === ']' ? body : body.replaceAll(close + close, close) })
      i = end + 1
    } else {
      WORD.lastIndex = i
      const word = WORD.exec(sql)?.[0]
      tokens.push(word ? { kind: 'word', text: word } : { kind: 'punct', text: c })
      i += word ? word.length : 1
    }
  }
  return tokens
}

/** Lower case as SQLite folds identifiers: A–Z only. */
export function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (letter) => letter.toLowerCase())
}

/** Upper case as SQLite folds collation names: a–z only. */
export function asciiUpper(text: string): string {
  return text.replace(/[a-z]/g, (letter) => letter.toUpperCase())
}

/** Words that open a table constraint rather than a column definition. */
const TABLE_CONSTRAINT = new Set(['constraint', 'primary', 'unique', 'check', 'foreign'])

/** The column definitions of the first parenthesised list of `tokens`, split at their top-level commas. */
function definitions(tokens: readonly Token[]): Token[][] {
  const start = tokens.findIndex((token) => token.kind === 'punct' && token.text === '(')
  if (start < 0) return []
  const parts: Token[][] = [[]]
  let depth = 0
  for (const token of tokens.slice(start + 1)) {
    if (token.kind === 'punct' && token.text === '(') depth++
    if (token.kind === 'punct' && token.text === ')' && depth-- === 0) break
    if (token.kind === 'punct' && token.text === ',' && depth === 0) parts.push([])
    else parts[parts.length - 1]?.push(token)
  }
  return parts
}

/**
 * The `COLLATE` of each column of `createTable` (a `CREATE TABLE` statement), by column name lower-cased as
 * SQLite folds names (A–Z), the collation name upper-cased (a–z); columns without one are absent (BINARY). Only a
 * `COLLATE` outside parentheses counts: one in a `CHECK`, a generated column's or a default's expression
 * belongs to that expression. Where a column has several, the last wins, as in SQLite.
 */
export function columnCollations(createTable: string): Map<string, string> {
  const collations = new Map<string, string>()
  for (const part of definitions(tokenize(createTable))) {
    const [first] = part
    if (!first || first.kind === 'punct') continue
    if (first.kind === 'word' && TABLE_CONSTRAINT.has(asciiLower(first.text))) continue
    let depth = 0
    let collation: string | undefined
    part.forEach((token, i) => {
      if (token.kind === 'punct') depth += token.text === '(' ? 1 : token.text === ')' ? -1 : 0
      const next = part[i + 1]
      const isCollate = token.kind === 'word' && asciiLower(token.text) === 'collate'
      if (depth === 0 && isCollate && next && next.kind !== 'punct') collation = asciiUpper(next.text)
    })
    if (collation !== undefined) collations.set(asciiLower(first.text), collation)
  }
  return collations
}
