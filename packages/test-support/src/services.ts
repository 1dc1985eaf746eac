/**
 * Where the integration tests find their services, in this order (README.md, "Tests"):
 * 1. an environment variable: DATABASE_URL (Postgres), MYSQL_URL (MySQL / MariaDB), REDIS_URL;
 * 2. else a container started with testcontainers, when a Docker engine answers;
 * 3. else the local default (postgres://root@127.0.0.1:5432/test, mysql://root@127.0.0.1:3306/test,
 *    redis://127.0.0.1:6379).
 * A service that cannot be reached fails the run with a message that says how to provide it: nothing is
 * skipped.
 */
import { existsSync } from 'node:fs'
import { Socket } from 'node:net'

/** A service the integration tests talk to. */
export type ServiceName = 'postgres' | 'mysql' | 'redis'

interface ServiceSpec {
  readonly env: string
  readonly fallback: string
  readonly image: string
  readonly port: number
  readonly containerEnv: Record<string, string>
  readonly ready: RegExp
  readonly readyTimes: number
  readonly url: (host: string, port: number) => string
  readonly how: string
}

const SPECS: Record<ServiceName, ServiceSpec> = {
  postgres: {
    env: 'DATABASE_URL',
    fallback: 'postgres://root@127.0.0.1:5432/test',
    image: 'postgres:16-alpine',
    port: 5432,
    containerEnv: { POSTGRES_USER: 'root', POSTGRES_DB: 'test', POSTGRES_HOST_AUTH_METHOD: 'trust' },
    ready: /database system is ready to accept connections/,
    readyTimes: 2,
    url: (host, port) => `postgres://root@${host}:${port}/test`,
    how: 'start Postgres 15+ locally (pg_ctlcluster <version> main start), or set DATABASE_URL=postgres://user@host:port/db',
  },
  mysql: {
    env: 'MYSQL_URL',
    fallback: 'mysql://root@127.0.0.1:3306/test',
    image: 'mariadb:10.11',
    port: 3306,
    containerEnv: { MARIADB_ALLOW_EMPTY_ROOT_PASSWORD: '1', MARIADB_DATABASE: 'test' },
    ready: /ready for connections/,
    readyTimes: 2,
    url: (host, port) => `mysql://root@${host}:${port}/test`,
    how: 'start MariaDB 10.11+ or MySQL 8 locally (start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd), or set MYSQL_URL=mysql://user@host:port/db',
  },
  redis: {
    env: 'REDIS_URL',
    fallback: 'redis://127.0.0.1:6379',
    image: 'redis:7-alpine',
    port: 6379,
    containerEnv: {},
    ready: /Ready to accept connections/,
    readyTimes: 1,
    url: (host, port) => `redis://${host}:${port}`,
    how: 'start redis-server locally (redis-server --daemonize yes --port 6379 --save "" --appendonly no), or set REDIS_URL=redis://host:port',
  },
}

function defaultPort(url: URL): number {
  if (url.port) return Number(url.port)
  return url.protocol.startsWith('postgres') ? 5432 : url.protocol.startsWith('mysql') ? 3306 : 6379
}

/** True when a TCP connection to the URL's host and port opens within `timeoutMs`. */
export function reachable(urlText: string, timeoutMs = 2_000): Promise<boolean> {
  const url = new URL(urlText)
  return new Promise((resolve) => {
    const socket = new Socket()
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('error', () => done(false))
    socket.connect(defaultPort(url), url.hostname.replace(/^\[|\]$/g, ''), () => done(true))
  })
}

function dockerMightAnswer(): boolean {
  return Boolean(process.env.DOCKER_HOST) || existsSync('/var/run/docker.sock')
}

/** A service the tests need does not answer; the message (one line) says how to provide it. */
export class ServiceUnavailableError extends Error {
  /** `ServiceUnavailableError`. */
  override readonly name = 'ServiceUnavailableError'
}

/** Stops what {@link provideServices} started. */
export type Teardown = () => Promise<void>

/**
 * Make sure each named service answers and its URL is in `process.env` (so test workers inherit it), starting
 * containers where the rules above say so. Throws a {@link ServiceUnavailableError}, with a message that says
 * how to provide the service, when one cannot be reached (after stopping any container it started).
 */
export async function provideServices(names: readonly ServiceName[]): Promise<Teardown> {
  const stops: Teardown[] = []
  const teardown: Teardown = async () => {
    for (const stop of stops.reverse()) await stop()
  }
  try {
    await provideEach(names, stops)
  } catch (error) {
    await teardown()
    throw error
  }
  return teardown
}

async function provideEach(names: readonly ServiceName[], stops: Teardown[]): Promise<void> {
  for (const name of names) {
    const spec = SPECS[name]
    const fromEnv = process.env[spec.env]
    if (fromEnv) {
      if (!(await reachable(fromEnv))) {
        throw new ServiceUnavailableError(
          `${spec.env}=${redact(fromEnv)} does not answer. Fix the URL or ${spec.how}.`,
        )
      }
      continue
    }
    if (dockerMightAnswer()) {
      const started = await startContainer(spec).catch(() => undefined)
      if (started) {
        process.env[spec.env] = started.url
        stops.push(started.stop)
        continue
      }
    }
    if (!(await reachable(spec.fallback))) {
      throw new ServiceUnavailableError(
        `The integration tests need ${name}: ${spec.env} is not set, no Docker engine answered, and ` +
          `${spec.fallback} does not answer. To run them, ${spec.how}.`,
      )
    }
    process.env[spec.env] = spec.fallback
  }
}

async function startContainer(spec: ServiceSpec): Promise<{ url: string; stop: Teardown }> {
  const { GenericContainer, Wait } = await import('testcontainers')
  const container = await new GenericContainer(spec.image)
    .withEnvironment(spec.containerEnv)
    .withExposedPorts(spec.port)
    .withWaitStrategy(Wait.forLogMessage(spec.ready, spec.readyTimes))
    .start()
  return {
    url: spec.url(container.getHost(), container.getMappedPort(spec.port)),
    stop: async () => {
      await container.stop()
    },
  }
}

/**
 * The URL of `name` that the package's global setup ({@link provideServices}, through `guestRun`) put in the
 * environment, for a test or a worker process. Throws when it is not set, which means the file runs without
 * the global setup of its package's integration tests.
 */
export function serviceUrl(name: ServiceName): string {
  const { env } = SPECS[name]
  const url = process.env[env]
  if (!url) {
    throw new Error(
      `${env} is not set: the global setup of the integration tests provides it ` +
        '(@getorcreate/test-support, services.ts). Run this file in the integration project.',
    )
  }
  return url
}

/** The Postgres the tests use (DATABASE_URL, set by the global setup): {@link serviceUrl}. */
export function databaseUrl(): string {
  return serviceUrl('postgres')
}

/** The MariaDB / MySQL the tests use (MYSQL_URL, set by the global setup): {@link serviceUrl}. */
export function mysqlUrl(): string {
  return serviceUrl('mysql')
}

/** The Redis the tests use (REDIS_URL, set by the global setup): {@link serviceUrl}. */
export function redisUrl(): string {
  return serviceUrl('redis')
}

/** `urlText` with its password, if any, replaced by `***`: safe to print. */
export function redact(urlText: string): string {
  try {
    const url = new URL(urlText)
    if (url.password) url.password = '***'
    return url.toString()
  } catch {
    return '<unparsable URL>'
  }
}
