/**
 * What the compiler says about wrong calls, read from its diagnostics (the type tests in types.test-d.ts only
 * prove that an error exists): it names the unknown column and its table, and the required column that
 * neither the key nor the defaults give.
 */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { beforeAll, describe, expect, test } from 'vitest'

const here = dirname(fileURLToPath(import.meta.url))

/** One call per line, against the issue's table: `label` is NOT NULL without a default. */
const CASES = {
  unknownKeyColumn: `getOrCreate(tags, { tenantId: 1, slug: 'a', nope: 1 }, { label: 'A' })`,
  noDefaults: `getOrCreate(tags, { tenantId: 1, slug: 'a' })`,
  undefinedDefaults: `getOrCreate(tags, { tenantId: 1, slug: 'a' }, undefined, constraintStrategy())`,
  unknownDefaultsColumn: `getOrCreate(tags, { tenantId: 1, slug: 'a' }, { label: 'A', nope: 1 })`,
  unknownLazyColumn: `getOrCreate(tags, { tenantId: 1, slug: 'a' }, async () => ({ label: 'A', nope: 1 }))`,
  lazyWithoutLabel: `getOrCreate(tags, { tenantId: 1, slug: 'a' }, () => ({ note: 'n' }))`,
  asyncWithoutLabel: `getOrCreate(tags, { tenantId: 1, slug: 'a' }, async () => ({ note: 'n' }))`,
  memoryUnknownField: `getOrCreate(memory, { slug: 'a', nope: 'x' })`,
  fine: `getOrCreate(tags, { tenantId: 1, slug: 'a' }, { label: 'A' })`,
  fineLazy: `getOrCreate(tags, { tenantId: 1, slug: 'a' }, async () => ({ label: 'A', note: null }))`,
  fineKeyGivesAll: `getOrCreate(tags, { tenantId: 1, slug: 'a', label: 'A' })`,
  fineMemory: `getOrCreate(memory, { slug: 'a' })`,
  maybeDefaults: `getOrCreate(tags, { tenantId: 1, slug: 'a' }, maybeLabel)`,
  unionKeyUnknownColumn: `getOrCreate(tags, badUnionKey, { slug: 'a', label: 'A' })`,
  unionKeyNoDefaults: `getOrCreate(tags, unionKey)`,
  explicitUnknownKeyField: `getOrCreate<Row, Partial<Row>, Insert, TagKey & { nope: number }>(tags, { tenantId: 1, slug: 'a', nope: 1 }, { label: 'A' })`,
  explicitNoDefaults: `getOrCreate<Row, Partial<Row>, Insert, TagKey>(tags, { tenantId: 1, slug: 'a' })`,
  fineExplicit: `getOrCreate<Row, Partial<Row>, Insert, TagKey>(tags, { tenantId: 1, slug: 'a' }, { label: 'A' })`,
  fineExplicitLazy: `getOrCreate<Row, Partial<Row>, Insert, TagKey>(tags, { tenantId: 1, slug: 'a' }, async () => ({ label: 'A' }), constraintStrategy())`,
  fineUnionKey: `getOrCreate(tags, unionKey, { slug: 'a', label: 'A' })`,
  fineMaybe: `getOrCreate(tags, { tenantId: 1, slug: 'a', label: 'A' }, maybeNote, constraintStrategy())`,
  fineUndefinedThenStrategy: `getOrCreate(tags, { tenantId: 1, slug: 'a', label: 'A' }, undefined, constraintStrategy())`,
  fineMemoryLazy: `getOrCreate(memory, { slug: 'a' }, () => ({ id: 1 }), constraintStrategy())`,
} as const
type Case = keyof typeof CASES

const PRELUDE = `import { constraintStrategy, getOrCreate, memoryStore } from '@getorcreate/core'
import { drizzleStore } from '@getorcreate/core/drizzle'
import { integer, pgTable, serial, text } from 'drizzle-orm/pg-core'
import { drizzle } from 'drizzle-orm/pglite'
const ncTags = pgTable('nc_tags', {
  id: serial('id').primaryKey(),
  tenantId: integer('tenant_id').notNull(),
  slug: text('slug').notNull(),
  label: text('label').notNull(),
  note: text('note'),
})
const tags = drizzleStore(drizzle.mock(), ncTags)
const memory = memoryStore<{ id: number; slug: string }>({ uniqueBy: [['slug']] })
type Row = typeof ncTags.$inferSelect
type Insert = typeof ncTags.$inferInsert
type TagKey = { tenantId: number; slug: string }
declare const unionKey: TagKey | { id: number; tenantId: number }
declare const badUnionKey: TagKey | { id: number; nope: number }
declare const maybeLabel: { label: string } | undefined
declare const maybeNote: { note: string } | undefined
`

/** The compiler's messages for each case, flattened (every line of each chain), with the package's settings. */
let messages: Record<Case, string[]>

