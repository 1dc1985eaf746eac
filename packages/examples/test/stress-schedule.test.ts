import { describe, expect, test } from 'vitest'
import { describePlan, planFaults, type ScheduleInput } from '../src/stress/schedule.js'

const input: ScheduleInput = {
  seed: 7,
  durationMs: 180_000,
  procs: 3,
  ttlMs: 2_000,
  redis: true,
  dialects: ['pg', 'mysql', 'sqlite'],
  links: true,
}

describe('the stress fault schedule', () => {
  test('with namespaces, every round cuts one worker link for 1.5 s; without, none', () => {
    const cuts = planFaults(input).filter((fault) => fault.kind === 'link-cut')
    expect(cuts).toHaveLength(2)
    for (const cut of cuts) {
      expect(cut.ms).toBe(1_500)
      expect(cut.targets).toHaveLength(1)
      expect(cut.targets[0]).toBeGreaterThanOrEqual(0)
      expect(cut.targets[0]).toBeLessThan(input.procs)
    }
    expect(describePlan(cuts)).toEqual(
      cuts.map((cut) => `+${(cut.at / 1000).toFixed(1)} s link-cut on worker ${cut.targets[0]} for 1500 ms`),
    )
    expect(planFaults({ ...input, links: false }).some((fault) => fault.kind === 'link-cut')).toBe(false)
  })

  test('the same seed draws the same schedule', () => {
    expect(planFaults(input)).toEqual(planFaults(input))
  })
})

test('a whole plan waiting on the run’s end signal at once draws no MaxListenersExceededWarning, and the end stops it', async () => {
  const { runFaults } = await import('../src/stress/faults.js')
  const warnings: string[] = []
  const onWarning = (warning: Error) => {
    warnings.push(warning.name)
  }
  process.on('warning', onWarning)
  try {
    const plan = planFaults({ ...input, durationMs: 720_000 })
    expect(plan.length).toBeGreaterThan(10)
    const ended = new AbortController()
    // The faults are a minute away: the end comes first, so none is injected (the context is never used).
    const running = runFaults(plan, { epoch: Date.now() + 60_000 } as never, ended.signal)
    setTimeout(() => ended.abort(), 20)
    expect(await running).toEqual([])
    await new Promise((resolve) => setImmediate(resolve))
    expect(warnings).not.toContain('MaxListenersExceededWarning')
  } finally {
    process.off('warning', onWarning)
  }
})
