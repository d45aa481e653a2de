/**
 * One joined room: the peer table, the room's own hub subscription (it is the {@link RoomInbound}
 * the hub client calls, so a relayed frame goes straight to its peer session), sending to one peer
 * or all, heartbeats, and membership that heals (membership.ts). This is the `Room` programs get
 * from `agent.join()`.
 */
import { ErrorCode, RtcAgentError } from '../errors.js';
import { FrameFlag } from '../protocol/frames.js';
import type { IceServer, JoinResult, Participant, SignalPayload } from '../protocol/room-contract.js';
import { MAX_UNRELIABLE_PAYLOAD_BYTES, RELAY_ENVELOPE_BYTES, ROOM_TICK_MS } from './constants.js';
import { Emitter } from './emitter.js';
import type { FileEvents, FileSent, RoomFiles, RoomFilesFactory } from './files/types.js';
import type { EngineLogger } from './log.js';
import { DEFAULT_MEMBERS_RECONCILE_MS, DEFAULT_PEER_RESUME_MS, MemberReconciler, VanishedPeers, type MemberSnapshot, type PeerJoinReason } from './membership.js';
import { encodeMessage } from './message-codec.js';
import type { RoomE2ee } from './peer-e2ee.js';
import type { PeerLinkFactory } from './peer-link.js';
import { PeerSession, type PeerContext, type PeerSink } from './peer-session.js';
import type { RoomInbound, RoomSignaling } from './signaling.js';
import type { DeliveryRefused, PathChange, PeerInfo, PeerJoined, PeerLeft, ReceivedMessage, SendOptions } from './types.js';

export interface RoomEvents extends FileEvents {
  message: [message: ReceivedMessage];
  'peer-joined': [peer: PeerJoined];
  'peer-left': [peer: PeerLeft];
  'path-changed': [change: PathChange];
  /** A peer refused what we sent it (end to end); see DeliveryRefused. */
  'delivery-refused': [refusal: DeliveryRefused];
  error: [error: RtcAgentError];
  /** The room is closed (left, or the agent closed). */
  close: [];
}

/** What a room needs from the agent that owns it. */
export interface RoomDeps {
  log: EngineLogger;
  /** Null when this agent cannot do P2P: every link is relayed. */
  links: PeerLinkFactory | null;
  settings: {
    allowRelay: boolean;
    reliable: boolean;
    heartbeatIntervalMs: number;
    iceConnectionTimeoutMs: number;
    sendTimeoutMs: number;
  };
  /** The agent's own ICE servers; the hub's come with the Join result. */
  iceServers: IceServer[];
  /** E2EE for this room (undefined: off). */
  e2ee: RoomE2ee | undefined;
  /** Trust on first use of a peer's E2EE identity. */
  peerKey(room: string, participant: Participant, fingerprint: string): void;
  /** Makes the room's file transfers (platform storage). */
  files: RoomFilesFactory;
  /** Called once when the room is closed, so the agent forgets it. */
  onClosed(room: RoomSession): void;
}

/**
 * Whether two announcements of a peer id come from the same running agent: agents announce a random
 * `instance` per process. Without one (other clients), a re-announcement counts as the same.
 */
function sameInstance(a: Participant, b: Participant): boolean {
  return a.capabilities.instance === b.capabilities.instance;
}

export class RoomSession extends Emitter<RoomEvents> implements RoomInbound {
  readonly name: string;
  private selfInfo: Participant | undefined;
  private hub: RoomSignaling | undefined;
  private readonly peersById = new Map<string, PeerSession>();
  /** Peers given up on (timeout) or lost by the hub, kept so that they can resume. */
  private readonly vanished = new VanishedPeers();
  private reconciler: MemberReconciler | undefined;
  private lastReconcileAt = Date.now();
  private ticker: ReturnType<typeof setInterval> | null = null;
  private closed = false;
  private maxMessageBytes = 64 * 1024;
  private iceServers: IceServer[] = [];
  private readonly log: EngineLogger;
  private readonly files: RoomFiles;
  private filesClosed: Promise<void> = Promise.resolve();
  /** Hub callbacks that arrive while the Join is in flight (the hub may answer and announce in one frame). */
  private early: (() => void)[] | null = [];
  private readonly noE2eeWarned = new Set<string>();
  private readonly sink: PeerSink;

