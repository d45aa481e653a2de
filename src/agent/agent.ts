/**
 * The programmatic API: `createAgent()` connects to a hub, `agent.join(room)` returns a Room that
 * sends and receives over P2P or relay per peer. The agent owns the settings, the logger, the
 * native binding's lifetime and the hub connection; rooms do the rest.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { loadSettings, type AgentSettings, type AgentSettingsInput } from '../config/agent-settings.js';
import { ErrorCode, RtcAgentError } from '../errors.js';
import { createLogger, type Logger } from '../log/logger.js';
import { MAX_AGENT_KEY_LENGTH, MIN_AGENT_KEY_LENGTH, type IceServer } from '../protocol/room-contract.js';
import { RoomSession, type PathChange, type PeerLeft, type ReceivedMessage, type PeerJoined } from '../room/room-session.js';
import { dirname, join } from 'node:path';
import { E2eeSession, FileKnownPeers, deriveRoomKey, identityChangedError, loadOrCreateIdentity, type KnownPeers, type RoomKey } from '../crypto/index.js';
import type { Participant } from '../protocol/room-contract.js';
import type { FileEvents, FileOffer } from '../room/file-transfer.js';
import { IncomingFileSlots } from '../room/incoming-file-slots.js';
import { HubClient, type SignalingState } from '../signaling/hub-client.js';
import { accessTokenSource, type AccessTokenFactory } from './token-source.js';
import { acquireNative, releaseNative, type AvailableNativeBinding } from '../transport/native/index.js';

export interface AgentOptions extends AgentSettingsInput {
  /** The root logger; one is made from `logLevel` (JSON on stderr) if absent. */
  logger?: Logger;
  /** JSON config file (else RTC_AGENT_CONFIG); settings passed here override it. */
  configFile?: string;
  /** Where RTC_AGENT_* variables come from; `process.env` by default. */
  env?: NodeJS.ProcessEnv;
  /** Cancels connecting. */
  signal?: AbortSignal;
  /** Decides about each incoming file (after the maxFileBytes and acceptFiles checks). */
  acceptFile?: (offer: FileOffer) => boolean | Promise<boolean>;
  /**
   * Called for a hub token on every connect and reconnect (e.g. after the hub closed the
   * connection because the token expired). Beats `accessToken` / `accessTokenFile`.
   */
  accessTokenFactory?: () => string | Promise<string>;
  /**
   * The secret the hub derives this agent's peer id from (src/protocol/peer-id.ts): the same key
   * gives a stable peer id across processes. Keep it secret (whoever has it can take the id); at
   * least 16 characters. A random one per agent by default.
   */
  agentKey?: string;
}

export interface AgentEvents extends FileEvents {
  message: [message: ReceivedMessage];
  'peer-joined': [peer: PeerJoined];
  'peer-left': [peer: PeerLeft];
  'path-changed': [change: PathChange];
  error: [error: RtcAgentError];
  /** Hub connection state: connected, reconnecting, closed. */
  hub: [state: SignalingState];
  close: [];
}

/** How long close() waits for pending reliable data to be acknowledged before it cuts links. */
export const DEFAULT_CLOSE_FLUSH_MS = 2_000;

export class Agent extends EventEmitter<AgentEvents> {
  readonly settings: AgentSettings;
  readonly log: Logger;
  /** Whether this agent can open native DataChannels. */
  readonly native: boolean;
  /** Why not, when `native` is false. */
  readonly nativeReason: string | undefined;
  private readonly hub: HubClient;
  private readonly rooms = new Map<string, RoomSession>();
  /**
   * Hub callbacks for a room whose Join is still in flight. The hub may tell us about a newcomer (or
   * deliver its offer) in the same frame as our Join's result, before the room object exists.
   */
  private readonly joining = new Map<string, ((room: RoomSession) => void)[]>();
  /** AgentOptions.agentKey when given (set once, in create()), else random. */
  private agentKey = randomBytes(24).toString('base64url');
  /** Tells peers which running process this is: a restarted agent gets fresh delivery state. */
  private readonly instance = randomBytes(8).toString('base64url');
  private closing: Promise<void> | null = null;
  private hubReconnects = 0;
  private acceptFile: AgentOptions['acceptFile'];
  private e2ee: E2eeSession | undefined;
  private knownPeers: KnownPeers | undefined;
  private readonly roomKeys = new Map<string, RoomKey>();
  /** Incoming files in progress, bounded per peer and in total across every room. */
  private readonly incomingFileSlots: IncomingFileSlots;
  private wasReconnecting = false;

