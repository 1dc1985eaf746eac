// CPU per hit through the facade, single flight on and off, on a memory store (no I/O).
import { constraintStrategy, getOrCreate, memoryStore } from '@getorcreate/core'
const store = memoryStore<{ id: number; slug: string; title?: string }>({ name: 'x', autoIncrement: 'id', uniqueBy: [['slug']] })
const on = constraintStrategy()
const off = constraintStrategy({ singleFlight: false })
for (let i = 0; i < 1000; i++) await getOrCreate(store, { slug: `k${i}` }, { title: 't' }, off)
async function run(s: typeof on, n: number) {
  const t0 = performance.now()
  // 32 in flight, as the bench
  let next = 0
  await Promise.all(Array.from({ length: 32 }, async () => { while (next < n) { const i = next++; await getOrCreate(store, { slug: `k${i % 1000}` }, { title: 't' }, s) } }))
  return ((performance.now() - t0) * 1000) / n
}
const r: { on: number[]; off: number[] } = { on: [], off: [] }
for (let round = 0; round < 15; round++) {
  r.on.push(await run(on, 100_000))
  r.off.push(await run(off, 100_000))
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!
console.log('µs/call on', med(r.on).toFixed(2), 'off', med(r.off).toFixed(2), 'ratio per round', med(r.on.map((x, i) => x / r.off[i]!)).toFixed(3))
