/**
 * The agent as every platform shares it: joining rooms over a {@link Signaling} client, with
 * P2P links from a {@link PeerLinkFactory}, E2EE from crypto/, trust on first use, events, stats
 * and an orderly close. Node (src/agent/) and browsers (src/browser/) make one with their own seams
 * and settings; programs use it through `createAgent()`.
 */
import { ErrorCode, RtcAgentError } from '../errors.js';
import type { IceServer, Participant } from '../protocol/room-contract.js';
import { DATA_SEAL_OVERHEAD_BYTES, identityChangedError, peerE2eeKeys, type E2eeSession, type KnownPeers, type RoomKey } from './crypto/index.js';
import { Emitter } from './emitter.js';
import type { FileEvents, RoomFilesFactory } from './files/types.js';
import type { EngineLogger } from './log.js';
import type { RoomE2ee } from './peer-e2ee.js';
import type { PeerLinkFactory } from './peer-link.js';
import { RoomSession, type RoomDeps } from './room-session.js';
import type { Signaling, SignalingState } from './signaling.js';
import type { DeliveryRefused, PathChange, PeerJoined, PeerLeft, ReceivedMessage } from './types.js';

export interface AgentEvents extends FileEvents {
  message: [message: ReceivedMessage];
  'peer-joined': [peer: PeerJoined];
  'peer-left': [peer: PeerLeft];
  'path-changed': [change: PathChange];
  /** A peer refused what we sent it, end to end (wrong room secret, other keys, plaintext refused). */
  'delivery-refused': [refusal: DeliveryRefused];
  error: [error: RtcAgentError];
  /** Hub connection state: connected, reconnecting, closed. */
  hub: [state: SignalingState];
  close: [];
}

/** How long close() waits for pending reliable data to be acknowledged before it cuts links. */
export const DEFAULT_CLOSE_FLUSH_MS = 2_000;

/** What an agent is made of; the platform's createAgent() assembles it. */
export interface AgentCoreOptions {
  log: EngineLogger;
  signaling: Signaling;
  /** Null when this platform cannot do P2P (no native binding, no RTCPeerConnection). */
  links: PeerLinkFactory | null;
  name: string;
  /** The secret the hub derives this agent's peer id from (room contract). */
  agentKey: string;
  /** Random per running agent: tells peers a restarted process from a reconnected one. */
  instance: string;
  settings: RoomDeps['settings'];
  /** The agent's own STUN/TURN servers (the hub's are added per room). */
  iceServers: IceServer[];
  /** E2EE: the session, the room key for a room (undefined: no room secret), known peers (TOFU). */
  e2ee?: { session: E2eeSession; roomKey(room: string): Promise<RoomKey | undefined>; knownPeers?: KnownPeers };
  /** Makes each room's file transfers. */
  files: (room: string) => RoomFilesFactory;
  /** Runs after everything is closed (the platform releases what it holds, e.g. the native binding). */
  onClosed?: () => void;
}

export class AgentCore extends Emitter<AgentEvents> {
  readonly log: EngineLogger;
  private readonly rooms = new Map<string, RoomSession>();
  private closing: Promise<void> | null = null;
  private hubReconnects = 0;
  private wasReconnecting = false;

  constructor(protected readonly core: AgentCoreOptions) {
    super();
    this.log = core.log;
    core.signaling.on('state', (state) => {
      if (state === 'reconnecting') this.wasReconnecting = true;
      if (state === 'connected' && this.wasReconnecting) {
        this.wasReconnecting = false;
        this.hubReconnects++;
      }
      this.emit('hub', state);
    });
    core.signaling.on('closed', (error) => {
      if (error) this.emitError(error instanceof RtcAgentError ? error : new RtcAgentError(ErrorCode.HUB_UNREACHABLE, error.message));
    });
  }

  /** Whether this agent can open P2P links. */
  get native(): boolean {
    return this.core.links !== null;
  }

