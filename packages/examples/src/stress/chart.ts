/**
 * The stress run's chart: calls per second over the run, one line per worker, with each injected fault
 * drawn as a shaded band on the time axis and named above it. A Vega spec, rendered by the bench's renderer.
 */
import type * as vega from 'vega'
import { renderSvg } from '../bench/chart.js'
import type { StressResult } from './run.js'

const WIDTH = 760
const HEIGHT = 260

function chartSpec(result: StressResult): vega.Spec {
  const points = result.throughput.flatMap((series, worker) =>
    series.map(([second, calls]) => ({ worker: `worker ${worker}`, second, calls })),
  )
  const faults = result.faults.map((fault, i) => ({
    start: (fault.start - result.epoch) / 1000,
    end: (fault.end - result.epoch) / 1000,
    label: `${i}: ${fault.kind}`,
    row: i % 3,
  }))
  const verdict = result.verdict.ok ? 'checker: PASS' : 'checker: FAIL'
  return {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    padding: 16,
    background: 'white',
    width: WIDTH,
    height: HEIGHT,
    title: {
      text: `getorcreate stress: calls per second per worker (${verdict})`,
      subtitle: `${result.calls.toLocaleString('en-US')} calls in ${Math.round(result.seconds)} s, ${result.options.procs} workers, seed ${result.options.seed}. Shaded: fault windows (with their grace).`,
      anchor: 'start',
    },
    data: [
      { name: 'points', values: points },
      { name: 'faults', values: faults },
    ],
    scales: [
      {
        name: 'x',
        type: 'linear',
        domain: {
          fields: [
            { data: 'points', field: 'second' },
            { data: 'faults', field: 'end' },
          ],
        },
        range: 'width',
        zero: true,
      },
      {
        name: 'y',
        type: 'linear',
        domain: { data: 'points', field: 'calls' },
        range: 'height',
        nice: true,
        zero: true,
      },
      { name: 'color', type: 'ordinal', domain: { data: 'points', field: 'worker' }, range: 'category' },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: 'seconds after go' },
      { orient: 'left', scale: 'y', title: 'calls/s', grid: true, format: ',~s' },
    ],
    legends: [{ stroke: 'color', title: 'worker', orient: 'right' }],
    marks: [
      {
        type: 'rect',
        from: { data: 'faults' },
        encode: {
          enter: {
            x: { scale: 'x', field: 'start' },
            x2: { scale: 'x', field: 'end' },
            y: { value: 0 },
            y2: { signal: 'height' },
            fill: { value: '#d62728' },
            fillOpacity: { value: 0.08 },
          },
        },
      },
      {
        type: 'text',
        from: { data: 'faults' },
        encode: {
          enter: {
            x: { scale: 'x', field: 'start', offset: 2 },
            y: { signal: '10 + datum.row * 11' },
            text: { field: 'label' },
            fontSize: { value: 9 },
            fill: { value: '#a01010' },
          },
        },
      },
      {
        type: 'group',
        from: { facet: { name: 'series', data: 'points', groupby: 'worker' } },
        marks: [
          {
            type: 'line',
            from: { data: 'series' },
            sort: { field: 'datum.second' },
            encode: {
              enter: {
                x: { scale: 'x', field: 'second' },
                y: { scale: 'y', field: 'calls' },
                stroke: { scale: 'color', field: 'worker' },
                strokeWidth: { value: 1.5 },
              },
            },
          },
        ],
      },
    ],
  }
}

/** The chart as an SVG document. */
export function renderStressChart(result: StressResult): Promise<string> {
  return renderSvg(chartSpec(result))
}
