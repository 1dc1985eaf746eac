import { describe, expect, test } from 'vitest'
import { againAfterWasmCrash, type ChildEnd } from '../src/workers.js'

/** A fake run that ends, call after call, with the given signals; counts its calls. */
function endings(...signals: (NodeJS.Signals | null)[]) {
  let calls = 0
  const run = async (): Promise<ChildEnd & { readonly call: number }> => {
    const signal = signals[calls] ?? null
    calls += 1
    return { signal, call: calls }
  }
  return { run, calls: () => calls }
}

describe('againAfterWasmCrash', () => {
  test('a child that exits is run once, whatever its ending other than SIGSEGV', async () => {
    for (const signal of [null, 'SIGKILL', 'SIGTERM', 'SIGABRT'] as const) {
      const fake = endings(signal)
      expect(await againAfterWasmCrash('test', fake.run)).toEqual({ signal, call: 1 })
      expect(fake.calls()).toBe(1)
    }
  })

  test('a SIGSEGV runs it once more, and the second ending is the answer', async () => {
    const fake = endings('SIGSEGV', null)
    expect(await againAfterWasmCrash('test', fake.run)).toEqual({ signal: null, call: 2 })
    expect(fake.calls()).toBe(2)
  })

  test('two SIGSEGVs in a row are returned, not hidden: the test still fails', async () => {
    const fake = endings('SIGSEGV', 'SIGSEGV', null)
    expect(await againAfterWasmCrash('test', fake.run)).toEqual({ signal: 'SIGSEGV', call: 2 })
    expect(fake.calls()).toBe(2)
  })
})
