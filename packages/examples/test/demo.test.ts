import { describe, expect, test } from 'vitest'
import { isWrong, runDemo } from '../src/demo.js'

describe('pnpm demo', () => {
  for (const [label, databaseUrl] of [
    ['embedded PGlite', undefined],
    ['Postgres server', process.env.DATABASE_URL],
  ] as const) {
    test(`on ${label}: the naive code duplicates, getOrCreate is exact`, async () => {
      const lines: string[] = []
      const rows = await runDemo({
        databaseUrl,
        redisUrl: process.env.REDIS_URL,
        keys: 100,
        callersPerKey: 8,
        concurrency: 32, // and a pool of 32: the demo's default of 50 is more than a shared Postgres may have
        print: (line) => lines.push(line),
      })
      const ours = rows.filter((row) => row.mustBeExact)
      expect(ours.map((row) => row.approach)).toEqual([
        'getOrCreate (unique index)',
        'getOrCreate (Redis lock, no unique index)',
      ])
      for (const row of ours) {
        expect(isWrong(row), row.approach).toBe(false)
        expect(row).toMatchObject({ calls: 800, rows: 100, duplicateRows: 0, createdFlags: 100, errors: 0 })
      }
      const naive = rows.find((row) => row.approach === 'naive find-then-insert')
      expect(naive?.duplicateRows).toBeGreaterThan(0) // the race is real, so the table can show it
      expect(lines.join('\n')).toContain('duplicate rows')
    })
  }

  test('without a Redis it runs the rest and says how to add the Redis-lock part', async () => {
    const lines: string[] = []
    const rows = await runDemo({
      redisUrl: 'redis://127.0.0.1:1',
      keys: 20,
      callersPerKey: 4,
      print: (line) => lines.push(line),
    })
    expect(rows.map((row) => row.approach)).toEqual(['naive find-then-insert', 'getOrCreate (unique index)'])
    expect(lines.join('\n')).toContain('no Redis answers at redis://127.0.0.1:1')
  })
})
