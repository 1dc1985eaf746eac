/**
 * The forwarder: the services listen on 127.0.0.1 only, which no namespace can reach, so the root namespace
 * listens on the root side of each worker's veth, at each service's port, and forwards every connection to
 * 127.0.0.1 at the same port. In process, one pair of sockets per connection, with backpressure (each side is
 * piped into the other), half-close passed on, and an error on either side resetting both, as a broken
 * connection would.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'

/** One listener: the address (a veth's root side) and the port, which is also the port forwarded to. */
export interface ForwardedPort {
  readonly host: string
  readonly port: number
}

/** The connections one listener took from one address. */
interface AcceptedConnections {
  readonly host: string
  readonly port: number
  readonly from: string
  readonly count: number
}

/** Forwarders, listening: close them all with {@link Forwarder.close}. */
export interface Forwarder {
  /** Connections open right now (client side and service side each count once), for the tests. */
  readonly openSockets: number
  /** Every connection taken so far: on which listener, and from which address (the peer's, as it arrived). */
  accepted(): readonly AcceptedConnections[]
  /** Stops listening and resets every connection still open. */
  close(): Promise<void>
}

/** Ends both sides at once: a reset where the other side had an error, so the peer sees the break. */
function join(client: Socket, upstream: Socket): void {
  const breakBoth = () => {
    if (!client.destroyed) client.resetAndDestroy()
    if (!upstream.destroyed) upstream.resetAndDestroy()
  }
  client.on('error', breakBoth)
  upstream.on('error', breakBoth)
  // A side that closed without an error has already passed its end on through the pipe; one that closed
  // because the other was destroyed (teardown) must not leave its partner open.
  client.on('close', (hadError) => {
    if (hadError) breakBoth()
  })
  upstream.on('close', (hadError) => {
    if (hadError) breakBoth()
  })
  client.pipe(upstream)
  upstream.pipe(client)
}

/** Listens on every `host:port` of `ports`, forwarding each connection to `127.0.0.1:port`. */
export async function startForwarder(ports: readonly ForwardedPort[]): Promise<Forwarder> {
  const servers: Server[] = []
  const accepted = new Map<string, AcceptedConnections>()
  const count = (host: string, port: number, from: string) => {
    const key = `${host} ${port} ${from}`
    accepted.set(key, { host, port, from, count: (accepted.get(key)?.count ?? 0) + 1 })
  }
  const sockets = new Set<Socket>()
  const track = (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  }
  const close = async () => {
    // Stop listening first (server.close calls back only once its connections are gone), then reset those.
    const closed = servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())))
    for (const socket of sockets) socket.resetAndDestroy()
    sockets.clear()
    await Promise.all(closed)
  }
  try {
    for (const { host, port } of ports) {
      const server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
        track(client)
        count(host, port, client.remoteAddress ?? 'unknown')
        const upstream = connect({ host: '127.0.0.1', port, allowHalfOpen: true, noDelay: true })
        track(upstream)
        join(client, upstream)
      })
      servers.push(server)
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        // exclusive: this listener is ours alone, never shared with a cluster worker's handle.
        server.listen({ host, port, exclusive: true }, () => {
          server.off('error', reject)
          // Later errors (an accept that fails) only fail that connection, which the worker sees.
          server.on('error', () => undefined)
          resolve()
        })
      })
    }
  } catch (error) {
    await close()
    throw error
  }
  return {
    get openSockets() {
      return sockets.size
    },
    accepted: () => [...accepted.values()],
    close,
  }
}
