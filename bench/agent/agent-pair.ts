/**
 * Two rtc-agent agents (the built dist/) in this process, joined to one room on the bench hub,
 * ICE on loopback only (iceBindAddress 127.0.0.1 unless overridden per side, no STUN), no RTC_AGENT_* from the shell
 * (env: {}), each with its own temp dir for the E2EE identity, known peers and downloads.
 * Resolves once both sides report the expected path (and E2EE, when on) to each other.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { sleep } from '../lib/async.js';
import type { Agent, AgentOptions, Dist, ReceivedMessage, Room } from './dist.js';
import type { Pipe } from './pipe.js';

export interface AgentPairOptions {
  hubUrl: string;
  /** Room name; unique per pair so pairs never see each other's traffic. */
  room: string;
  /** Working dir for this pair (identity files, downloads). */
  dir: string;
  e2ee: boolean;
  /** false on both agents: every message goes through the hub relay. */
  native: boolean;
  logLevel: 'warn' | 'error' | 'silent';
  setupTimeoutMs?: number;
  /**
   * Per-side overrides of the agent options above (e.g. TURN: iceTransportPolicy 'relay', turnUrl,
   * and a distinct iceBindAddress per side), applied last.
   */
  agentOptions?: { a?: Partial<AgentOptions>; b?: Partial<AgentOptions> };
}

export interface AgentPair extends Pipe {
  a: Agent;
  b: Agent;
  roomA: Room;
  roomB: Room;
  idA: string;
  idB: string;
  /** Where B writes received files. */
  downloadDirB: string;
}

export interface BenchAgentOptions {
  hubUrl: string;
  /** Working dir (identity file, downloads). */
  dir: string;
  e2ee: boolean;
  native: boolean;
  logLevel: 'warn' | 'error' | 'silent';
  overrides?: Partial<AgentOptions>;
}

/** One bench agent: loopback ICE, no STUN, no RTC_AGENT_* from the shell, its own dir. */
export async function makeBenchAgent(dist: Dist, name: string, o: BenchAgentOptions): Promise<Agent> {
  const { createAgent, createLogger } = dist.api;
  await mkdir(path.join(o.dir, 'downloads'), { recursive: true });
  const options: AgentOptions = {
    hubUrl: o.hubUrl,
    name,
    iceBindAddress: '127.0.0.1',
    stunServers: [],
    tryNative: o.native,
    downloadDir: path.join(o.dir, 'downloads'),
    logger: createLogger({ level: o.logLevel, pretty: false }),
    env: {},
  };
  if (o.e2ee) Object.assign(options, { enableE2ee: true, roomSecret: 'bench-room-secret', identityFile: path.join(o.dir, 'identity.json') });
  Object.assign(options, o.overrides);
  return createAgent(options);
}

export async function openAgentPair(dist: Dist, name: string, o: AgentPairOptions): Promise<AgentPair> {
  const make = (side: 'a' | 'b'): Promise<Agent> =>
    makeBenchAgent(dist, `${name}-${side}`, { hubUrl: o.hubUrl, dir: path.join(o.dir, side), e2ee: o.e2ee, native: o.native, logLevel: o.logLevel, ...(o.agentOptions?.[side] ? { overrides: o.agentOptions[side] } : {}) });
  const a = await make('a');
  let b: Agent | undefined;
  try {
    b = await make('b');
    const roomA = await a.join(o.room);
    const roomB = await b.join(o.room);
    const want = o.native ? 'p2p' : 'relay';
    const deadline = Date.now() + (o.setupTimeoutMs ?? 20_000);
    const ready = (r: Room): boolean => {
      const p = r.peers()[0];
      return p !== undefined && p.path === want && p.e2ee === o.e2ee;
    };
    while (!(ready(roomA) && ready(roomB))) {
      if (Date.now() > deadline) {
        throw new Error(`${name}: peers not on ${want}${o.e2ee ? ' with e2ee' : ''} within ${o.setupTimeoutMs ?? 20_000} ms: A sees ${JSON.stringify(roomA.peers())}, B sees ${JSON.stringify(roomB.peers())}`);
      }
      await sleep(20);
    }
    const idA = roomA.selfId;
    const idB = roomB.selfId;
    const bAgent = b;
    const pair: AgentPair = {
      name,
      a,
      b: bAgent,
      roomA,
      roomB,
      idA,
      idB,
      downloadDirB: path.join(o.dir, 'b', 'downloads'),
      onA: null,
      onB: null,
      send: (data) => roomA.send(data, { to: idB }),
      sendBack: (data) => roomB.send(data, { to: idA }),
      async drain(ms) {
        if (!(await roomA.flush(ms))) throw new Error(`${name}: not everything acknowledged within ${ms} ms`);
      },
      info: () => ({ peerSeenByA: roomA.peer(idB), peerSeenByB: roomB.peer(idA) }),
      async close() {
        await Promise.all([a.close({ flushMs: 0 }), bAgent.close({ flushMs: 0 })]);
      },
    };
    const route = (room: string, deliver: () => ((d: Uint8Array) => void) | null) => (m: ReceivedMessage) => {
      if (m.room === room && m.data instanceof Uint8Array) deliver()?.(m.data);
    };
    a.on('message', route(o.room, () => pair.onA));
    b.on('message', route(o.room, () => pair.onB));
    for (const agent of [a, b]) agent.on('error', (e) => process.stderr.write(`[bench] ${name}: agent error ${e.code}: ${e.message}\n`));
    return pair;
  } catch (err) {
    await Promise.all([a.close({ flushMs: 0 }), b?.close({ flushMs: 0 })]);
    throw err;
  }
}

/**
 * The same pair, sending with `reliable: false` (the agent's unordered, no-retransmit channel on
 * P2P; fire-and-forget frames on the relay). Receive callbacks are the pair's own.
 */
export function unreliablePipe(pair: AgentPair): Pipe {
  return {
    name: `${pair.name}/unreliable`,
    get onA() {
      return pair.onA;
    },
    set onA(fn) {
      pair.onA = fn;
    },
    get onB() {
      return pair.onB;
    },
    set onB(fn) {
      pair.onB = fn;
    },
    send: (data) => pair.roomA.send(data, { to: pair.idB, reliable: false }),
    sendBack: (data) => pair.roomB.send(data, { to: pair.idA, reliable: false }),
    drain: (ms) => pair.drain(ms),
    info: () => pair.info(),
    close: () => pair.close(),
  };
}