  /** Made before the Join is sent (it receives the room's callbacks); {@link start} completes it. */
  constructor(
    name: string,
    private readonly deps: RoomDeps,
  ) {
    super();
    this.name = name;
    this.log = deps.log.child({ room: name });
    this.files = deps.files(
      {
        name,
        sendSystem: (data, to) => this.sendSystem(data, to),
        // With E2EE, files go only to peers that can open them (the others are warned about on send).
        peerIds: () => [...this.peersById.values()].filter((p) => p.canSend).map((p) => p.peerId),
        peerName: (peerId) => this.peersById.get(peerId)?.participant.name ?? peerId,
      },
      (event, ...args) => (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args),
    );
    this.sink = {
      message: (m) => this.emit('message', m),
      system: (m) => this.files.onSystemMessage(m),
      pathChanged: (peer, from, to, reason) => {
        this.log.info({ peer: peer.peerId, from, to, reason }, 'path changed');
        this.emit('path-changed', { room: this.name, peerId: peer.peerId, name: peer.participant.name, from, to, reason });
      },
      refused: (peer, code, reason) => {
        this.emit('delivery-refused', { room: this.name, peerId: peer.peerId, name: peer.participant.name, code, reason: `${peer.participant.name} ${reason}` });
      },
      error: (err) => this.emitError(err),
    };
  }

  /** The Join succeeded: the room is live. Members present are announced by {@link announceInitialPeers}. */
  start(joined: JoinResult, hub: RoomSignaling): void {
    this.selfInfo = joined.self;
    this.hub = hub;
    this.maxMessageBytes = joined.limits.maxMessageBytes;
    this.iceServers = [...joined.iceServers, ...this.deps.iceServers];
    const features = new Set(joined.features ?? []);
    this.reconciler = new MemberReconciler(
      features.has('members') ? () => hub.members() : undefined,
      (snapshot) => this.reconcile(snapshot),
      (peerId) => this.peersById.has(peerId),
      (err) => this.log.debug({ err: (err as Error).message }, 'member list not available'),
    );
    for (const p of joined.participants) this.addPeer(p, null);
    this.ticker = setInterval(() => this.tick(), ROOM_TICK_MS);
    (this.ticker as { unref?: () => void }).unref?.();
  }

  /** Emits `peer-joined` for the members that were there when we joined, then what came meanwhile. */
  announceInitialPeers(): void {
    for (const peer of this.peersById.values()) this.emit('peer-joined', { room: this.name, ...peer.info(), reason: 'present' });
    const early = this.early ?? [];
    this.early = null;
    for (const deliver of early) deliver();
  }

  /** This agent's peer id in the room (assigned by the hub). */
  get selfId(): string {
    return this.selfInfo?.peerId ?? '';
  }