  /** This agent's E2EE fingerprint (undefined without E2EE): what peers compare with /verify. */
  get fingerprint(): string | undefined {
    return this.core.e2ee?.session.fingerprint;
  }

  get hubState(): SignalingState {
    return this.core.signaling.state;
  }

  /** Joins a room; resolves once the hub accepted (P2P links open in the background, relay carries meanwhile). */
  async join(room: string, options: { meta?: Record<string, string> } = {}): Promise<RoomSession> {
    if (this.closing) throw new RtcAgentError(ErrorCode.CLOSED, 'agent is closed');
    const existing = this.rooms.get(room);
    if (existing) return existing;
    const e2ee = this.core.e2ee;
    const capabilities = { native: this.native, instance: this.core.instance, ...(e2ee ? e2ee.session.capabilities() : {}) };
    const hello = { agentKey: this.core.agentKey, name: this.core.name, capabilities, meta: options.meta ?? {} };
    const roomKey = e2ee ? await e2ee.roomKey(room) : undefined;
    const session: RoomSession = new RoomSession(room, {
      log: this.log,
      links: this.core.links,
      settings: this.core.settings,
      iceServers: this.core.iceServers,
      e2ee: e2ee ? this.roomE2ee(room, roomKey, () => session.selfId) : undefined,
      peerKey: (r, p, fp) => this.trustPeer(r, p, fp),
      files: this.core.files(room),
      onClosed: (r) => {
        if (this.rooms.get(r.name) === r) this.rooms.delete(r.name);
      },
    });
    const { result, room: hub } = await this.core.signaling.join(room, hello, session);
    if (this.closing) {
      session.closeLocal('closed');
      throw new RtcAgentError(ErrorCode.CLOSED, 'agent is closed');
    }
    session.start(result, hub);
    session.on('file-offer', (x) => this.emit('file-offer', x));
    session.on('file-progress', (x) => this.emit('file-progress', x));
    session.on('file-received', (x) => this.emit('file-received', x));
    session.on('file-failed', (x) => this.emit('file-failed', x));
    session.on('message', (m) => this.emit('message', m));
    session.on('peer-joined', (p) => this.emit('peer-joined', p));
    session.on('peer-left', (p) => this.emit('peer-left', p));
    session.on('path-changed', (c) => this.emit('path-changed', c));
    session.on('delivery-refused', (r) => this.emit('delivery-refused', r));
    session.on('error', (e) => this.emitError(e, room));
    this.rooms.set(room, session);
    session.announceInitialPeers();
    this.log.info({ room, peerId: result.self.peerId, peers: result.participants.length }, 'joined room');
    return session;
  }

  /** The pairwise ciphers of a room's peers (none for peers without E2EE keys). */
  private roomE2ee(room: string, roomKey: RoomKey | undefined, selfId: () => string): RoomE2ee {
    const session = (this.core.e2ee as NonNullable<AgentCoreOptions['e2ee']>).session;
    return {
      dataOverheadBytes: DATA_SEAL_OVERHEAD_BYTES,
      cipherFor: async (peer: Participant) => {
        const peerKeys = peerE2eeKeys(peer.capabilities);
        if (!peerKeys) return null;
        return session.cipherFor({ room, roomKey, selfId: selfId(), peerId: peer.peerId, peerKeys });
      },
    };
  }

  /**
   * Trust on first use, as SSH does: a peer's identity key is remembered under its user id (with
   * auth) or its name; a different key later is reported loudly (IDENTITY_CHANGED), though not
   * blocked, since the name itself is not authenticated without auth.
   */
  private trustPeer(room: string, p: Participant, fingerprint: string): void {
    const known = this.core.e2ee?.knownPeers;
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
    return { hubState: this.core.signaling.state, hubReconnects: this.hubReconnects, native: this.native, rooms: this.rooms.size, peers };
  }

  protected emitError(err: RtcAgentError, room?: string): void {
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
    await this.core.signaling.close();
    this.core.onClosed?.();
    this.log.info('agent closed');
    this.emit('close');
  }
}
