/**
 * A UDP impairment relay in user space (this kernel has no netem and no iptables/nft): it listens on
 * 127.0.0.1:0 in front of a UDP server (coturn), gives each client address its own upstream socket,
 * so the server sees one 5-tuple per client, and routes replies back to the right client. Each
 * direction can lose, delay (with jitter), duplicate and reorder packets, decided by a seeded PRNG:
 * the same seed and the same packets give the same decisions.
 *
 * Which direction to impair. Agents reach each other only through coturn: a packet from A to B goes
 * A → relay → coturn ("up" hop of A's flow), coturn → coturn (its two relayed addresses, on loopback,
 * not through us), coturn → relay → B ("down" hop of B's flow). So every A→B packet crosses exactly
 * one up hop (A's) and one down hop (B's), and every B→A packet B's up hop and A's down hop. To make
 * "5% loss + 40 ms ± 10 ms" mean exactly that one way, end to end, impair ONE of the two hops with
 * the full figures and leave the other clean; the fault tests impair `up` (client → coturn). Splitting
 * it across both hops would not give the stated numbers: losses compound (1 − 0.975² ≠ 0.05 exactly)
 * and the sum of two uniform jitters is a triangle, not a uniform ±10 ms. Impairing `up` also means
 * the agents' TURN requests (Allocate, Refresh, CreatePermission, ChannelBind) see the loss, and
 * coturn's answers do not — as a lossy uplink would.
 *
 * Delay is a delay queue per flow and direction: each packet leaves at arrival + delay + uniform(−jitter,
 * +jitter), but never before the packet ahead of it, so jitter alone does not reorder (as on one
 * link, where a late packet holds up the ones behind it). Reordering happens only with `reorderRate`:
 * such a packet is held `reorderExtraMs` longer and the ones behind it overtake it.
 */
import dgram from 'node:dgram';
import { onTestFinished } from 'vitest';
import { startCoturn } from './coturn.js';

export interface Impairment {
  /** Probability in [0, 1] that a packet is dropped. */
  lossRate?: number;
  /** Base one-way delay added to every packet. */
  delayMs?: number;
  /** Each packet's delay is delayMs + uniform(−jitterMs, +jitterMs) (never below zero). */
  jitterMs?: number;
  /** Probability that a (not dropped) packet is sent twice. */
  duplicateRate?: number;
  /** Probability that a packet is held back so that the packets behind it overtake it. */
  reorderRate?: number;
  /** How much longer a reordered packet is held than its normal delay; default max(5, 2 × jitterMs). */
  reorderExtraMs?: number;
}

export interface ImpairmentSettings {
  /** Client → server. */
  up?: Impairment;
  /** Server → client. */
  down?: Impairment;
}

export interface DirectionCounters {
  /** Packets that arrived at the relay in this direction. */
  in: number;
  /** Packets the relay sent on (copies included). */
  out: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  /** Packets that could not be sent (socket error). */
  sendErrors: number;
}

export type Direction = 'up' | 'down';

/** mulberry32: tiny, fast, and good enough for test decisions; deterministic for a 32-bit seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function checkImpairment(direction: Direction, i: Impairment): Required<Impairment> {
  const rate = (name: keyof Impairment, v: number | undefined): number => {
    const x = v ?? 0;
    if (!Number.isFinite(x) || x < 0 || x > 1) throw new RangeError(`${direction}.${name} must be a probability in [0, 1], got ${v}`);
    return x;
  };
  const ms = (name: keyof Impairment, v: number | undefined, dflt: number): number => {
    const x = v ?? dflt;
    if (!Number.isFinite(x) || x < 0) throw new RangeError(`${direction}.${name} must be a non-negative number of ms, got ${v}`);
    return x;
  };
  const jitterMs = ms('jitterMs', i.jitterMs, 0);
  return {
    lossRate: rate('lossRate', i.lossRate),
    delayMs: ms('delayMs', i.delayMs, 0),
    jitterMs,
    duplicateRate: rate('duplicateRate', i.duplicateRate),
    reorderRate: rate('reorderRate', i.reorderRate),
    reorderExtraMs: ms('reorderExtraMs', i.reorderExtraMs, Math.max(5, 2 * jitterMs)),
  };
}

/** The per-packet decision for one direction: drop, or the times at which its copies leave. */
export class ImpairmentDecider {
  private settings: Required<Impairment>;
  private readonly random: () => number;

  constructor(
    readonly direction: Direction,
    seed: number,
    settings: Impairment = {},
  ) {
    this.random = seededRandom(seed);
    this.settings = checkImpairment(direction, settings);
  }

  set(settings: Impairment): void {
    this.settings = checkImpairment(this.direction, settings);
  }

  get current(): Required<Impairment> {
    return { ...this.settings };
  }

