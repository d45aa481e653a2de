/**
 * A small world for the engine's unit suite: a fake hub, a fake link network, the fake clock, and
 * real AgentCores (the engine as every platform uses it) wired to them, with every event they
 * emit recorded. Each test makes one with {@link engineWorld}; it closes itself when the test ends.
 *
 * Time is fake (vi.useFakeTimers over setTimeout/setInterval/Date): tests move it with
 * {@link EngineWorld.advance}. What runs outside the fake clock (microtasks, WebCrypto) is awaited
 * with {@link EngineWorld.until}, built on the suite's one polling helper (test/helpers/wait.ts).
 *
 * Platform-neutral (no Node APIs): it runs under Node and inside Chromium.
 */
import { onTestFinished, vi } from 'vitest';
import { AgentCore, type AgentCoreOptions } from '../../../src/engine/agent-core.js';
import { randomId } from '../../../src/engine/bytes.js';
import type { RoomFiles, RoomFilesFactory } from '../../../src/engine/files/types.js';
import { silentEngineLogger } from '../../../src/engine/log.js';
import type { RoomSession } from '../../../src/engine/room-session.js';
import type { PathChange, PeerJoined, PeerLeft, ReceivedMessage } from '../../../src/engine/types.js';
import {
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_ICE_CONNECTION_TIMEOUT_MS,
  DEFAULT_SEND_TIMEOUT_MS,
} from '../../../src/engine/constants.js';
import type { RtcAgentError } from '../../../src/errors.js';
import { waitUntil } from '../../helpers/wait.js';
import { FakeHub, type FakeHubOptions, type FakeSignaling } from '../fakes/fake-hub.js';
import { FakeLinkNetwork, type FakeLinkFactory } from '../fakes/fake-link.js';

export const ROOM = 'lobby';

/** What the engine's fake clock fakes: timers and Date (WebCrypto and microtasks stay real). */
export const FAKED = ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] as const;

export type Settings = AgentCoreOptions['settings'];

export const DEFAULT_SETTINGS: Settings = {
  allowRelay: true,
  reliable: true,
  heartbeatIntervalMs: DEFAULT_HEARTBEAT_INTERVAL_MS,
  iceConnectionTimeoutMs: DEFAULT_ICE_CONNECTION_TIMEOUT_MS,
  sendTimeoutMs: DEFAULT_SEND_TIMEOUT_MS,
};

export interface AgentSpec {
  /** The peer id the hub gives it; ids compare as strings, so 'a…' < 'b…' makes the first the offerer. */
  peerId: string;
  name?: string;
  /** Whether the agent can do P2P (has a link factory); default true. */
  p2p?: boolean;
  settings?: Partial<Settings>;
  /** A fixed instance (a restarted process gets a new one); random by default. */
  instance?: string;
  e2ee?: AgentCoreOptions['e2ee'];
}

/** Everything an agent emitted, in order. */
export class Recorder {
  readonly messages: ReceivedMessage[] = [];
  readonly joined: PeerJoined[] = [];
  readonly left: PeerLeft[] = [];
  readonly paths: PathChange[] = [];
  readonly errors: RtcAgentError[] = [];
  readonly system: ReceivedMessage[] = [];
  closes = 0;

  texts(from?: string): string[] {
    return this.messages.filter((m) => from === undefined || m.from === from).map((m) => String(m.text ?? m.data));
  }

  errorCodes(): string[] {
    return this.errors.map((e) => e.code);
  }
}

/** Files are platform code (disk, Blobs) and not under test here: a room's transfers that do nothing. */
function noFiles(system: ReceivedMessage[]): RoomFilesFactory {
  return () =>
    ({
      onSystemMessage: (m) => void system.push(m),
      send: () => Promise.reject(new Error('file transfer is not part of the engine suite')),
      peerGone: () => undefined,
      close: () => Promise.resolve(),
    }) satisfies RoomFiles;
}

export class TestAgent {
  readonly events = new Recorder();
  room!: RoomSession;

  constructor(
    readonly spec: AgentSpec,
    readonly core: AgentCore,
    readonly signaling: FakeSignaling,
    readonly links: FakeLinkFactory | null,
  ) {
    core.on('message', (m) => this.events.messages.push(m));
    core.on('peer-joined', (p) => this.events.joined.push(p));
    core.on('peer-left', (p) => this.events.left.push(p));
    core.on('path-changed', (c) => this.events.paths.push(c));
    core.on('error', (e) => this.events.errors.push(e));
    core.on('close', () => this.events.closes++);
  }

  get peerId(): string {
    return this.spec.peerId;
  }

  async join(room = ROOM): Promise<RoomSession> {
    this.room = await this.core.join(room);
    return this.room;
  }

