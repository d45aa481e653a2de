/// <reference lib="dom" />
/**
 * A browser's membership of one room: the hub connection (the official SignalR browser bundle,
 * loaded by the page as `window.signalR`), Join and rejoin after a reconnect, routing of the hub's
 * callbacks to peers, broadcasts (one reliable send per peer, as agents do) and heartbeats. The room
 * contract is docs/room-contract.md; everything here follows it the way src/room/room-session.ts
 * and src/signaling/hub-client.ts do.
 */
import type * as SignalRModule from '@microsoft/signalr';
import { FrameFlag } from '../protocol/frames.js';
import {
  ClientMethod,
  HubMethod,
  ROOM_NAME_PATTERN,
  type IceServer,
  type JoinHello,
  type JoinResult,
  type Participant,
  type SignalPayload,
} from '../protocol/room-contract.js';
import { BrowserPeer, randomId, type BrowserMessage, type PeerView } from './browser-peer.js';
import { E2eeSession, deriveRoomKey, type Identity, type RoomKey } from './e2ee.js';

/** The SignalR UMD bundle's global. */
function signalR(): typeof SignalRModule {
  const lib = (globalThis as { signalR?: typeof SignalRModule }).signalR;
  if (!lib) throw new Error('the SignalR client (/signalr.js) did not load');
  return lib;
}

/** How often peers are ticked (resends, pings, liveness). */
const TICK_MS = 250;
/** Ping period; a peer silent for three of them is reported as gone (the agent's default). */
export const HEARTBEAT_MS = 5_000;
/** After this a connecting P2P link gives up (relay carries the traffic meanwhile). */
export const ICE_TIMEOUT_MS = 15_000;
/** Room for the SignalR envelope around a Relay payload (method, room, peer id, JSON). */
const RELAY_ENVELOPE_BYTES = 512;
/** How long a peer the heartbeat gave up on is kept for a comeback (src/room/membership.ts). */
const PEER_RESUME_MS = 120_000;

export interface BrowserRoomHandlers {
  message(message: BrowserMessage): void;
  /** The peer list or a peer's path changed. */
  peersChanged(): void;
  /** Something to show in the log: joins, leaves, path changes, warnings. */
  notice(text: string, level: 'info' | 'warn' | 'error'): void;
  /** The hub connection's state. */
  connection(state: 'connected' | 'reconnecting' | 'closed', detail?: string): void;
  /** Verbose diagnostics (console only). */
  debug?(text: string): void;
}

export interface JoinOptions {
  /** Absolute URL of the hub, e.g. `${location.origin}/hub`. */
  hubUrl: string;
  room: string;
  name: string;
  /** A bearer token when the hub requires auth. */
  accessToken?: string;
  /**
   * The secret the hub derives this member's peer id from (16-128 characters; see the room
   * contract). Default: a fresh random key per join, which is what a page wants: the id then
   * survives hub reconnects but not a reload, and a reloaded page (new sequence numbers) must meet
   * its peers under a new id.
   */
  agentKey?: string;
  /** Ping period; a peer silent for three is reported as gone. Default {@link HEARTBEAT_MS}. */
  heartbeatMs?: number;
  /**
   * End-to-end encryption (as an agent with --e2ee): the page announces its keys on Join, seals
   * everything to E2EE peers, sends nothing to peers without E2EE and drops their plaintext.
   * `identity` defaults to a fresh one (not persisted); `roomSecret` is stretched with scrypt as
   * the agents do (room-key.ts) and must match theirs.
   */
  e2ee?: { identity?: Identity; roomSecret?: string };
  handlers: BrowserRoomHandlers;
}

export interface SendResult {
  /** Peers the message went to. */
  sentTo: string[];
  /** Peers skipped, with the reason (encrypted peer, send failed). */
  skipped: { name: string; reason: string }[];
}

type Deferred = () => void;

export class BrowserRoom {
  private readonly peersById = new Map<string, BrowserPeer>();
  /** Peers the heartbeat gave up on while the hub still listed them: probed, re-admitted when they speak. */
  private readonly vanished = new Map<string, { peer: BrowserPeer; at: number; probing: boolean; lastProbeAt: number }>();
  private selfInfo: Participant | undefined;
  private iceServers: IceServer[] = [];
  private maxMessageBytes = 64 * 1024;
  private ticker: ReturnType<typeof setInterval> | null = null;
  private closed = false;
  private leaving = false;
  /** Hub callbacks that arrive while a Join is in flight wait for its result (so no offer is lost). */
  private held: Deferred[] | null = null;
  private readonly hello: JoinHello;
  private readonly handlers: BrowserRoomHandlers;
  private readonly utf8 = new TextEncoder();
  /** Peers already told they cannot get a broadcast (once each, as room-session.ts warnCannotSend). */
  private readonly cannotSendWarned = new Set<string>();

