/**
 * One joined room: the peer table, routing of hub callbacks to peer sessions, sending to one peer
 * or all, heartbeats. This is the `Room` programs get from `agent.join()`.
 */
import { EventEmitter } from 'node:events';
import { ErrorCode, RtcAgentError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { FrameFlag } from '../protocol/frames.js';
import type { JoinResult, MembersResult, Participant, SignalPayload } from '../protocol/room-contract.js';
import type { AvailableNativeBinding } from '../transport/native/index.js';
import type { E2eeSession, RoomKey } from '../crypto/index.js';
import { FileTransfers, type FileEvents, type FileOffer, type FileSent } from './file-transfer.js';
import type { IncomingFileSlots } from './incoming-file-slots.js';
import { DEFAULT_MEMBERS_RECONCILE_MS, DEFAULT_PEER_RESUME_MS, MemberReconciler, VanishedPeers, type MemberSnapshot, type PeerJoinReason } from './membership.js';
import { PeerSession, type PeerEnv, type PeerInfo, type PeerPath, type ReceivedMessage } from './peer-session.js';

export type { PeerInfo, PeerPath, ReceivedMessage } from './peer-session.js';
export type { PeerJoinReason } from './membership.js';
export { DEFAULT_PEER_RESUME_MS } from './membership.js';

/** A peer as `peer-joined` reports it. */
export type PeerJoined = PeerInfo & { room: string; reason: PeerJoinReason };

export interface PathChange {
  room: string;
  peerId: string;
  name: string;
  from: PeerPath;
  to: PeerPath;
  reason: string;
}

export interface PeerLeft {
  room: string;
  peerId: string;
  name: string;
  /**
   * `left` (said goodbye), `disconnected` (the hub lost it), `timeout` (no heartbeat; it may come
   * back as `peer-joined` with reason `resumed`), `restarted` (a new process took its peer id).
   */
  reason: string;
}

export interface RoomEvents extends FileEvents {
  message: [message: ReceivedMessage];
  'peer-joined': [peer: PeerJoined];
  'peer-left': [peer: PeerLeft];
  'path-changed': [change: PathChange];
  error: [error: RtcAgentError];
  /** The room is closed (left, or the agent closed). */
  close: [];
}

export interface SendOptions {
  /** A peer id: send to that peer only. Default: everyone in the room. */
  to?: string;
  /** Reliable (ordered, exactly once) or not; the agent's `reliable` setting by default. */
  reliable?: boolean;
}

/** What a room needs from the agent that owns it. */
export interface RoomDeps {
  log: Logger;
  native: AvailableNativeBinding | null;
  settings: {
    allowRelay: boolean;
    reliable: boolean;
    heartbeatIntervalMs: number;
    iceConnectionTimeoutMs: number;
    sendTimeoutMs: number;
    downloadDir: string;
    maxFileBytes: number;
    acceptFiles: boolean;
    fileIdleTimeoutMs: number;
    iceBindAddress?: string | undefined;
    icePortRange?: { begin: number; end: number } | undefined;
    iceTransportPolicy: 'all' | 'relay';
  };
  iceServers: { urls: string | string[]; username?: string; credential?: string }[];
  hub: {
    signal(room: string, to: string, signal: SignalPayload): Promise<void>;
    relay(room: string, to: string | null, payload: string): Promise<void>;
    /** The hub's member list (contract feature `members`). */
    members(room: string): Promise<MembersResult>;
    leave(room: string): Promise<void>;
    readonly connected: boolean;
  };
  /** Called once when the room is closed, so the agent forgets it. */
  onClosed(room: RoomSession): void;
  /** Decides about each incoming file (after the size and acceptFiles checks). */
  acceptFile?: (offer: FileOffer) => boolean | Promise<boolean>;
  /** The agent's bound on incoming files in progress (per peer and in total), shared by its rooms. */
  incomingFileSlots: IncomingFileSlots;
  /** E2EE for this room (undefined: off). */
  e2ee?: { session: E2eeSession; roomKey: RoomKey | undefined };
  /** Trust on first use of a peer's E2EE identity. */
  peerKey?: (room: string, participant: Participant, fingerprint: string) => void;
}

/** How often the room checks resends and heartbeats. */
const TICK_MS = 250;
/** Room for the SignalR envelope around a Relay payload (method, room, peer id, JSON). */
const RELAY_ENVELOPE_BYTES = 512;

/**
 * Whether two announcements of a peer id come from the same running agent: agents announce a random
 * `instance` per process. Without one (other clients), a re-announcement counts as the same.
 */
function sameInstance(a: Participant, b: Participant): boolean {
  return a.capabilities.instance === b.capabilities.instance;
}

/** Turns what `send()` accepts into flags and bytes. */
export function encodeMessage(data: unknown): { flags: number; payload: Uint8Array } {
  if (typeof data === 'string') return { flags: FrameFlag.Text, payload: Buffer.from(data, 'utf8') };
  if (data instanceof Uint8Array) return { flags: 0, payload: data };
  if (data instanceof ArrayBuffer) return { flags: 0, payload: new Uint8Array(data) };
  if (data === undefined || typeof data === 'function' || typeof data === 'symbol' || typeof data === 'bigint') {
    throw new RtcAgentError(ErrorCode.BAD_REQUEST, `cannot send a ${typeof data}; send a string, a Uint8Array or a JSON-able value`);
  }
  let json: string;
  try {
    json = JSON.stringify(data);
  } catch (err) {
    throw new RtcAgentError(ErrorCode.BAD_REQUEST, `message is not JSON-able: ${(err as Error).message}`, { cause: err });
  }
  return { flags: FrameFlag.Json, payload: Buffer.from(json, 'utf8') };
}

export class RoomSession extends EventEmitter<RoomEvents> {
  readonly name: string;
  private selfInfo: Participant;
  private readonly peersById = new Map<string, PeerSession>();
  /** Peers given up on (timeout) or lost by the hub, kept so that they can resume. */
  private readonly vanished = new VanishedPeers();
  private readonly reconciler: MemberReconciler;
  private lastReconcileAt = Date.now();
  private ticker: NodeJS.Timeout;
  private closed = false;
  private maxMessageBytes: number;
  private readonly log: Logger;
  private readonly files: FileTransfers;

  constructor(
    joined: JoinResult,
    private readonly deps: RoomDeps,
  ) {
    super();
    this.name = joined.room;
    this.selfInfo = joined.self;
    this.maxMessageBytes = joined.limits.maxMessageBytes;
    this.log = deps.log.child({ room: joined.room });
    this.files = new FileTransfers(
      {
        name: this.name,
        sendSystem: (data, to) => this.sendSystem(data, to),
        // With E2EE, files go only to peers that can open them (the others are warned about on send).
        peerIds: () => [...this.peersById.values()].filter((p) => p.canSend).map((p) => p.peerId),
        peerName: (peerId) => this.peersById.get(peerId)?.participant.name ?? peerId,
      },
      {
        downloadDir: deps.settings.downloadDir,
        maxFileBytes: deps.settings.maxFileBytes,
        acceptFiles: deps.settings.acceptFiles,
        confirmTimeoutMs: deps.settings.sendTimeoutMs,
        idleTimeoutMs: deps.settings.fileIdleTimeoutMs,
      },
      this.log.child({ component: 'files' }),
      (event, ...args) => (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args),
      deps.acceptFile,
      deps.incomingFileSlots,
    );
    const features = new Set(joined.features ?? []);
    this.reconciler = new MemberReconciler(
      features.has('members') ? () => this.deps.hub.members(this.name).then((r) => r.participants) : undefined,
      (snapshot) => this.reconcile(snapshot),
      (peerId) => this.peersById.has(peerId),
      (err) => this.log.debug({ err: (err as Error).message }, 'member list not available'),
    );
    for (const p of joined.participants) this.addPeer(p, null);
    this.ticker = setInterval(() => this.tick(), TICK_MS);
    this.ticker.unref();
  }

  /** Emits `peer-joined` for the members that were there when we joined (once listeners are attached). */
  announceInitialPeers(): void {
    for (const peer of this.peersById.values()) this.emit('peer-joined', { room: this.name, ...peer.info(), reason: 'present' });
  }

  /** This agent's peer id in the room (assigned by the hub). */
  get selfId(): string {
    return this.selfInfo.peerId;
  }

  get self(): Participant {
    return this.selfInfo;
  }

  peers(): PeerInfo[] {
    return [...this.peersById.values()].map((p) => p.info());
  }

  peer(peerId: string): PeerInfo | undefined {
    return this.peersById.get(peerId)?.info();
  }

  /**
   * Sends text, a JSON-able value or bytes to one peer or to everyone. Resolves once the data is
   * accepted under each peer's send window (backpressure), not when it arrived.
   */
  async send(data: unknown, options: SendOptions = {}): Promise<void> {
    return this.sendWithFlags(data, options, 0);
  }

  /** Sends an agent-internal message (file transfer), reliable, never shown to the application. */
  sendSystem(data: unknown, to?: string): Promise<void> {
    return this.sendWithFlags(data, to === undefined ? { reliable: true } : { to, reliable: true }, FrameFlag.System);
  }

  private async sendWithFlags(data: unknown, options: SendOptions, extraFlags: number): Promise<void> {
    if (this.closed) throw new RtcAgentError(ErrorCode.CLOSED, `room '${this.name}' is closed`);
    const encoded = encodeMessage(data);
    const payload = encoded.payload;
    const flags = encoded.flags | extraFlags;
    const reliable = options.reliable ?? this.deps.settings.reliable;
    let targets: PeerSession[];
    if (options.to !== undefined) {
      const peer = this.peersById.get(options.to);
      if (!peer) throw new RtcAgentError(ErrorCode.UNKNOWN_PEER, `no peer '${options.to}' in room '${this.name}'`);
      targets = [peer];
    } else {
      targets = [...this.peersById.values()];
    }
    if (options.to === undefined) {
      // A broadcast goes to every peer that can read it: with E2EE, those that do E2EE; without,
      // those that do not require it. The others are named once, never sent plaintext.
      for (const p of targets) if (!p.canSend) this.warnCannotSend(p);
      targets = targets.filter((p) => p.canSend);
    }
    if (!reliable) {
      if (payload.length > 16 * 1024 - 64) {
        throw new RtcAgentError(ErrorCode.MESSAGE_TOO_LARGE, `unreliable messages are not chunked; keep them under ${16 * 1024 - 64} bytes`);
      }
      for (const peer of targets) peer.sendUnreliable(flags, payload);
      return;
    }
    await Promise.all(targets.map((peer) => peer.sendReliable(flags, payload, this.deps.settings.sendTimeoutMs)));
  }

  /**
   * Sends a file to one peer or everyone: chunked, SHA-256 verified, resolving once each receiver
   * confirmed a verified copy (`deliveredTo`). Progress arrives as `file-progress` events.
   */
  sendFile(path: string, options: { to?: string } = {}): Promise<FileSent> {
    if (this.closed) return Promise.reject(new RtcAgentError(ErrorCode.CLOSED, `room '${this.name}' is closed`));
    if (options.to !== undefined && !this.peersById.has(options.to)) {
      return Promise.reject(new RtcAgentError(ErrorCode.UNKNOWN_PEER, `no peer '${options.to}' in room '${this.name}'`));
    }
    return this.files.send(path, options);
  }

  /** Drops the P2P link to a peer (relay takes over at once) and negotiates a fresh one. */
  restartP2P(peerId: string): void {
    const peer = this.peersById.get(peerId);
    if (!peer) throw new RtcAgentError(ErrorCode.UNKNOWN_PEER, `no peer '${peerId}' in room '${this.name}'`);
    peer.restartP2P();
  }

  /** Waits until every peer has acknowledged everything sent so far (bounded by `timeoutMs`). */
  async flush(timeoutMs = this.deps.settings.sendTimeoutMs): Promise<boolean> {
    const results = await Promise.all([...this.peersById.values()].map((p) => p.flush(timeoutMs)));
    return results.every(Boolean);
  }

  // ---------------------------------------------------------------- hub events (routed by the agent)

  onPeerJoined(p: Participant): void {
    if (p.peerId === this.selfId) return;
    this.reconciler.noteEvent(p.peerId);
    const existing = this.peersById.get(p.peerId);
    if (existing && sameInstance(existing.participant, p)) {
      existing.update(p);
      return;
    }
    // Same peer id, new process (e.g. a restart with a persisted key): its numbering starts over,
    // so ours must too.
    if (existing) {
      this.removePeer(existing, 'restarted');
      this.addPeer(p, 'restarted');
      return;
    }
    const kept = this.vanished.get(p.peerId);
    this.addPeer(p, kept && sameInstance(kept.participant, p) ? 'resumed' : kept ? 'restarted' : 'joined');
  }

  onPeerLeft(peerId: string, reason: string): void {
    if (peerId === this.selfId) return; // our old connection was replaced by our new one
    this.reconciler.noteEvent(peerId);
    const peer = this.peersById.get(peerId);
    if (!peer) {
      // A peer we had given up on is now gone for the hub too: stop probing it; a goodbye ends it.
      if (reason === 'left') this.vanished.forget(peerId);
      else this.vanished.setProbing(peerId, false);
      return;
    }
    // A peer whose hub connection dropped but whose P2P link still works is not gone: it is
    // reconnecting to the hub. The heartbeat decides if it really died.
    if (reason === 'disconnected' && peer.hasOpenP2P) {
      this.log.info({ peer: peerId }, 'peer lost the hub but its P2P link is alive; keeping it');
      return;
    }
    this.removePeer(peer, reason);
  }

  onSignal(from: string, signal: SignalPayload): void {
    this.peerSpeaking(from, (peer) => peer.handleSignal(signal));
  }

  onRelayed(from: string, payload: string): void {
    this.peerSpeaking(from, (peer) => peer.onRelayed(payload));
  }

  /**
   * Something arrived from `from` through the hub (which stamps senders, so it is a member). A peer
   * we gave up on is alive after all: re-admit it. One we know nothing of: ask the hub who it is.
   */
  private peerSpeaking(from: string, deliver: (peer: PeerSession) => void): void {
    if (this.closed || from === this.selfId) return;
    const peer = this.peersById.get(from) ?? this.revive(from);
    if (peer) {
      deliver(peer);
      return;
    }
    if (!this.reconciler.available) {
      this.log.debug({ from }, 'message from an unknown peer dropped');
      return;
    }
    this.reconciler.hold(from, () => {
      const known = this.peersById.get(from);
      if (known) deliver(known);
    }, Date.now());
  }

  /** Re-admits a vanished peer that turned out to be alive; its delivery continues where it stopped. */
  private revive(peerId: string): PeerSession | undefined {
    const kept = this.vanished.get(peerId);
    if (!kept) return undefined;
    this.log.info({ peer: peerId, gone: kept.reason, afterMs: Date.now() - kept.at }, 'peer is back; re-admitting it');
    const session = this.addPeer(kept.participant, 'resumed');
    session.resumed();
    return session;
  }

  /** Applies the hub's member list: members we missed are added, vanished ones probed, gone ones dropped. */
  private reconcile(snapshot: MemberSnapshot): void {
    if (this.closed) return;
    const listed = new Set<string>();
    for (const p of snapshot.participants) {
      if (p.peerId === this.selfId) continue;
      listed.add(p.peerId);
      if (!snapshot.current(p.peerId) || this.peersById.has(p.peerId)) continue;
      if (this.vanished.get(p.peerId)) this.vanished.setProbing(p.peerId, true);
      else this.addPeer(p, 'joined'); // a PeerJoined we never got
    }
    for (const peer of [...this.peersById.values()]) {
      if (listed.has(peer.peerId) || !snapshot.current(peer.peerId) || peer.hasOpenP2P) continue;
      this.removePeer(peer, 'disconnected'); // a PeerLeft we never got
    }
    for (const peerId of [...this.vanished.ids()]) if (!listed.has(peerId) && snapshot.current(peerId)) this.vanished.setProbing(peerId, false);
  }

  /** After a hub reconnect: the room was joined again. Peers not listed are left to the heartbeat. */
  onRejoined(result: JoinResult): void {
    this.selfInfo = result.self;
    this.maxMessageBytes = result.limits.maxMessageBytes;
    for (const p of result.participants) this.onPeerJoined(p);
    // Relayed frames the old connection had in flight may be lost: send what is unacked now
    // rather than after the resend timer.
    for (const peer of this.peersById.values()) peer.resendUnacked();
  }

  // ---------------------------------------------------------------- peers

  /** `announce`: the reason for `peer-joined`, or null for members present when we joined (announced later). */
  private addPeer(p: Participant, announce: PeerJoinReason | null): PeerSession {
    const env: PeerEnv = {
      room: this.name,
      selfId: this.selfId,
      log: this.log,
      native: this.deps.native,
      e2ee: this.deps.e2ee,
      peerKey: (participant, fingerprint) => this.deps.peerKey?.(this.name, participant, fingerprint),
      allowRelay: this.deps.settings.allowRelay,
      iceServers: this.deps.iceServers,
      iceBindAddress: this.deps.settings.iceBindAddress,
      icePortRange: this.deps.settings.icePortRange,
      iceTransportPolicy: this.deps.settings.iceTransportPolicy,
      iceConnectionTimeoutMs: this.deps.settings.iceConnectionTimeoutMs,
      relayBundleBytes: () => Math.floor(((this.maxMessageBytes - RELAY_ENVELOPE_BYTES) * 3) / 4),
      hubSignal: (to, signal) => this.deps.hub.signal(this.name, to, signal),
      hubRelay: (to, payload) => this.deps.hub.relay(this.name, to, payload),
      hubConnected: () => this.deps.hub.connected,
      deliver: (message) => this.emit('message', message),
      deliverSystem: (message) => this.files.onSystemMessage(message),
      pathChanged: (peerId, from, to, reason) => {
        const peer = this.peersById.get(peerId);
        this.log.info({ peer: peerId, from, to, reason }, 'path changed');
        this.emit('path-changed', { room: this.name, peerId, name: peer?.participant.name ?? p.name, from, to, reason });
      },
      error: (err) => this.emitError(err),
    };
    const kept = this.vanished.take(p.peerId);
    // Resume delivery only with the very same process: a new one expects numbering from the start.
    const resume = kept && sameInstance(kept.participant, p) ? kept.delivery : undefined;
    const session = new PeerSession(p, env, resume);
    this.peersById.set(p.peerId, session);
    this.log.info({ peer: p.peerId, name: p.name, native: p.capabilities.native, reason: announce ?? 'present' }, 'peer joined');
    if (announce) this.emit('peer-joined', { room: this.name, ...session.info(), reason: announce });
    return session;
  }

  private removePeer(peer: PeerSession, reason: string): void {
    if (this.peersById.get(peer.peerId) !== peer) return;
    this.peersById.delete(peer.peerId);
    peer.close(reason);
    this.files.peerGone(peer.peerId);
    if (reason !== 'left' && reason !== 'restarted') {
      // A silent peer the hub still lists may be frozen, not dead: probe it (see membership.ts).
      this.vanished.add(peer.peerId, { delivery: peer.delivery, participant: peer.participant, at: Date.now(), reason, probing: reason === 'timeout' });
    }
    this.log.info({ peer: peer.peerId, reason }, 'peer left');
    this.emit('peer-left', { room: this.name, peerId: peer.peerId, name: peer.participant.name, reason });
  }

  private tick(): void {
    const now = Date.now();
    const heartbeatMs = this.deps.settings.heartbeatIntervalMs;
    this.vanished.expire(now, DEFAULT_PEER_RESUME_MS);
    if (this.deps.hub.connected) {
      for (const peerId of this.vanished.dueForProbe(now, heartbeatMs)) this.probe(peerId);
      if (now - this.lastReconcileAt >= DEFAULT_MEMBERS_RECONCILE_MS) {
        this.lastReconcileAt = now;
        this.reconciler.request(now);
      }
    }
    for (const peer of [...this.peersById.values()]) {
      if (peer.tick(now, heartbeatMs) === 'dead') {
        this.log.warn({ peer: peer.peerId }, 'no heartbeat from peer; reporting it left');
        this.removePeer(peer, 'timeout');
      }
    }
  }

  /** Asks a vanished peer whether it is there; its answer (any signal) re-admits it. */
  private probe(peerId: string): void {
    this.deps.hub.signal(this.name, peerId, { type: 'probe' }).catch((err: unknown) => {
      const code = (err as RtcAgentError).code;
      // The hub no longer lists it: it is gone for good (or comes back with a Join, as PeerJoined).
      if (code === ErrorCode.PEER_NOT_IN_ROOM) this.vanished.setProbing(peerId, false);
      this.log.debug({ peer: peerId, code }, 'probe not sent');
    });
  }

  private readonly noE2eeWarned = new Set<string>();

  private warnCannotSend(peer: PeerSession): void {
    if (this.noE2eeWarned.has(peer.peerId)) return;
    this.noE2eeWarned.add(peer.peerId);
    const why = this.deps.e2ee ? 'does not support end-to-end encryption' : 'requires end-to-end encryption (turn on --e2ee)';
    this.emitError(new RtcAgentError(ErrorCode.E2EE_PLAINTEXT, `${peer.participant.name} (${peer.peerId}) ${why}; nothing is sent to it`));
  }

  private emitError(err: RtcAgentError): void {
    // An 'error' event without listeners would throw; a bad frame must never crash the agent.
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else this.log.warn({ code: err.code, reason: err.message }, 'room error');
  }

  /** Leaves the room (tells the hub) and closes every peer session. Idempotent. */
  async leave(): Promise<void> {
    if (this.closed) return this.filesClosed;
    // Tell the hub first, so peers hear "left" before they see the P2P link close.
    await this.deps.hub.leave(this.name).catch((err: unknown) => this.log.debug({ err: (err as Error).message }, 'Leave not sent'));
    this.closeLocal('left');
    // Partial downloads are closed and removed by the time leave() (and agent.close()) resolves.
    return this.filesClosed;
  }

  private filesClosed: Promise<void> = Promise.resolve();

  /** Closes without telling the hub (the agent is closing its hub connection anyway). */
  closeLocal(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.ticker);
    for (const peer of this.peersById.values()) peer.close(reason);
    this.peersById.clear();
    this.vanished.clear();
    this.reconciler.clear();
    this.filesClosed = this.files.close().catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'closing file transfers failed'));
    this.deps.onClosed(this);
    this.emit('close');
  }
}