  /** This agent's view of `peer`, or undefined when its room does not list it. */
  view(peer: TestAgent | string) {
    return this.room.peer(typeof peer === 'string' ? peer : peer.peerId);
  }
}

export interface EngineWorld {
  hub: FakeHub;
  net: FakeLinkNetwork;
  agents: TestAgent[];
  agent(spec: AgentSpec): TestAgent;
  /** Makes agents and joins them to the room one after the other (each sees the previous ones as present). */
  joined(...specs: AgentSpec[]): Promise<TestAgent[]>;
  /** Moves the fake clock, running every timer due and the promises they settle. */
  advance(ms: number): Promise<void>;
  /**
   * Waits for `condition` (microtasks, WebCrypto, polled on the real clock). With `stepMs`, moves
   * the fake clock by that much between checks, at most `maxFakeMs` in all: for conditions that
   * need the engine's timers.
   */
  until<T>(condition: () => T, what: string, options?: { stepMs?: number; maxFakeMs?: number }): Promise<T>;
  /** Closes every agent (idempotent); runs by itself when the test ends. */
  close(): Promise<void>;
}

/**
 * A fresh world on the fake clock. Call at the start of a test; the clock goes back to real and
 * every agent is closed when the test finishes.
 */
export function engineWorld(options: FakeHubOptions = {}): EngineWorld {
  vi.useFakeTimers({ toFake: [...FAKED] });
  const hub = new FakeHub(options);
  const net = new FakeLinkNetwork();
  const agents: TestAgent[] = [];
  let closing: Promise<void> | null = null;

  const advance = async (ms: number): Promise<void> => {
    await vi.advanceTimersByTimeAsync(ms);
  };

  const world: EngineWorld = {
    hub,
    net,
    agents,
    agent(spec) {
      const signaling = hub.client(spec.peerId);
      const links = spec.p2p === false ? null : net.factory(spec.peerId);
      const system: ReceivedMessage[] = [];
      const core = new AgentCore({
        log: silentEngineLogger(),
        signaling,
        links,
        name: spec.name ?? spec.peerId,
        agentKey: `agent-key-${spec.peerId}-0123456789`,
        instance: spec.instance ?? randomId(8),
        settings: { ...DEFAULT_SETTINGS, ...spec.settings },
        iceServers: [],
        e2ee: spec.e2ee,
        files: () => noFiles(system),
      });
      const agent = new TestAgent(spec, core, signaling, links);
      agents.push(agent);
      return agent;
    },
    async joined(...specs) {
      const made: TestAgent[] = [];
      for (const spec of specs) {
        const a = world.agent(spec);
        await a.join();
        made.push(a);
      }
      // Every PeerJoined is out before the test starts.
      await world.until(() => made.every((a) => made.every((b) => a === b || a.room.peer(b.peerId))), 'every agent to list every other');
      return made;
    },
    advance,
    async until<T>(condition: () => T, what: string, opts: { stepMs?: number; maxFakeMs?: number } = {}): Promise<T> {
      let fakeSpent = 0;
      const maxFake = opts.maxFakeMs ?? 10 * 60_000;
      return (await waitUntil(
        async () => {
          const value = condition();
          if (value || !opts.stepMs) return value;
          if (fakeSpent >= maxFake) throw new Error(`${what}: not within ${maxFake} ms of fake time`);
          fakeSpent += opts.stepMs;
          await advance(opts.stepMs);
          return condition();
        },
        // Stepping a long stretch of fake time takes many real turns on a loaded machine.
        { what, intervalMs: opts.stepMs ? 0 : undefined, timeoutMs: opts.stepMs ? 30_000 : undefined },
      )) as T;
    },
    close() {
      closing ??= (async () => {
        // Pending acks would hold close() for its flush time: let it pass on the fake clock.
        const done = Promise.all(agents.map((a) => a.core.close({ flushMs: 0 })));
        await done;
      })();
      return closing;
    },
  };
  onTestFinished(async () => {
    try {
      await world.close();
    } finally {
      vi.useRealTimers();
    }
  });
  return world;
}

/** A promise's outcome as it stands (for "still waiting" checks without awaiting it). */
export interface Tracked<T> {
  state: 'pending' | 'resolved' | 'rejected';
  value?: T;
  error?: { code?: string; message: string };
  promise: Promise<void>;
}

export function track<T>(promise: Promise<T>): Tracked<T> {
  const t: Tracked<T> = { state: 'pending', promise: Promise.resolve() };
  t.promise = promise.then(
    (value) => {
      t.state = 'resolved';
      t.value = value;
    },
    (err: { code?: string; message: string }) => {
      t.state = 'rejected';
      t.error = err;
    },
  );
  return t;
}
