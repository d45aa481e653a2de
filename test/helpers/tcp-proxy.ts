/** A loopback TCP proxy whose connections a test can cut, to drop a WebSocket like a network would. */
import net from 'node:net';

export class TcpProxy {
  private readonly sockets = new Set<net.Socket>();
  /** TCP connections accepted so far. */
  accepted = 0;
  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  /**
   * `holdUpstream`: when a client's side closes, keep the hub's side open, so the hub does not notice
   * (as when a machine vanishes from the network instead of closing its sockets).
   */
  static async start(
    targetPort: number,
    options: {
      holdUpstream?: boolean;
      /**
       * Sees (and may rewrite) every chunk: `up` is client → hub, `down` hub → client. A tap on the
       * wire, as a hub operator or a network attacker has.
       */
      tap?: (direction: 'up' | 'down', chunk: Buffer) => Buffer;
    } = {},
  ): Promise<TcpProxy> {
    const sockets = new Set<net.Socket>();
    let proxy: TcpProxy | undefined;
    const server = net.createServer((client) => {
      if (proxy) proxy.accepted++;
      const upstream = net.connect(targetPort, '127.0.0.1');
      sockets.add(client);
      sockets.add(upstream);
      const tap = options.tap;
      if (tap) {
        client.on('data', (d: Buffer) => upstream.write(tap('up', d)));
        upstream.on('data', (d: Buffer) => client.write(tap('down', d)));
        client.on('end', () => options.holdUpstream || upstream.end());
        upstream.on('end', () => client.end());
      } else {
        client.pipe(upstream, { end: !options.holdUpstream });
        upstream.pipe(client);
      }
      const end = (): void => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      if (options.holdUpstream) {
        client.on('error', () => client.destroy());
      } else {
        client.on('error', end).on('close', end);
      }
      upstream.on('error', end).on('close', end);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new TcpProxy(server, (server.address() as net.AddressInfo).port);
    (proxy as unknown as { sockets: Set<net.Socket> }).sockets = sockets;
    return proxy;
  }

  /** Cuts every open connection abruptly (RST), as a dying network link would. */
  dropAll(): void {
    for (const s of this.sockets) s.resetAndDestroy();
    this.sockets.clear();
  }

  get openConnections(): number {
    return this.sockets.size;
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