  get self(): Participant {
    if (!this.selfInfo) throw new RtcAgentError(ErrorCode.NOT_IN_ROOM, `room '${this.name}' is not joined yet`);
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
  send(data: unknown, options: SendOptions = {}): Promise<void> {
    try {
      const pending = this.sendWithFlags(data, options, 0);
      return pending ?? RESOLVED;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Sends an agent-internal message (file transfer), reliable, never shown to the application. */
  sendSystem(data: unknown, to?: string): Promise<void> {
    try {
      return this.sendWithFlags(data, to === undefined ? { reliable: true } : { to, reliable: true }, FrameFlag.System) ?? RESOLVED;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Sends at once where the windows allow; a promise only when some peer makes it wait. */
  private sendWithFlags(data: unknown, options: SendOptions, extraFlags: number): Promise<void> | undefined {
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
      // A broadcast goes to every peer that can read it: with E2EE, those that do E2EE; without,
      // those that do not require it. The others are named once, never sent plaintext.
      targets = [];
      for (const p of this.peersById.values()) {
        if (p.canSend) targets.push(p);
        else this.warnCannotSend(p);
      }
    }
    if (!reliable) {
      if (payload.length > MAX_UNRELIABLE_PAYLOAD_BYTES) {
        throw new RtcAgentError(ErrorCode.MESSAGE_TOO_LARGE, `unreliable messages are not chunked; keep them under ${MAX_UNRELIABLE_PAYLOAD_BYTES} bytes`);
      }
      for (const peer of targets) peer.sendUnreliable(flags, payload);
      return undefined;
    }
    const timeoutMs = this.deps.settings.sendTimeoutMs;
    let waits: Promise<void>[] | undefined;
    for (const peer of targets) {
      const wait = peer.sendReliable(flags, payload, timeoutMs);
      if (wait) (waits ??= []).push(wait);
    }
    if (!waits) return undefined;
    return waits.length === 1 ? (waits[0] as Promise<void>) : Promise.all(waits).then(() => undefined);
  }

  /**
   * Sends a file to one peer or everyone: chunked, SHA-256 verified, resolving once each receiver
   * confirmed a verified copy (`deliveredTo`). Progress arrives as `file-progress` events.
   */
  sendFile(source: unknown, options: { to?: string } = {}): Promise<FileSent> {
    if (this.closed) return Promise.reject(new RtcAgentError(ErrorCode.CLOSED, `room '${this.name}' is closed`));
    if (options.to !== undefined && !this.peersById.has(options.to)) {
      return Promise.reject(new RtcAgentError(ErrorCode.UNKNOWN_PEER, `no peer '${options.to}' in room '${this.name}'`));
    }
    return this.files.send(source, options);
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

  // ---------------------------------------------------------------- the room's hub subscription

  /** Runs a hub callback now, or once the room is live (the Join is still in flight). */
  private inbound(work: () => void): void {
    if (this.closed) return;
    if (this.early) this.early.push(work);
    else work();
  }

  peerJoined(p: Participant): void {
    this.inbound(() => this.onPeerJoined(p));
  }

  peerLeft(peerId: string, reason: string): void {
    this.inbound(() => this.onPeerLeft(peerId, reason));
  }

  signal(from: string, signal: SignalPayload): void {
    this.inbound(() => this.peerSpeaking(from, (peer) => peer.handleSignal(signal)));
  }

  relayed(from: string, payload: Uint8Array): void {
    this.inbound(() => this.peerSpeaking(from, (peer) => peer.onRelayed(payload)));
  }

  /** After a hub reconnect: the room was joined again. Peers not listed are left to the heartbeat. */
  rejoined(result: JoinResult): void {
    this.inbound(() => {
      this.selfInfo = result.self;
      this.maxMessageBytes = result.limits.maxMessageBytes;
      for (const p of result.participants) this.onPeerJoined(p);
      // Relayed frames the old connection had in flight may be lost: send what is unacked now
      // rather than after the resend timer.
      for (const peer of this.peersById.values()) peer.resendUnacked();
    });
  }

  rejoinFailed(error: Error): void {
    this.emitError(error instanceof RtcAgentError ? error : new RtcAgentError(ErrorCode.HUB_UNREACHABLE, `rejoining room '${this.name}' failed: ${error.message}`));
  }

  private onPeerJoined(p: Participant): void {
    if (p.peerId === this.selfId) return;
    this.reconciler?.noteEvent(p.peerId);
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

  private onPeerLeft(peerId: string, reason: string): void {
    if (peerId === this.selfId) return; // our old connection was replaced by our new one
    this.reconciler?.noteEvent(peerId);
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

  /**
   * Something arrived from `from` through the hub (which stamps senders, so it is a member). A peer
   * we gave up on is alive after all: re-admit it. One we know nothing of: ask the hub who it is.
   */
  private peerSpeaking(from: string, deliver: (peer: PeerSession) => void): void {
    if (from === this.selfId) return;
    const peer = this.peersById.get(from) ?? this.revive(from);
    if (peer) {
      deliver(peer);
      return;
    }
    if (!this.reconciler?.available) {
      this.log.debug({ from }, 'message from an unknown peer dropped');
      return;
    }
    this.reconciler.hold(
      from,
      () => {
        const known = this.peersById.get(from);
        if (known) deliver(known);
      },
      Date.now(),
    );
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

  // ---------------------------------------------------------------- peers

  /** `announce`: the reason for `peer-joined`, or null for members present when we joined (announced later). */
  private addPeer(p: Participant, announce: PeerJoinReason | null): PeerSession {
    const hub = this.hub as RoomSignaling;
    const ctx: PeerContext = {
      room: this.name,
      selfId: this.selfId,
      log: this.log,
      links: this.deps.links,
      iceServers: this.iceServers,
      allowRelay: this.deps.settings.allowRelay,
      iceConnectionTimeoutMs: this.deps.settings.iceConnectionTimeoutMs,
      hub,
      relayBundleBytes: () => Math.floor(((this.maxMessageBytes - RELAY_ENVELOPE_BYTES) * 3) / 4),
      e2ee: this.deps.e2ee,
      peerKey: (participant, fingerprint) => this.deps.peerKey(this.name, participant, fingerprint),
      sink: this.sink,
    };
    const kept = this.vanished.take(p.peerId);
    // Resume delivery only with the very same process: a new one expects numbering from the start.
    const resume = kept && sameInstance(kept.participant, p) ? kept.delivery : undefined;
    const session = new PeerSession(p, ctx, resume);
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
    if (this.hub?.connected) {
      for (const peerId of this.vanished.dueForProbe(now, heartbeatMs)) this.probe(peerId);
      if (now - this.lastReconcileAt >= DEFAULT_MEMBERS_RECONCILE_MS) {
        this.lastReconcileAt = now;
        this.reconciler?.request(now);
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
    this.hub?.signalConfirmed(peerId, { type: 'probe' }).catch((err: unknown) => {
      const code = (err as RtcAgentError).code;
      // The hub no longer lists it: it is gone for good (or comes back with a Join, as PeerJoined).
      if (code === ErrorCode.PEER_NOT_IN_ROOM) this.vanished.setProbing(peerId, false);
      this.log.debug({ peer: peerId, code }, 'probe not sent');
    });
  }

  private warnCannotSend(peer: PeerSession): void {
    if (this.noE2eeWarned.has(peer.peerId)) return;
    this.noE2eeWarned.add(peer.peerId);
    this.emitError(new RtcAgentError(ErrorCode.E2EE_PLAINTEXT, `${peer.e2ee.cannotSendReason ?? peer.peerId}; nothing is sent to it`));
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
    await this.hub?.leave().catch((err: unknown) => this.log.debug({ err: (err as Error).message }, 'Leave not sent'));
    this.closeLocal('left');
    // Partial downloads are closed and removed by the time leave() (and agent.close()) resolves.
    return this.filesClosed;
  }

  /** Closes without telling the hub (the agent is closing its hub connection anyway). Idempotent. */
  closeLocal(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.early = null;
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    for (const peer of this.peersById.values()) peer.close(reason);
    this.peersById.clear();
    this.vanished.clear();
    this.reconciler?.clear();
    this.filesClosed = this.files.close().catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'closing file transfers failed'));
    this.deps.onClosed(this);
    this.emit('close');
  }
}

const RESOLVED: Promise<void> = Promise.resolve();
