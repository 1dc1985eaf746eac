/**
 * The chart: throughput per system, one panel per workload, bars coloured by kind (ours, peer, floor), and
 * any duplicate rows or errors written in red beside the bar. A Vega spec rendered to SVG headless.
 */
import * as vega from 'vega'
import { processesNote } from './options.js'
import type { BenchResult } from './run-bench.js'

const ROW = 22
const WIDTH = 460

/** The Vega spec of the chart (exported for inspection and tests). */
function chartSpec(result: BenchResult): vega.Spec {
  const panels: vega.GroupMark[] = []
  const data: vega.Data[] = []
  result.workloads.forEach((workload, index) => {
    const name = `w${index}`
    const values = result.cells
      .filter((cell) => cell.workload === workload.id)
      .map((cell) => {
        const wrong = [
          cell.duplicates > 0 ? `${cell.duplicates.toLocaleString('en-US')} duplicate rows` : '',
          cell.kind !== 'floor' && cell.errors > 0 ? `${cell.errors.toLocaleString('en-US')} errors` : '',
        ].filter(Boolean)
        return {
          system: cell.name,
          kind: cell.kind,
          rate: Math.round(cell.rate),
          wrong: wrong.length > 0,
          label: `${Math.round(cell.rate).toLocaleString('en-US')}${wrong.length > 0 ? `   ⚠ ${wrong.join(', ')}` : ''}`,
        }
      })
    data.push({ name, values })
    const height = values.length * ROW
    panels.push({
      type: 'group',
      title: { text: workload.title, anchor: 'start', frame: 'group', fontSize: 13 },
      encode: { enter: { width: { value: WIDTH }, height: { value: height } } },
      scales: [
        {
          name: 'y',
          type: 'band',
          domain: { data: name, field: 'system' },
          range: [0, height],
          padding: 0.15,
        },
        {
          name: 'x',
          type: 'linear',
          domain: { data: name, field: 'rate' },
          range: [0, WIDTH],
          nice: true,
          zero: true,
        },
      ],
      axes: [
        { orient: 'left', scale: 'y', labelLimit: 400, ticks: false, domain: false },
        { orient: 'bottom', scale: 'x', format: ',~s', title: 'calls/s (median)', grid: true, tickCount: 6 },
      ],
      marks: [
        {
          type: 'rect',
          from: { data: name },
          encode: {
            enter: {
              y: { scale: 'y', field: 'system' },
              height: { scale: 'y', band: 1 },
              x: { scale: 'x', value: 0 },
              x2: { scale: 'x', field: 'rate' },
              fill: { scale: 'kind', field: 'kind' },
              stroke: { signal: "datum.wrong ? '#d62728' : null" },
              strokeWidth: { value: 2 },
            },
          },
        },
        {
          type: 'text',
          from: { data: name },
          encode: {
            enter: {
              y: { scale: 'y', field: 'system', band: 0.5 },
              x: { scale: 'x', field: 'rate', offset: 4 },
              baseline: { value: 'middle' },
              fontSize: { value: 11 },
              text: { field: 'label' },
              fill: { signal: "datum.wrong ? '#d62728' : '#333'" },
              fontWeight: { signal: "datum.wrong ? 'bold' : 'normal'" },
            },
          },
        },
      ],
    })
  })
  const env = result.environment
  return {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    padding: 16,
    background: 'white',
    title: {
      text: 'getorcreate bench: throughput per system and workload',
      subtitle: `${env.cores} cores, Node ${env.node}, ${env.postgres}; pool ${result.options.pool}, ${result.options.concurrency} in flight, ${processesNote(result.options)}, ${result.options.rounds} rounds. Red: duplicate rows or errors.`,
      anchor: 'start',
    },
    layout: { columns: 1, padding: 36, bounds: 'full', align: 'each' },
    data,
    scales: [
      {
        name: 'kind',
        type: 'ordinal',
        domain: ['ours', 'peer', 'floor'],
        range: ['#1f77b4', '#b0b0b0', '#2ca02c'],
      },
    ],
    legends: [{ fill: 'kind', title: 'kind', orient: 'bottom', direction: 'horizontal' }],
    marks: panels,
  }
}

/** The chart as an SVG document. */
export function renderChart(result: BenchResult): Promise<string> {
  return renderSvg(chartSpec(result))
}

/** A Vega spec rendered to an SVG document, headless (the bench's chart and the stress run's). */
export async function renderSvg(spec: vega.Spec): Promise<string> {
  const view = new vega.View(vega.parse(spec), { renderer: 'none' })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}