  /**
   * Draws the fate of one packet. Always draws the same number of values per packet, so a packet's
   * fate depends only on the seed and its position in the sequence, not on earlier fates.
   */
  decide(): { drop: boolean; delayMs: number; duplicate: boolean; reorder: boolean } {
    const s = this.settings;
    const [rLoss, rJitter, rDup, rReorder] = [this.random(), this.random(), this.random(), this.random()];
    const delayMs = Math.max(0, s.delayMs + (rJitter * 2 - 1) * s.jitterMs);
    return { drop: rLoss < s.lossRate, delayMs, duplicate: rDup < s.duplicateRate, reorder: rReorder < s.reorderRate };
  }
}

interface Queued {
  at: number;
  packet: Buffer;
}

/** Packets of one flow in one direction, sent in order of their leave times by a single timer. */
class DelayQueue {
  private readonly items: Queued[] = [];
  /** Leave time of the last packet queued in order: later packets never leave before it. */
  private lastInOrder = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly send: (packet: Buffer) => void) {}

  push(packet: Buffer, delayMs: number, reorderExtraMs: number | null): void {
    const now = performance.now();
    let at: number;
    if (reorderExtraMs === null) {
      at = Math.max(now + delayMs, this.lastInOrder);
      this.lastInOrder = at;
    } else {
      at = now + delayMs + reorderExtraMs;
    }
    if (at <= now && this.items.length === 0) {
      this.send(packet);
      return;
    }
    // Insert after every packet leaving at the same time or earlier (stable: FIFO among equals).
    let i = this.items.length;
    while (i > 0 && (this.items[i - 1] as Queued).at > at) i--;
    this.items.splice(i, 0, { at, packet });
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.items.length === 0) return;
    const wait = Math.max(0, (this.items[0] as Queued).at - performance.now());
    this.timer = setTimeout(() => this.drain(), wait);
  }

  private drain(): void {
    this.timer = null;
    // Timers fire up to ~1 ms early in performance.now() terms (they round to whole ms).
    const now = performance.now() + 1;
    while (this.items.length > 0 && (this.items[0] as Queued).at <= now) this.send((this.items.shift() as Queued).packet);
    this.schedule();
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.items.length = 0;
  }
}

interface Flow {
  client: { address: string; port: number };
  upstream: dgram.Socket;
  up: DelayQueue;
  down: DelayQueue;
}

function newCounters(): DirectionCounters {
  return { in: 0, out: 0, dropped: 0, duplicated: 0, reordered: 0, sendErrors: 0 };
}

export interface UdpImpairOptions extends ImpairmentSettings {
  /** Where packets go: the UDP server (coturn) on loopback. */
  target: { host: string; port: number };
  /** Seed of the PRNG; `up` uses it, `down` a value derived from it. Default 1. */
  seed?: number;
}