  private constructor(
    private readonly conn: SignalRModule.HubConnection,
    readonly room: string,
    name: string,
    handlers: BrowserRoomHandlers,
    agentKey: string,
    private readonly e2ee: { session: E2eeSession; roomKey: RoomKey | undefined } | undefined,
    private readonly heartbeatMs: number,
  ) {
    this.handlers = handlers;
    this.hello = {
      agentKey,
      name,
      capabilities: { native: typeof RTCPeerConnection === 'function', client: 'browser', ...(e2ee ? e2ee.session.capabilities() : {}) },
      meta: { client: 'browser' },
    };
  }

  /** This page's E2EE fingerprint in this room (undefined without E2EE). */
  get fingerprint(): string | undefined {
    return this.e2ee?.session.fingerprint;
  }

  /** Whether this room uses a room secret (E2EE only). */
  get hasRoomSecret(): boolean {
    return this.e2ee?.roomKey !== undefined;
  }

  /** Connects to the hub and joins `room`. */
  static async join(options: JoinOptions): Promise<BrowserRoom> {
    if (!ROOM_NAME_PATTERN.test(options.room)) {
      throw new Error('invalid room name: use 1-64 of A-Z a-z 0-9 . _ - starting with a letter or digit');
    }
    let e2ee: { session: E2eeSession; roomKey: RoomKey | undefined } | undefined;
    if (options.e2ee) {
      // Both before connecting: a slow scrypt must not hold a joined-but-silent member in the room.
      const session = await E2eeSession.create(options.e2ee.identity);
      const secret = options.e2ee.roomSecret;
      e2ee = { session, roomKey: secret === undefined || secret === '' ? undefined : await deriveRoomKey(options.room, secret) };
    }
    const lib = signalR();
    const http: SignalRModule.IHttpConnectionOptions = {};
    const token = options.accessToken;
    if (token) http.accessTokenFactory = () => token;
    const conn = new lib.HubConnectionBuilder()
      .withUrl(options.hubUrl, http)
      .withAutomaticReconnect([0, 1_000, 2_000, 5_000, 10_000, 10_000, 30_000])
      .withStatefulReconnect()
      .configureLogging(lib.LogLevel.Warning)
      .build();
    const room = new BrowserRoom(conn, options.room, options.name, options.handlers, options.agentKey ?? randomId(24), e2ee, options.heartbeatMs ?? HEARTBEAT_MS);
    room.wire();
    try {
      await conn.start();
      await room.doJoin(false);
    } catch (err) {
      room.closeLocal();
      await conn.stop().catch(() => undefined);
      throw err;
    }
    room.handlers.connection('connected');
    return room;
  }

  get selfId(): string {
    return this.selfInfo?.peerId ?? '';
  }

  get self(): Participant | undefined {
    return this.selfInfo;
  }

  get connected(): boolean {
    return this.conn.state === signalR().HubConnectionState.Connected;
  }

  peers(): PeerView[] {
    return [...this.peersById.values()].map((p) => p.view());
  }

  /** Sends text to one peer or everyone (reliable, ordered; over P2P where it is up, else relayed). */
  send(text: string, to?: string): SendResult {
    if (this.closed) throw new Error('not in a room');
    const payload = this.utf8.encode(text);
    const targets = to === undefined ? [...this.peersById.values()] : [this.peersById.get(to)].filter((p): p is BrowserPeer => p !== undefined);
    if (to !== undefined && targets.length === 0) throw new Error(`no peer ${to} in room ${this.room}`);
    const result: SendResult = { sentTo: [], skipped: [] };
    for (const peer of targets) {
      // A broadcast goes to every peer that can read it; the others are named once, never sent plaintext.
      const cannot = peer.cannotSendReason;
      if (to === undefined && cannot !== undefined) {
        if (!this.cannotSendWarned.has(peer.peerId)) {
          this.cannotSendWarned.add(peer.peerId);
          result.skipped.push({ name: peer.participant.name, reason: cannot });
        }
        continue;
      }
      try {
        peer.sendReliable(FrameFlag.Text, payload);
        result.sentTo.push(peer.peerId);
      } catch (err) {
        result.skipped.push({ name: peer.participant.name, reason: (err as Error).message });
      }
    }
    this.handlers.peersChanged();
    return result;
  }

