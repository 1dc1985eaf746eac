/**
 * getOrCreate's `node:diagnostics_channel` events wired to OpenTelemetry: a span per call with the outcome and
 * the counts as attributes, a duration histogram and a counter per outcome and error code, all exported to the
 * console exporters. On embedded Postgres (PGlite) with drizzle, or on `DATABASE_URL` when it is set.
 *
 * `instrumentGetOrCreate` is the part to copy into a service: it subscribes to the channels and returns the
 * function that unsubscribes. `main` runs a few calls of every outcome (created, hit, raced, error) and
 * returns what was exported.
 *
 * Run it: `node --conditions=@getorcreate/source --import tsx src/observability.ts`
 */
import { randomUUID } from 'node:crypto'
import diagnosticsChannel from 'node:diagnostics_channel'
import { pathToFileURL } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import {
  constraintStrategy,
  DIAGNOSTICS_CHANNELS,
  type GetOrCreateTrace,
  getOrCreate,
  type LockEvent,
} from '@getorcreate/core'
import { type AnyPgDatabase, drizzleStore } from '@getorcreate/core/drizzle'
import {
  type Attributes,
  type Meter,
  context as otelContext,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
} from '@opentelemetry/api'
import {
  AggregationTemporality,
  ConsoleMetricExporter,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics'
import {
  BasicTracerProvider,
  ConsoleSpanExporter,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'

/** `db.system.name` (OpenTelemetry semantic conventions) of a built-in store, from its name's prefix. */
function dbSystemOf(store: string): string | undefined {
  if (store.startsWith('pg:')) return 'postgresql'
  if (store.startsWith('mysql:')) return 'mysql'
  if (store.startsWith('sqlite:')) return 'sqlite'
  return undefined
}

/**
 * Subscribe OpenTelemetry to getOrCreate's channels: a CLIENT span per `getOrCreate` call (named
 * `getOrCreate <store>`, status ERROR with the exception on failure), a histogram
 * `getorcreate.operation.duration` (seconds) and a counter `getorcreate.operations` per outcome, strategy
 * and `error.type`, and a counter `getorcreate.lock.events` per lock event. Returns the unsubscribe.
 */
export function instrumentGetOrCreate(tracer: Tracer, meter: Meter): () => void {
  const duration = meter.createHistogram('getorcreate.operation.duration', {
    unit: 's',
    description: 'Duration of getOrCreate calls, by outcome',
  })
  const operations = meter.createCounter('getorcreate.operations', {
    description: 'getOrCreate calls, by outcome and error code',
  })
  const lockEvents = meter.createCounter('getorcreate.lock.events', { description: 'Redis lock events' })
  const open = new WeakMap<GetOrCreateTrace, { span: Span; started: number }>()

  const channel = diagnosticsChannel.tracingChannel<unknown, GetOrCreateTrace>(
    DIAGNOSTICS_CHANNELS.getOrCreate,
  )
  const handlers = {
    // Node requires no handler but these two; its typings want all five.
    end: () => undefined,
    asyncStart: () => undefined,
    error: () => undefined,
    start(trace: GetOrCreateTrace) {
      const system = dbSystemOf(trace.store)
      const span = tracer.startSpan(
        `getOrCreate ${trace.store}`,
        {
          kind: SpanKind.CLIENT,
          attributes: {
            'db.operation.name': 'getOrCreate',
            'db.collection.name': trace.store.replace(/^[a-z]+:/, ''),
            ...(system ? { 'db.system.name': system } : {}),
            'getorcreate.strategy': trace.strategy,
            ...(trace.keyHash ? { 'getorcreate.key_hash': trace.keyHash } : {}),
          },
        },
        otelContext.active(),
      )
      open.set(trace, { span, started: performance.now() })
    },
    asyncEnd(trace: GetOrCreateTrace) {
      const opened = open.get(trace)
      if (!opened) return
      open.delete(trace)
      const { span, started } = opened
      const outcome = trace.outcome ?? 'error'
      const attributes: Attributes = {
        'getorcreate.outcome': outcome,
        'getorcreate.strategy': trace.strategy,
        ...(trace.errorCode ? { 'error.type': trace.errorCode } : {}),
        ...(outcome === 'error' && !trace.errorCode && trace.error instanceof Error
          ? { 'error.type': trace.error.name }
          : {}),
      }
      span.setAttributes({
        ...attributes,
        'getorcreate.attempts': trace.attempts,
        'getorcreate.store_calls': trace.storeCalls,
        'getorcreate.lock_wait_ms': trace.lockWaitMs,
        'getorcreate.joined': trace.joined,
      })
      if (outcome === 'error') {
        if (trace.error instanceof Error) span.recordException(trace.error)
        span.setStatus({ code: SpanStatusCode.ERROR, message: trace.errorCode ?? String(trace.error) })
      }
      span.end()
      duration.record((performance.now() - started) / 1000, attributes)
      operations.add(1, attributes)
    },
  }
  channel.subscribe(handlers)
  const lockNames = [
    DIAGNOSTICS_CHANNELS.lockAcquired,
    DIAGNOSTICS_CHANNELS.lockExtended,
    DIAGNOSTICS_CHANNELS.lockLost,
    DIAGNOSTICS_CHANNELS.lockUnavailable,
    DIAGNOSTICS_CHANNELS.lockNodeFailed,
  ]
  const onLock = (message: unknown, name: string | symbol) => {
    const event = message as LockEvent
    lockEvents.add(1, {
      'getorcreate.lock.event': String(name).replace('getorcreate:lock:', ''),
      ...(event.store ? { 'getorcreate.store': event.store } : {}),
    })
  }
  for (const name of lockNames) diagnosticsChannel.subscribe(name, onLock)
  return () => {
    channel.unsubscribe(handlers)
    for (const name of lockNames) diagnosticsChannel.unsubscribe(name, onLock)
  }
}

/** What the example exported. */
export interface ObservabilityRun {
  /** The spans, in the order they ended: name, status, and the outcome attribute. */
  readonly spans: { name: string; error: boolean; outcome: string; errorType?: string }[]
  /** The `getorcreate.operations` counter's points: outcome (and error type) → count. */
  readonly operations: Record<string, number>
  /** The `getorcreate.operation.duration` histogram: outcome → number of durations recorded. */
  readonly durations: Record<string, number>
}

/** Run the example on `databaseUrl`, or on a fresh PGlite when it is undefined; `console` exporters print too. */
export async function main(databaseUrl?: string, print = true): Promise<ObservabilityRun> {
  const spans = new InMemorySpanExporter()
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [
      new SimpleSpanProcessor(spans),
      ...(print ? [new SimpleSpanProcessor(new ConsoleSpanExporter())] : []),
    ],
  })
  const metrics = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const readers = [new PeriodicExportingMetricReader({ exporter: metrics, exportIntervalMillis: 60_000 })]
  if (print) {
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: new ConsoleMetricExporter(),
        exportIntervalMillis: 60_000,
      }),
    )
  }
  const meterProvider = new MeterProvider({ readers })
  const stop = instrumentGetOrCreate(
    tracerProvider.getTracer('getorcreate-example'),
    meterProvider.getMeter('getorcreate'),
  )

  const name = `tags_${randomUUID().replaceAll('-', '').slice(0, 12)}`
  const lite = databaseUrl === undefined ? new PGlite() : undefined
  const sql = databaseUrl === undefined ? undefined : postgres(databaseUrl, { max: 8, onnotice: () => {} })
  const db: AnyPgDatabase = lite ? drizzlePglite(lite) : drizzlePostgres(sql!)
  const exec = async (statement: string) => {
    if (lite) await lite.exec(statement)
    else await sql!.unsafe(statement)
  }
  try {
    await exec(`create table ${name} (id serial primary key, slug text not null unique, label text)`)
    const tags = drizzleStore(
      db,
      pgTable(name, { id: serial('id').primaryKey(), slug: text('slug').notNull(), label: text('label') }),
    )
    await getOrCreate(tags, { slug: 'news' }, { label: 'News' }) // created
    await getOrCreate(tags, { slug: 'news' }, { label: 'News' }) // hit
    // Raced: another writer inserts the key between this call's read and its insert.
    await getOrCreate(tags, { slug: 'sport' }, async () => {
      await exec(`insert into ${name} (slug, label) values ('sport', 'theirs')`)
      return { label: 'Sport' }
    })
    // An error with a code: a key of no column (refused before any I/O).
    await getOrCreate(tags, { nope: 'x' } as never, {}, constraintStrategy()).catch(() => undefined)
  } finally {
    stop()
    if (lite) await lite.close()
    else {
      await exec(`drop table if exists ${name}`)
      await sql!.end({ timeout: 5 })
    }
  }
  await meterProvider.forceFlush()
  await tracerProvider.forceFlush()

  const operations: Record<string, number> = {}
  const durations: Record<string, number> = {}
  for (const resourceMetrics of metrics.getMetrics()) {
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        for (const point of metric.dataPoints) {
          const outcome = String(point.attributes['getorcreate.outcome'])
          const errorType = point.attributes['error.type']
          const label = errorType === undefined ? outcome : `${outcome}:${String(errorType)}`
          if (metric.descriptor.name === 'getorcreate.operations') operations[label] = point.value as number
          if (metric.descriptor.name === 'getorcreate.operation.duration') {
            durations[label] = (point.value as { count: number }).count
          }
        }
      }
    }
  }
  const run: ObservabilityRun = {
    spans: spans.getFinishedSpans().map((span) => ({
      name: span.name.replace(name, '<table>'),
      error: span.status.code === SpanStatusCode.ERROR,
      outcome: String(span.attributes['getorcreate.outcome']),
      ...(span.attributes['error.type'] === undefined
        ? {}
        : { errorType: String(span.attributes['error.type']) }),
    })),
    operations,
    durations,
  }
  await meterProvider.shutdown()
  await tracerProvider.shutdown()
  return run
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.env.DATABASE_URL).then(
    (run) => console.log(JSON.stringify(run, null, 2)),
    (error: unknown) => {
      console.error(error)
      process.exitCode = 1
    },
  )
}