beforeAll(() => {
  const configPath = join(here, '..', 'tsconfig.json')
  const config = ts.readConfigFile(configPath, ts.sys.readFile)
  const options = {
    ...ts.parseJsonConfigFileContent(config.config, ts.sys, dirname(configPath)).options,
    noEmit: true,
  }
  const file = join(here, '__compile_messages__.ts')
  const names = Object.keys(CASES) as Case[]
  const source = `${PRELUDE}${names.map((name) => `void ${CASES[name]} // ${name}`).join('\n')}\n`
  const firstLine = PRELUDE.split('\n').length - 1
  const host = ts.createCompilerHost(options)
  const { fileExists, getSourceFile } = host
  host.fileExists = (name) => name === file || fileExists.call(host, name)
  host.getSourceFile = (name, language, ...rest) =>
    name === file
      ? ts.createSourceFile(name, source, language)
      : getSourceFile.call(host, name, language, ...rest)
  const program = ts.createProgram({ rootNames: [file], options, host })
  const sourceFile = program.getSourceFile(file)
  messages = Object.fromEntries(names.map((name) => [name, []])) as unknown as Record<Case, string[]>
  for (const diagnostic of ts.getPreEmitDiagnostics(program, sourceFile)) {
    const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')
    const line =
      diagnostic.file && diagnostic.start !== undefined
        ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line
        : -1
    const name = names[line - firstLine]
    if (!name) throw new Error(`A diagnostic outside the cases (line ${line + 1}): ${text}`)
    messages[name].push(text)
  }
}, 120_000)

describe('the compiler names the unknown column and its table', () => {
  test('a key field the table lacks: UnknownColumn<"nope", "nc_tags">, not \'never\'', () => {
    const [message, ...others] = messages.unknownKeyColumn
    expect(others).toEqual([])
    expect(message).toContain(`Type 'number' is not assignable to type 'UnknownColumn<"nope", "nc_tags">'`)
    expect(message).not.toContain("'never'")
  })

  test('a defaults field the table lacks, in an object or in what a lazy function returns', () => {
    for (const name of ['unknownDefaultsColumn', 'unknownLazyColumn'] as const) {
      expect(messages[name], name).toHaveLength(1)
      expect(messages[name][0], name).toContain(
        `Type 'number' is not assignable to type 'UnknownColumn<"nope", "nc_tags">'`,
      )
    }
  })

  test('a store without a table name (memoryStore) names the field', () => {
    expect(messages.memoryUnknownField).toHaveLength(1)
    expect(messages.memoryUnknownField[0]).toContain(
      `Type 'string' is not assignable to type 'UnknownField<"nope">'`,
    )
  })
})

describe('the compiler names the required column neither the key nor defaults give', () => {
  test('no defaults, or undefined: "defaults must give label (NOT NULL in nc_tags, no default)"', () => {
    for (const name of ['noDefaults', 'undefinedDefaults'] as const) {
      expect(messages[name], name).toHaveLength(1)
      expect(messages[name][0], name).toContain(
        `Property '"defaults must give label (NOT NULL in nc_tags, no default)"' is missing`,
      )
    }
  })

  test('lazy defaults, sync and async, that leave label out', () => {
    for (const name of ['lazyWithoutLabel', 'asyncWithoutLabel'] as const) {
      expect(messages[name], name).toHaveLength(1)
      expect(messages[name][0], name).toContain(`Property 'label' is missing in type '{ note: string; }'`)
    }
  })

  test('correct calls compile', () => {
    expect(messages.fine).toEqual([])
    expect(messages.fineLazy).toEqual([])
    expect(messages.fineKeyGivesAll).toEqual([])
    expect(messages.fineMemory).toEqual([])
  })
})

describe('defaults that may be undefined, union keys, explicit type arguments', () => {
  test('defaults typed X | undefined are refused when a column is required, and the message names it', () => {
    expect(messages.maybeDefaults).toHaveLength(1)
    expect(messages.maybeDefaults[0]).toContain(
      `Property '"defaults must give label (NOT NULL in nc_tags, no default)"' is missing`,
    )
  })

  test('a union key: the member naming an unknown column, and the column some member leaves out', () => {
    expect(messages.unionKeyUnknownColumn).toHaveLength(1)
    expect(messages.unionKeyUnknownColumn[0]).toContain(
      `Type 'number' is not assignable to type 'UnknownColumn<"nope", "nc_tags">'`,
    )
    expect(messages.unionKeyNoDefaults).toHaveLength(1)
    expect(messages.unionKeyNoDefaults[0]).toContain(
      '"defaults must give label (NOT NULL in nc_tags, no default)"',
    )
  })

  test('explicit type arguments: the field is named (the table is not: nothing is inferred)', () => {
    expect(messages.explicitUnknownKeyField).toHaveLength(1)
    expect(messages.explicitUnknownKeyField[0]).toContain(
      `Type 'number' is not assignable to type 'UnknownField<"nope">'`,
    )
    expect(messages.explicitNoDefaults).toHaveLength(1)
    expect(messages.explicitNoDefaults[0]).toContain(`Property '"defaults must give label"' is missing`)
  })

  test('these correct calls compile', () => {
    for (const name of [
      'fineExplicit',
      'fineExplicitLazy',
      'fineUnionKey',
      'fineMaybe',
      'fineUndefinedThenStrategy',
      'fineMemoryLazy',
    ] as const) {
      expect(messages[name], name).toEqual([])
    }
  })

  test('each wrong call gets one message from one signature: never "No overload matches this call"', () => {
    for (const [name, texts] of Object.entries(messages)) {
      expect(texts.length, name).toBeLessThanOrEqual(1)
      for (const text of texts) expect(text, name).not.toContain('No overload matches this call')
    }
  })
})