  /** Leaves the room and closes the hub connection. Idempotent. */
  async leave(): Promise<void> {
    if (this.closed) return;
    // The hub first, so peers hear "left" before they see the P2P links close (as agents do);
    // what happens to the links meanwhile is no news for this page.
    this.leaving = true;
    if (this.connected) await this.conn.invoke(HubMethod.Leave, this.room).catch(() => undefined);
    this.closeLocal();
    await this.conn.stop().catch(() => undefined);
  }

  // ------------------------------------------------------------------------------ hub

  private wire(): void {
    const mine = (room: string): boolean => room === this.room && !this.closed;
    // Handlers return nothing: a returned value would be sent back as a client result.
    this.conn.on(ClientMethod.PeerJoined, (room: string, p: Participant) => {
      if (mine(room)) this.run(() => this.onPeerJoined(p, true));
    });
    this.conn.on(ClientMethod.PeerLeft, (room: string, peerId: string, reason: string) => {
      if (mine(room)) this.run(() => this.onPeerLeft(peerId, reason));
    });
    this.conn.on(ClientMethod.Signal, (room: string, from: string, signal: SignalPayload) => {
      if (mine(room)) this.run(() => this.speaking(from)?.handleSignal(signal));
    });
    this.conn.on(ClientMethod.Relayed, (room: string, from: string, payload: string) => {
      if (mine(room)) this.run(() => this.speaking(from)?.onRelayed(payload));
    });
    this.conn.onreconnecting((err) => {
      if (this.closed) return;
      this.handlers.connection('reconnecting', err?.message);
    });
    this.conn.onreconnected(() => {
      if (this.closed) return;
      this.handlers.connection('connected');
      this.doJoin(true).catch((err: unknown) => this.notice(`rejoining ${this.room} failed: ${(err as Error).message}`, 'error'));
    });
    this.conn.onclose((err) => {
      if (this.closed) return;
      this.closeLocal();
      this.handlers.connection('closed', err?.message);
    });
  }

  private notice(text: string, level: 'info' | 'warn' | 'error'): void {
    if (!this.leaving && !this.closed) this.handlers.notice(text, level);
  }

  /** Runs a hub callback now, or after the Join in flight has been applied. */
  private run(work: Deferred): void {
    if (this.held) this.held.push(work);
    else work();
  }

  private async doJoin(rejoin: boolean): Promise<void> {
    this.held ??= [];
    try {
      const result = await this.conn.invoke<JoinResult>(HubMethod.Join, this.room, this.hello);
      this.applyJoin(result, rejoin);
    } finally {
      const held = this.held ?? [];
      this.held = null;
      for (const work of held) work();
    }
  }

  private applyJoin(result: JoinResult, rejoin: boolean): void {
    this.selfInfo = result.self;
    this.iceServers = result.iceServers;
    this.maxMessageBytes = result.limits.maxMessageBytes;
    for (const p of result.participants) this.onPeerJoined(p, rejoin);
    if (!this.ticker) this.ticker = setInterval(() => this.tick(), TICK_MS);
    this.handlers.peersChanged();
  }

  /** The peer that sent something through the hub; one the heartbeat gave up on is re-admitted. */
  private speaking(peerId: string): BrowserPeer | undefined {
    return this.peersById.get(peerId) ?? this.revive(peerId);
  }

  private revive(peerId: string): BrowserPeer | undefined {
    const kept = this.vanished.get(peerId);
    if (!kept) return undefined;
    this.vanished.delete(peerId);
    this.peersById.set(peerId, kept.peer);
    this.lastPath.set(peerId, 'none');
    kept.peer.resume();
    this.notice(`${kept.peer.participant.name} is back`, 'info');
    this.handlers.peersChanged();
    return kept.peer;
  }

