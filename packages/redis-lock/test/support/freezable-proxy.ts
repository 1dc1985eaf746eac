/**
 * A TCP proxy on 127.0.0.1 to one port, which the test can freeze: a network partition between one client and
 * its server. Frozen, it stops forwarding either way (every socket stops reading: bytes wait in the
 * kernel's buffers, and the client's commands get no answer); thawed, it forwards what waited, as a healed
 * link delivers what TCP retransmits.
 */
import { once } from 'node:events'
import { connect, createServer, type Server, type Socket } from 'node:net'

/** A proxy started by {@link FreezableProxy.start}. */
export class FreezableProxy {
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  #frozen = false

  private constructor(server: Server, targetPort: number) {
    this.#server = server
    server.on('connection', (client) => {
      const upstream = connect(targetPort, '127.0.0.1')
      const pair = [client, upstream] as const
      for (const [from, to] of [pair, [upstream, client] as const]) {
        this.#sockets.add(from)
        from.on('data', (chunk) => to.write(chunk))
        from.on('error', () => to.destroy())
        from.on('close', () => {
          this.#sockets.delete(from)
          to.destroy()
        })
        if (this.#frozen) from.pause()
      }
    })
  }

  /** Listen on a free port, forwarding to `targetPort` on 127.0.0.1. */
  static async start(targetPort: number): Promise<FreezableProxy> {
    const server = createServer()
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    return new FreezableProxy(server, targetPort)
  }

  /** `redis://127.0.0.1:<port>`: where a client connects to go through the proxy. */
  get url(): string {
    const address = this.#server.address()
    if (typeof address !== 'object' || address === null) throw new Error('the proxy is not listening')
    return `redis://127.0.0.1:${address.port}`
  }

  /** Stop forwarding, both ways, on every connection (and on those made while frozen). */
  freeze(): void {
    this.#frozen = true
    for (const socket of this.#sockets) socket.pause()
  }

  /** Forward again, what waited first. */
  thaw(): void {
    this.#frozen = false
    for (const socket of this.#sockets) socket.resume()
  }

  /** Close every connection and stop listening. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy()
    this.#server.close()
    await once(this.#server, 'close')
  }
}