  private constructor(
    settings: AgentSettings,
    log: Logger,
    private readonly nativeBinding: AvailableNativeBinding | null,
    nativeReason: string | undefined,
    accessToken: string | AccessTokenFactory | undefined,
  ) {
    super();
    this.settings = settings;
    this.log = log;
    this.native = nativeBinding !== null;
    this.nativeReason = nativeReason;
    this.incomingFileSlots = new IncomingFileSlots({ maxPerPeer: settings.maxIncomingFilesPerPeer, maxTotal: settings.maxIncomingFiles });
    const hubOptions: ConstructorParameters<typeof HubClient>[0] = {
      hubUrl: settings.hubUrl,
      maxReconnectAttempts: settings.maxReconnectAttempts,
      reconnectIntervalMs: settings.reconnectIntervalMs,
      log: log.child({ component: 'signaling' }),
    };
    if (typeof accessToken === 'function') hubOptions.accessTokenFactory = accessToken;
    else if (accessToken !== undefined) hubOptions.accessToken = accessToken;
    this.hub = new HubClient(hubOptions);
    this.hub.on('peer-joined', (room, p) => this.route(room, (r) => r.onPeerJoined(p)));
    this.hub.on('peer-left', (room, peerId, reason) => this.route(room, (r) => r.onPeerLeft(peerId, reason)));
    this.hub.on('signal', (room, from, signal) => this.route(room, (r) => r.onSignal(from, signal)));
    this.hub.on('relayed', (room, from, payload) => this.route(room, (r) => r.onRelayed(from, payload)));
    this.hub.on('rejoined', (room, result) => this.rooms.get(room)?.onRejoined(result));
    this.hub.on('rejoin-failed', (room, error) => this.emitError(error, room));
    this.hub.on('state', (state) => {
      if (state === 'reconnecting') this.wasReconnecting = true;
      if (state === 'connected' && this.wasReconnecting) {
        this.wasReconnecting = false;
        this.hubReconnects++;
      }
      this.emit('hub', state);
    });
    this.hub.on('closed', (error) => {
      if (error) this.emitError(error);
    });
  }

  private route(room: string, deliver: (room: RoomSession) => void): void {
    const session = this.rooms.get(room);
    if (session) deliver(session);
    else this.joining.get(room)?.push(deliver);
  }

