/**
 * A tiny round-robin TCP load balancer on loopback: each new connection goes to the next target
 * in turn, with no stickiness at all, as the worst case of a load balancer in front of a cluster.
 * HTTP keep-alive is the client's business: a negotiate and a WebSocket on separate connections
 * land on different targets.
 */
import net from 'node:net';

export class RoundRobinProxy {
  private readonly sockets = new Set<net.Socket>();
  private next = 0;
  /** Target index of every connection accepted, in order. */
  readonly routed: number[] = [];

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    private readonly targets: number[],
  ) {}

  static async start(targetPorts: number[]): Promise<RoundRobinProxy> {
    let proxy: RoundRobinProxy | undefined;
    const server = net.createServer((client) => proxy?.accept(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new RoundRobinProxy(server, (server.address() as net.AddressInfo).port, targetPorts);
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private accept(client: net.Socket): void {
    const index = this.next;
    this.next = (this.next + 1) % this.targets.length;
    this.routed.push(index);
    const upstream = net.connect(this.targets[index] as number, '127.0.0.1');
    this.sockets.add(client);
    this.sockets.add(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