  private onPeerJoined(p: Participant, announce: boolean): void {
    if (!this.selfInfo || p.peerId === this.selfInfo.peerId) return;
    const kept = this.vanished.get(p.peerId);
    if (kept) {
      // The same process comes back with its numbering; a new one starts afresh.
      if (kept.peer.participant.capabilities.instance === p.capabilities.instance) {
        this.revive(p.peerId)?.update(p);
        return;
      }
      this.vanished.delete(p.peerId);
      kept.peer.close('restarted');
    }
    const existing = this.peersById.get(p.peerId);
    if (existing) {
      existing.update(p);
      return;
    }
    const peer = new BrowserPeer(p, {
      selfId: this.selfInfo.peerId,
      iceServers: () => this.iceServers,
      iceTimeoutMs: ICE_TIMEOUT_MS,
      signal: (to, signal) => this.conn.invoke(HubMethod.Signal, this.room, to, signal),
      relay: (to, payload) => this.conn.invoke(HubMethod.Relay, this.room, to, payload),
      hubConnected: () => this.connected,
      relayBundleBytes: () => Math.floor(((this.maxMessageBytes - RELAY_ENVELOPE_BYTES) * 3) / 4),
      deliver: (message) => this.handlers.message(message),
      changed: (changedPeer, reason) => this.onPeerChanged(changedPeer, reason),
      warn: (text) => this.notice(text, 'warn'),
      debug: (text) => this.handlers.debug?.(text),
      e2ee: this.e2ee ? { room: this.room, ...this.e2ee } : undefined,
    });
    this.peersById.set(p.peerId, peer);
    this.lastPath.set(p.peerId, peer.path);
    if (announce) this.notice(`${p.name} joined`, 'info');
    const cannot = peer.cannotSendReason;
    if (cannot !== undefined) this.notice(`${cannot}; nothing is sent to it`, 'warn');
    this.handlers.peersChanged();
  }

  private readonly lastPath = new Map<string, string>();

  private onPeerChanged(peer: BrowserPeer, reason: string): void {
    if (!this.peersById.has(peer.peerId)) return; // still being constructed: onPeerJoined redraws
    const before = this.lastPath.get(peer.peerId);
    if (before !== undefined && before !== peer.path) this.notice(`${peer.participant.name}: ${before} → ${peer.path} (${reason})`, 'info');
    this.lastPath.set(peer.peerId, peer.path);
    this.handlers.peersChanged();
  }

  private onPeerLeft(peerId: string, reason: string): void {
    if (this.selfInfo && peerId === this.selfInfo.peerId) {
      if (reason === 'replaced') this.notice('this page was replaced by another connection', 'warn');
      return;
    }
    const peer = this.peersById.get(peerId);
    if (!peer) {
      const kept = this.vanished.get(peerId);
      if (kept && reason === 'left') {
        this.vanished.delete(peerId);
        kept.peer.close(reason);
      } else if (kept) kept.probing = false;
      return;
    }
    // A peer that lost the hub but keeps a live P2P link is reconnecting; the heartbeat decides.
    if (reason === 'disconnected' && peer.hasOpenP2P) return;
    this.removePeer(peer, reason);
  }

  private removePeer(peer: BrowserPeer, reason: string): void {
    if (this.peersById.get(peer.peerId) !== peer) return;
    this.peersById.delete(peer.peerId);
    this.lastPath.delete(peer.peerId);
    peer.close(reason);
    this.notice(`${peer.participant.name} left (${reason})`, 'info');
    this.handlers.peersChanged();
  }

  private tick(): void {
    const now = Date.now();
    for (const peer of [...this.peersById.values()]) {
      if (peer.tick(now, this.heartbeatMs) === 'dead') this.giveUp(peer);
    }
    for (const [peerId, kept] of [...this.vanished]) {
      if (now - kept.at > PEER_RESUME_MS) {
        this.vanished.delete(peerId);
        kept.peer.close('timeout');
      } else if (kept.probing && this.connected && now - kept.lastProbeAt >= this.heartbeatMs) {
        kept.lastProbeAt = now;
        this.conn.invoke(HubMethod.Signal, this.room, peerId, { type: 'probe' }).catch((err: unknown) => {
          // The hub no longer lists it: it comes back, if ever, with a Join (PeerJoined).
          if (/RTC_ERR_PEER_NOT_IN_ROOM/.test((err as Error).message)) kept.probing = false;
        });
      }
    }
  }

  /** No heartbeat: reported as gone, but kept (and probed) in case it was only frozen. */
  private giveUp(peer: BrowserPeer): void {
    if (this.peersById.get(peer.peerId) !== peer) return;
    this.peersById.delete(peer.peerId);
    this.lastPath.delete(peer.peerId);
    peer.suspend('timeout');
    const now = Date.now();
    this.vanished.set(peer.peerId, { peer, at: now, probing: true, lastProbeAt: now });
    this.notice(`${peer.participant.name} left (timeout)`, 'info');
    this.handlers.peersChanged();
  }

  private closeLocal(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    for (const peer of this.peersById.values()) peer.close('left');
    for (const kept of this.vanished.values()) kept.peer.close('left');
    this.peersById.clear();
    this.vanished.clear();
    this.lastPath.clear();
    this.handlers.peersChanged();
  }
}