  /** Resolves settings, loads the native binding (or explains why not) and connects to the hub. */
  static async create(options: AgentOptions = {}): Promise<Agent> {
    const { logger, configFile, env, signal, acceptFile, agentKey, accessTokenFactory, ...input } = options;
    if (agentKey !== undefined && (typeof agentKey !== 'string' || agentKey.length < MIN_AGENT_KEY_LENGTH || agentKey.length > MAX_AGENT_KEY_LENGTH)) {
      throw new RtcAgentError(ErrorCode.CONFIG, `option 'agentKey' must be a secret string of ${MIN_AGENT_KEY_LENGTH}-${MAX_AGENT_KEY_LENGTH} characters`, { details: { setting: 'agentKey' } });
    }
    const settings = await loadSettings({ options: input, env, configFile });
    if (settings.roomSecret !== undefined && !settings.enableE2ee) {
      throw new RtcAgentError(ErrorCode.CONFIG, "setting 'roomSecret' only means something with enableE2ee (--e2ee)", { details: { setting: 'roomSecret' } });
    }
    const log = logger ?? createLogger({ level: settings.logLevel });
    const accessToken = accessTokenSource({
      settings,
      env: env ?? process.env,
      tokenFromOptions: input.accessToken !== undefined && input.accessToken !== null,
      factory: accessTokenFactory,
      log: log.child({ component: 'signaling' }),
    });
    if (settings.iceBindAddress === undefined && settings.hubUrl.every(isLoopbackUrl)) {
      // A hub on loopback means every peer is on this machine: loopback ICE is the right path, and
      // libjuice gathers no loopback candidates unless bound to it (native-notes.md#bindaddress-for-loopback).
      settings.iceBindAddress = '127.0.0.1';
      log.debug('hub is on loopback; binding ICE to 127.0.0.1');
    }
    let binding: AvailableNativeBinding | null = null;
    let reason: string | undefined = 'disabled by the tryNative setting';
    if (settings.tryNative) {
      const status = await acquireNative({ log: log.child({ component: 'libdatachannel' }) });
      if (status.available) {
        binding = status;
        reason = undefined;
        log.debug({ version: status.version }, 'native DataChannels available');
      } else {
        reason = status.reason;
        // One clear warning; every peer of this agent uses the relay.
        log.warn({ reason }, 'native WebRTC unavailable; all peers will use the hub relay');
      }
    }
    const agent = new Agent(settings, log, binding, reason, accessToken);
    agent.acceptFile = acceptFile;
    if (agentKey !== undefined) agent.agentKey = agentKey;
    if (settings.enableE2ee) {
      try {
        const identity = await loadOrCreateIdentity(settings.identityFile);
        agent.e2ee = new E2eeSession(identity);
        agent.knownPeers = await FileKnownPeers.open(join(dirname(settings.identityFile), 'known-peers.json'));
        log.info({ fingerprint: identity.fingerprint, created: identity.created }, 'end-to-end encryption on');
      } catch (err) {
        if (binding) releaseNative();
        throw err;
      }
    }
    try {
      await agent.hub.connect(signal);
    } catch (err) {
      if (binding) releaseNative();
      await agent.hub.close();
      throw err;
    }
    log.info({ hub: agent.hub.url, native: agent.native }, 'agent connected');
    return agent;
  }

  private iceServers(): IceServer[] {
    const s = this.settings;
    const servers: IceServer[] = s.stunServers.map((urls) => ({ urls }));
    if (s.turnUrl !== undefined) {
      const turn: IceServer = { urls: s.turnUrl };
      if (s.turnUsername !== undefined) turn.username = s.turnUsername;
      if (s.turnPassword !== undefined) turn.credential = s.turnPassword;
      servers.push(turn);
    }
    return servers;
  }

  /** Joins a room; resolves at once (P2P links open in the background, relay carries meanwhile). */
  async join(room: string, options: { meta?: Record<string, string> } = {}): Promise<RoomSession> {
    if (this.closing) throw new RtcAgentError(ErrorCode.CLOSED, 'agent is closed');
    const existing = this.rooms.get(room);
    if (existing) return existing;
    const capabilities = { native: this.native, instance: this.instance, ...(this.e2ee ? this.e2ee.capabilities() : {}) };
    const hello = { agentKey: this.agentKey, name: this.settings.name, capabilities, meta: options.meta ?? {} };
    let roomKey: RoomKey | undefined;
    if (this.e2ee && this.settings.roomSecret !== undefined) {
      roomKey = this.roomKeys.get(room) ?? (await deriveRoomKey(room, this.settings.roomSecret));
      this.roomKeys.set(room, roomKey);
    }
    const early: ((room: RoomSession) => void)[] = [];
    this.joining.set(room, early);
    let joined;
    try {
      joined = await this.hub.join(room, hello);
    } finally {
      this.joining.delete(room);
    }
    const session = new RoomSession(joined, {
      log: this.log,
      native: this.nativeBinding,
      settings: this.settings,
      iceServers: [...joined.iceServers, ...this.iceServers()],
      hub: this.hub,
      incomingFileSlots: this.incomingFileSlots,
      onClosed: (r) => {
        if (this.rooms.get(r.name) === r) this.rooms.delete(r.name);
      },
      ...(this.acceptFile ? { acceptFile: this.acceptFile } : {}),
      ...(this.e2ee ? { e2ee: { session: this.e2ee, roomKey }, peerKey: (r: string, p: Participant, fp: string) => this.trustPeer(r, p, fp) } : {}),
    });
    session.on('file-offer', (x) => this.emit('file-offer', x));
    session.on('file-progress', (x) => this.emit('file-progress', x));
    session.on('file-received', (x) => this.emit('file-received', x));
    session.on('file-failed', (x) => this.emit('file-failed', x));
    session.on('message', (m) => this.emit('message', m));
    session.on('peer-joined', (p) => this.emit('peer-joined', p));
    session.on('peer-left', (p) => this.emit('peer-left', p));
    session.on('path-changed', (c) => this.emit('path-changed', c));
    session.on('error', (e) => this.emitError(e, room));
    this.rooms.set(room, session);
    session.announceInitialPeers();
    for (const deliver of early) deliver(session);
    this.log.info({ room, peerId: joined.self.peerId, peers: joined.participants.length }, 'joined room');
    return session;
  }