export class UdpImpairRelay {
  private readonly flows = new Map<string, Flow>();
  private readonly counters = { up: newCounters(), down: newCounters() };
  private readonly deciders: Record<Direction, ImpairmentDecider>;
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly front: dgram.Socket,
    private readonly target: { host: string; port: number },
    readonly port: number,
    seed: number,
    settings: ImpairmentSettings,
  ) {
    this.deciders = {
      up: new ImpairmentDecider('up', seed, settings.up),
      // A different stream for the other direction, so impairing one does not shift the other's draws.
      down: new ImpairmentDecider('down', (seed ^ 0x9e3779b9) >>> 0, settings.down),
    };
    front.on('message', (packet, rinfo) => this.fromClient(packet, rinfo));
    // A client that went away (ICMP port unreachable) must not take the relay down.
    front.on('error', () => undefined);
  }

  /** Starts a relay on 127.0.0.1:0 in front of `target`. */
  static async start(options: UdpImpairOptions): Promise<UdpImpairRelay> {
    const front = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      front.once('error', reject);
      front.bind(0, '127.0.0.1', () => {
        front.off('error', reject);
        resolve();
      });
    });
    return new UdpImpairRelay(front, options.target, front.address().port, options.seed ?? 1, { up: options.up ?? {}, down: options.down ?? {} });
  }

  /** host:port of the relay, for a `turn:` URL. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /**
   * Changes the impairment from now on (packets already queued keep their leave times). A direction
   * given is replaced as a whole (unset fields are 0); a direction left out keeps its settings.
   */
  setImpairment(settings: ImpairmentSettings): void {
    // Check both before applying either, so a bad value changes nothing.
    const up = settings.up && checkImpairment('up', settings.up);
    const down = settings.down && checkImpairment('down', settings.down);
    if (up) this.deciders.up.set(up);
    if (down) this.deciders.down.set(down);
  }

  get impairment(): { up: Required<Impairment>; down: Required<Impairment> } {
    return { up: this.deciders.up.current, down: this.deciders.down.current };
  }

  /** Packet counters per direction, and the number of client flows seen. */
  stats(): { up: DirectionCounters; down: DirectionCounters; flows: number } {
    return { up: { ...this.counters.up }, down: { ...this.counters.down }, flows: this.flows.size };
  }

  private fromClient(packet: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.closing) return;
    const key = `${rinfo.address}:${rinfo.port}`;
    let flow = this.flows.get(key);
    if (!flow) flow = this.openFlow(key, { address: rinfo.address, port: rinfo.port });
    this.impair('up', flow.up, packet);
  }

  private openFlow(key: string, client: { address: string; port: number }): Flow {
    const upstream = dgram.createSocket({ type: 'udp4', recvBufferSize: 1024 * 1024 });
    upstream.bind(0, '127.0.0.1');
    upstream.on('error', () => undefined);
    const flow: Flow = {
      client,
      upstream,
      up: new DelayQueue((p) => this.sendOut('up', upstream, p, this.target.port, this.target.host)),
      down: new DelayQueue((p) => this.sendOut('down', this.front, p, client.port, client.address)),
    };
    upstream.on('message', (packet, rinfo) => {
      // Only the server's answers go back; anything else reaching this port is not ours to relay.
      if (this.closing || rinfo.port !== this.target.port || rinfo.address !== this.target.host) return;
      this.impair('down', flow.down, packet);
    });
    this.flows.set(key, flow);
    return flow;
  }

  private impair(direction: Direction, queue: DelayQueue, packet: Buffer): void {
    const c = this.counters[direction];
    c.in++;
    const fate = this.deciders[direction].decide();
    if (fate.drop) {
      c.dropped++;
      return;
    }
    const extra = fate.reorder ? this.deciders[direction].current.reorderExtraMs : null;
    if (fate.reorder) c.reordered++;
    queue.push(packet, fate.delayMs, extra);
    if (fate.duplicate) {
      c.duplicated++;
      queue.push(packet, fate.delayMs, extra);
    }
  }

  private sendOut(direction: Direction, socket: dgram.Socket, packet: Buffer, port: number, host: string): void {
    if (this.closing) return;
    const c = this.counters[direction];
    c.out++;
    socket.send(packet, port, host, (err) => {
      if (err) c.sendErrors++;
    });
  }

  /** Closes every socket and drops queued packets. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const sockets = [this.front, ...[...this.flows.values()].map((f) => f.upstream)];
      for (const f of this.flows.values()) {
        f.up.clear();
        f.down.clear();
      }
      await Promise.all(sockets.map((s) => new Promise<void>((resolve) => {
        try {
          s.close(() => resolve());
        } catch {
          resolve(); // never bound, or already closed
        }
      })));
    })();
    return this.closing;
  }
}

/** Where agents reach TURN: coturn behind an impairment relay, with the settings an agent needs. */
export interface ImpairedTurn {
  relay: UdpImpairRelay;
  /** coturn's own log (allocations, relayed bytes). */
  log(): string;
  /** Agent settings for relay-only ICE through the relay, ICE bound to `bindAddress`. */
  agentOptions(bindAddress: string): { turnUrl: string; turnUsername: string; turnPassword: string; iceTransportPolicy: 'relay'; iceBindAddress: string };
  /** The same as RTC_AGENT_* variables, for an agent in another process. */
  agentEnv(bindAddress: string): Record<string, string>;
}

/**
 * Starts Debian's coturn on 127.0.0.1 and an impairment relay in front of it; both stop when the test
 * ends. Agents should bind ICE to 127.0.0.2 / 127.0.0.3: with their host sockets on other addresses
 * than coturn's relayed ones, only TURN can carry their traffic (native-notes.md, "Relay-only ICE
 * still answers from the host socket").
 */
export async function useImpairedTurn(options: ImpairmentSettings & { seed?: number } = {}): Promise<ImpairedTurn> {
  const turn = await startCoturn();
  const port = Number(new URL(turn.url.replace(/^turn:/, 'turn://')).port);
  const relay = await UdpImpairRelay.start({ target: { host: '127.0.0.1', port }, ...options });
  onTestFinished(() => relay.close());
  const turnUrl = `turn:${relay.address}`;
  return {
    relay,
    log: turn.log,
    agentOptions: (iceBindAddress) => ({ turnUrl, turnUsername: turn.username, turnPassword: turn.password, iceTransportPolicy: 'relay', iceBindAddress }),
    agentEnv: (bind) => ({
      RTC_AGENT_TURN_URL: turnUrl,
      RTC_AGENT_TURN_USERNAME: turn.username,
      RTC_AGENT_TURN_PASSWORD: turn.password,
      RTC_AGENT_ICE_TRANSPORT_POLICY: 'relay',
      RTC_AGENT_ICE_BIND_ADDRESS: bind,
    }),
  };
}