  /** This agent's E2EE fingerprint (undefined without E2EE): what peers compare with /verify. */
  get fingerprint(): string | undefined {
    return this.e2ee?.fingerprint;
  }

  /**
   * Trust on first use, as SSH does: a peer's identity key is remembered under its user id (with
   * auth) or its name; a different key later is reported loudly (IDENTITY_CHANGED), though not
   * blocked, since the name itself is not authenticated without auth.
   */
  private trustPeer(room: string, p: Participant, fingerprint: string): void {
    const known = this.knownPeers;
    if (!known) return;
    const identity = p.userId !== null ? `user:${p.userId}` : `name:${p.name}`;
    const state = known.check(identity, fingerprint);
    if (state === 'new') {
      known.remember(identity, fingerprint).catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'could not save known peers'));
      return;
    }
    if (state === 'changed') {
      const previous = known.get(identity)?.fingerprint ?? 'unknown';
      const error = identityChangedError(identity, previous, fingerprint);
      this.log.warn({ room, peer: p.peerId, identity, previous, now: fingerprint }, error.message);
      this.emitError(error, room);
    }
  }

  room(name: string): RoomSession | undefined {
    return this.rooms.get(name);
  }

  joinedRooms(): RoomSession[] {
    return [...this.rooms.values()];
  }

  /** Counters for status pages and metrics. */
  stats(): { hubState: SignalingState; hubReconnects: number; native: boolean; rooms: number; peers: Record<'p2p' | 'relay' | 'none', number> } {
    const peers = { p2p: 0, relay: 0, none: 0 };
    for (const room of this.rooms.values()) for (const p of room.peers()) peers[p.path]++;
    return { hubState: this.hub.state, hubReconnects: this.hubReconnects, native: this.native, rooms: this.rooms.size, peers };
  }

  get hubState(): SignalingState {
    return this.hub.state;
  }

  /** The hub connected to now: one of `settings.hubUrl`, another one after a failover. */
  get hubUrl(): string {
    return this.hub.url;
  }

  private emitError(err: RtcAgentError, room?: string): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else this.log.warn({ room, code: err.code, reason: err.message }, 'agent error');
  }

  /**
   * Leaves every room, closes every link and the hub connection; the process can exit afterwards.
   * Waits up to `flushMs` for reliable data to be acknowledged first. Idempotent.
   */
  close(options: { flushMs?: number } = {}): Promise<void> {
    this.closing ??= this.shutdown(options.flushMs ?? DEFAULT_CLOSE_FLUSH_MS);
    return this.closing;
  }

  private async shutdown(flushMs: number): Promise<void> {
    const rooms = [...this.rooms.values()];
    await Promise.all(rooms.map((r) => r.flush(flushMs)));
    await Promise.all(rooms.map((r) => r.leave()));
    await this.hub.close();
    if (this.nativeBinding) releaseNative();
    this.log.info('agent closed');
    this.emit('close');
  }
}

function isLoopbackUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\./.test(host);
  } catch {
    return false;
  }
}

/** Creates an agent connected to its hub. See {@link AgentOptions}. */
export function createAgent(options: AgentOptions = {}): Promise<Agent> {
  return Agent.create(options);
}
