/// <reference lib="dom" />
/**
 * One remote peer seen from a browser: the browser's own RTCPeerConnection with the two
 * DataChannels rtc-agent agents use, the relay path through the hub, and reliable delivery over
 * whichever path is up, speaking exactly what src/room/peer-session.ts speaks (same frames, same
 * signals, same negotiation rules), so a browser and CLI agents meet in one room.
 *
 * Browser code: it runs in the page, compiled by the project's tsc into dist/web/. It may import
 * only modules without Node dependencies (protocol/frames, protocol/room-contract types,
 * room/reliable, errors); the hub serves exactly those files (src/hub/web-page.ts).
 *
 * E2EE (when the page joined with it on): the same rules as the agent's peer-session.ts. Every
 * DATA payload to an E2EE peer is sealed (e2ee.ts, WebCrypto) and every DATA/UNRELIABLE frame from
 * it must open, or it is dropped before the reliable layer; nothing is sent to a peer without E2EE
 * and its plaintext is dropped. With E2EE off, a peer that announces E2EE keys gets nothing (it
 * would drop plaintext) and its sealed frames are dropped.
 *
 * WebCrypto is asynchronous while ReliableSender.push seals synchronously, so an encrypted send
 * runs on a per-peer chain: it seals every chunk for the seqs the sender will assign next
 * (lastSeq + 1 …), then pushes them all in one synchronous step with a seal callback that returns
 * the sealed bytes after checking the header is the one they were sealed for. Only that chain
 * pushes, so the seqs cannot move in between; the cipher reserves each (epoch, seq) when a seal
 * starts and refuses to seal it twice, so a nonce is never reused even if something did go wrong.
 * Opening is asynchronous too: sealed frames go through a per-peer chain, so they reach the
 * reliable layer in arrival order.
 *
 * What a browser peer does not do (yet): file transfer (System messages are ignored), unreliable sends.
 */
import {
  BUNDLE_ENTRY_OVERHEAD_BYTES,
  DATA_HEADER_BYTES,
  FrameFlag,
  FrameKind,
  decodeBundle,
  decodeFrame,
  encodeBundle,
  encodeFrame,
  type DataFrame,
  type Frame,
} from '../protocol/frames.js';
import type { IceServer, Participant, SignalPayload } from '../protocol/room-contract.js';
import { MessageAssembler, ReliableReceiver, ReliableSender, chunk, type AssembledMessage } from '../room/reliable.js';
import { DATA_SEAL_OVERHEAD_BYTES, peerE2eeKeys, type E2eeSession, type RoomKey, type WebPeerCipher } from './e2ee.js';

/** DataChannel labels; the same as src/transport/native/native-link.ts (the offerer creates both). */
export const RELIABLE_LABEL = 'rtc-agent/reliable';
export const UNRELIABLE_LABEL = 'rtc-agent/unreliable';

/** As in src/room/peer-session.ts: 16 KiB frames (header included) cross every WebRTC stack. */
export const CHUNK_BYTES = 16 * 1024;
/** Unacked bytes per peer above which a send is refused (the agent's send window). */
const SEND_WINDOW_BYTES = 4 * 1024 * 1024;
/** Largest reassembled message the page accepts from a peer. */
const MAX_INCOMING_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Largest message the page sends (chat text; keeps one send well inside the send window). */
export const MAX_OUTGOING_MESSAGE_BYTES = 1024 * 1024;
const ACK_EVERY_FRAMES = 16;
const ACK_DELAY_MS = 20;
const RELAY_RESEND_MS = 2_000;
const P2P_RESEND_MS = 5_000;
const P2P_RETRY_BASE_MS = 1_000;
const P2P_RETRY_MAX_MS = 60_000;
/** Concurrent Relay invocations per peer (as the agent's RelayOutbox). */
const RELAY_IN_FLIGHT = 4;

export type LinkPath = 'p2p' | 'relay';
export type LinkChannel = 'reliable' | 'unreliable';
export type PeerPath = LinkPath | 'none';

export interface BrowserMessage {
  /** `<epoch hex>-<first seq>` like the agent's ids, `u-…` for unreliable messages. */
  id: string;
  from: string;
  name: string;
  /** Sender's clock, ms since the epoch. */
  timestamp: number;
  kind: 'text' | 'json' | 'binary';
  data: unknown;
  text?: string;
  /** The path the message's last frame came over. */
  path: LinkPath;
  reliable: boolean;
  /** The message was sealed end to end (and opened here). */
  encrypted: boolean;
}

/** The page's E2EE state with one peer. */
export type PeerE2eeState =
  /** The page joined without E2EE. */
  | 'off'
  /** The page does E2EE, the peer announces no keys: nothing goes either way. */
  | 'peer-has-none'
  /** Deriving the pairwise keys (a few ms after the peer appears). */
  | 'deriving'
  | 'ready'
  /** The peer's keys are unusable (malformed, low-order point): nothing goes either way. */
  | 'error';

export interface PeerView {
  peerId: string;
  name: string;
  /** The peer can do P2P at all (it announced `capabilities.native`). */
  native: boolean;
  path: PeerPath;
  p2p: 'none' | 'connecting' | 'open' | 'waiting-retry';
  rttMs: number | undefined;
  /** The peer announces E2EE keys (it drops plaintext). */
  encrypted: boolean;
  e2ee: PeerE2eeState;
  /** The peer's identity fingerprint, once the pairwise keys are derived (compare it out of band). */
  fingerprint: string | undefined;
  /** Messages can go to this peer: both sides do E2EE (keys usable), or neither does. */
  canSend: boolean;
  /** Why not, when not. */
  cannotSendReason: string | undefined;
  /** Frames from the peer dropped because they were not sealed or did not open. */
  e2eeDropped: number;
  unackedBytes: number;
  messagesSent: number;
  messagesReceived: number;
  p2pFailures: number;
}

/** What the room gives each peer. */
export interface BrowserPeerEnv {
  selfId: string;
  iceServers(): IceServer[];
  iceTimeoutMs: number;
  signal(to: string, signal: SignalPayload): Promise<void>;
  relay(to: string, payloadBase64: string): Promise<void>;
  hubConnected(): boolean;
  /** Largest relay bundle in raw bytes (before base64). */
  relayBundleBytes(): number;
  deliver(message: BrowserMessage): void;
  /** Path, link state or participant changed: the page redraws its peer list. */
  changed(peer: BrowserPeer, reason: string): void;
  warn(text: string): void;
  debug(text: string): void;
  /** Set when the page joined with E2EE: its session and the room key (room secret), if any. */
  e2ee: { room: string; session: E2eeSession; roomKey: RoomKey | undefined } | undefined;
}

// ------------------------------------------------------------------------------------ helpers

export function randomUint32(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0] as number;
}

/** base64url of `bytes` random bytes (session ids, agent keys). */
export function randomId(bytes: number): string {
  return toBase64(crypto.getRandomValues(new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let at = 0; at < bytes.length; at += 0x8000) binary += String.fromCharCode(...bytes.subarray(at, at + 0x8000));
  return btoa(binary);
}

export function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

const utf8Decoder = new TextDecoder();

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Reads an offer's `a=setup:actpass` as `active` (see native-link.ts answerAsDtlsServer). */
export function answerAsDtlsServer(sdp: string): string {
  return sdp.replace(/^a=setup:actpass(?=\r?$)/gm, 'a=setup:active');
}

// ------------------------------------------------------------------------------------ relay

/** Bundles frames for one peer into Relay invocations under the hub's size limit, in order. */
class RelayQueue {
  private queue: Uint8Array[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly send: (payloadBase64: string) => Promise<void>,
    private readonly maxBundleBytes: () => number,
    private readonly onError: (err: unknown) => void,
  ) {}

  push(frame: Uint8Array): void {
    this.queue.push(frame);
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    const max = this.maxBundleBytes();
    while (this.inFlight < RELAY_IN_FLIGHT && this.queue.length > 0) {
      const bundle: Uint8Array[] = [];
      let size = 0;
      while (this.queue.length > 0) {
        const next = this.queue[0] as Uint8Array;
        const add = next.length + BUNDLE_ENTRY_OVERHEAD_BYTES;
        if (bundle.length > 0 && size + add > max) break;
        bundle.push(next);
        size += add;
        this.queue.shift();
      }
      this.inFlight++;
      this.send(toBase64(encodeBundle(bundle)))
        .catch((err: unknown) => this.onError(err))
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    }
  }

  /** Forgets queued frames (the reliable layer still has them). */
  clear(): void {
    this.queue = [];
  }
}

// ------------------------------------------------------------------------------------ P2P link

interface LinkHooks {
  signal(signal: SignalPayload): void;
  open(): void;
  message(data: Uint8Array, channel: LinkChannel): void;
  close(reason: string): void;
  debug(text: string): void;
}

function channelOfLabel(label: string): LinkChannel | undefined {
  if (label === RELIABLE_LABEL) return 'reliable';
  if (label === UNRELIABLE_LABEL) return 'unreliable';
  return undefined;
}

/**
 * One RTCPeerConnection with rtc-agent's two channels; the browser twin of NativeLink. Signals of
 * another session are ignored; remote candidates wait for the remote description and local ones
 * go out after the local description, as the agent does.
 */
export class BrowserLink {
  readonly pc: RTCPeerConnection;
  state: 'connecting' | 'open' | 'closed' = 'connecting';
  closeReason: string | undefined;
  private readonly channels = new Map<LinkChannel, RTCDataChannel>();
  private remoteDescriptionSet = false;
  private pendingRemote: { candidate: string; mid: string }[] = [];
  private localDescriptionSent = false;
  private pendingLocal: { candidate: string; mid: string }[] = [];
  /** Signals are applied one at a time (setRemoteDescription and friends are asynchronous). */
  private work: Promise<void> = Promise.resolve();

  constructor(
    readonly role: 'offerer' | 'answerer',
    readonly sessionId: string,
    iceServers: IceServer[],
    private readonly hooks: LinkHooks,
  ) {
    // No ICE servers unless the hub handed some out: on a LAN (and in tests, on loopback) host
    // candidates are all it takes, and a public STUN server would leak addresses for nothing.
    const config: RTCConfiguration = {
      iceServers: iceServers.map((s) => {
        const server: RTCIceServer = { urls: s.urls };
        if (s.username !== undefined) server.username = s.username;
        if (s.credential !== undefined) server.credential = s.credential;
        return server;
      }),
    };
    this.pc = new RTCPeerConnection(config);
    this.pc.onicecandidate = (e) => this.onLocalCandidate(e.candidate);
    this.pc.onconnectionstatechange = () => {
      const state = this.pc.connectionState;
      this.hooks.debug(`${this.role} ${this.sessionId}: connection ${state}`);
      if (state === 'failed') this.close('ICE/DTLS failed');
      else if (state === 'closed') this.close('peer connection closed');
    };
    this.pc.ondatachannel = (e) => this.onRemoteChannel(e.channel);
  }

  /** Offerer: creates both channels and sends the offer. Answerer: nothing. */
  start(): void {
    if (this.role !== 'offerer' || this.state === 'closed') return;
    this.attach('reliable', this.pc.createDataChannel(RELIABLE_LABEL, { ordered: true }));
    this.attach('unreliable', this.pc.createDataChannel(UNRELIABLE_LABEL, { ordered: false, maxRetransmits: 0 }));
    this.enqueue('create offer', async () => {
      await this.pc.setLocalDescription(await this.pc.createOffer());
      this.sendLocalDescription();
    });
  }

  handleSignal(signal: SignalPayload): void {
    if (this.state === 'closed') return;
    if (signal.type !== 'description' && signal.type !== 'candidate') return;
    if (signal.sessionId !== this.sessionId) {
      this.hooks.debug(`${signal.type} of session ${String(signal.sessionId)} ignored (this is ${this.sessionId})`);
      return;
    }
    if (signal.type === 'description') {
      const { sdp, sdpType } = signal;
      this.enqueue(`apply remote ${sdpType}`, () => this.applyRemoteDescription(sdp, sdpType));
    } else {
      const { candidate, mid } = signal;
      this.enqueue('add remote candidate', () => this.addRemoteCandidate(candidate, mid));
    }
  }

  send(channel: LinkChannel, data: Uint8Array): void {
    const dc = this.channels.get(channel);
    if (this.state !== 'open' || !dc || dc.readyState !== 'open') throw new Error(`the ${channel} channel is not open`);
    // The frame is its own buffer or a view of one; the DOM typing wants an ArrayBuffer-backed view.
    dc.send(data as Uint8Array<ArrayBuffer>);
  }

  close(reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeReason = reason;
    this.pendingLocal = [];
    this.pendingRemote = [];
    for (const dc of this.channels.values()) {
      try {
        dc.close();
      } catch {
        // already closed
      }
    }
    try {
      this.pc.close();
    } catch {
      // already closed
    }
    this.hooks.close(reason);
  }

  private enqueue(what: string, step: () => Promise<void>): void {
    this.work = this.work.then(async () => {
      if (this.state === 'closed') return;
      try {
        await step();
      } catch (err) {
        this.hooks.debug(`${what} failed: ${errorText(err)}`);
        this.close(`p2p failed: ${what}: ${errorText(err)}`);
      }
    });
  }

  private async applyRemoteDescription(sdp: string, sdpType: 'offer' | 'answer'): Promise<void> {
    const expected = this.role === 'offerer' ? 'answer' : 'offer';
    if (sdpType !== expected || this.remoteDescriptionSet) {
      this.hooks.debug(`remote ${sdpType} ignored (${this.role}, remote description ${this.remoteDescriptionSet ? 'already set' : 'not set'})`);
      return;
    }
    // As the agent's answerer does (native-link.ts answerAsDtlsServer): read the offer's actpass as
    // active, so this side answers passive and is the DTLS server. Otherwise the browser, as DTLS
    // client, sends its ClientHello as soon as ICE connects, before the offerer has the answer;
    // the hello is dropped and the handshake waits for a retransmit (~1 s).
    await this.pc.setRemoteDescription({ type: sdpType, sdp: sdpType === 'offer' ? answerAsDtlsServer(sdp) : sdp });
    this.remoteDescriptionSet = true;
    if (this.role === 'answerer') {
      await this.pc.setLocalDescription(await this.pc.createAnswer());
      this.sendLocalDescription();
    }
    const pending = this.pendingRemote;
    this.pendingRemote = [];
    for (const c of pending) await this.addRemoteCandidate(c.candidate, c.mid);
  }

  private async addRemoteCandidate(candidate: string, mid: string): Promise<void> {
    if (!candidate) return; // end of candidates
    if (!this.remoteDescriptionSet) {
      this.pendingRemote.push({ candidate, mid });
      return;
    }
    // libdatachannel sends SDP attribute lines ("a=candidate:…"); the W3C API wants the attribute
    // value ("candidate:…"). Chromium tolerates the prefix, other browsers need it stripped.
    const value = candidate.replace(/^a=/, '').trim();
    try {
      this.hooks.debug(`remote candidate (mid ${mid}): ${candidate}`);
      await this.pc.addIceCandidate({ candidate: value, sdpMid: mid });
    } catch (err) {
      // One unusable candidate (e.g. an address family this browser doesn't gather) is not fatal.
      this.hooks.debug(`remote candidate rejected: ${errorText(err)}: ${value}`);
    }
  }

  private sendLocalDescription(): void {
    const desc = this.pc.localDescription;
    if (!desc || (desc.type !== 'offer' && desc.type !== 'answer') || this.state === 'closed') return;
    this.hooks.signal({ type: 'description', sdpType: desc.type, sdp: desc.sdp, sessionId: this.sessionId });
    this.localDescriptionSent = true;
    const pending = this.pendingLocal;
    this.pendingLocal = [];
    for (const c of pending) this.hooks.signal({ type: 'candidate', candidate: c.candidate, mid: c.mid, sessionId: this.sessionId });
  }

  private onLocalCandidate(candidate: RTCIceCandidate | null): void {
    if (this.state === 'closed' || !candidate || !candidate.candidate) return; // null / "" = gathering done
    const entry = { candidate: candidate.candidate, mid: candidate.sdpMid ?? '0' };
    this.hooks.debug(`local candidate (mid ${entry.mid}): ${entry.candidate}`);
    if (!this.localDescriptionSent) this.pendingLocal.push(entry);
    else this.hooks.signal({ type: 'candidate', ...entry, sessionId: this.sessionId });
  }

  private onRemoteChannel(dc: RTCDataChannel): void {
    const channel = channelOfLabel(dc.label);
    if (this.state === 'closed' || this.role !== 'answerer' || !channel || this.channels.has(channel)) {
      this.hooks.debug(`unexpected data channel '${dc.label}' closed`);
      dc.close();
      return;
    }
    this.attach(channel, dc);
  }

  private attach(channel: LinkChannel, dc: RTCDataChannel): void {
    dc.binaryType = 'arraybuffer';
    this.channels.set(channel, dc);
    dc.onopen = () => this.checkOpen();
    dc.onclose = () => this.close(`${channel} channel closed`);
    dc.onmessage = (e: MessageEvent<ArrayBuffer | string>) => {
      // Frames are taken even before both channels are open (the reliable layer sorts them out).
      if (this.state === 'closed') return;
      const data = typeof e.data === 'string' ? new TextEncoder().encode(e.data) : new Uint8Array(e.data);
      this.hooks.message(data, channel);
    };
    if (dc.readyState === 'open') this.checkOpen();
  }

  private checkOpen(): void {
    if (this.state !== 'connecting') return;
    for (const channel of ['reliable', 'unreliable'] as const) {
      if (this.channels.get(channel)?.readyState !== 'open') return;
    }
    this.state = 'open';
    this.hooks.open();
  }
}

// ------------------------------------------------------------------------------------ peer

export class BrowserPeer {
  participant: Participant;
  readonly epoch = randomUint32();
  private link: BrowserLink | null = null;
  private linkOpen = false;
  private iceTimer: ReturnType<typeof setTimeout> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private retryAttempt = 0;
  private pathValue: PeerPath = 'none';
  private readonly sender = new ReliableSender(this.epoch);
  private readonly receiver = new ReliableReceiver();
  private readonly assembler = new MessageAssembler(MAX_INCOMING_MESSAGE_BYTES);
  private readonly relay: RelayQueue;
  private framesSinceAck = 0;
  private ackTimer: ReturnType<typeof setTimeout> | null = null;
  private lastHeard = Date.now();
  private lastPingAt = 0;
  private pingNonce = 0;
  private rtt: number | undefined;
  private closed = false;
  private encryptedWarned = false;
  private readonly counters = { messagesSent: 0, messagesReceived: 0, p2pFailures: 0 };
  /** E2EE with this peer (env.e2ee set): the cipher once derived. */
  private cipher: WebPeerCipher | null = null;
  private cipherPromise: Promise<WebPeerCipher | null> = Promise.resolve(null);
  private cipherState: PeerE2eeState = 'off';
  private cipherError: string | undefined;
  private e2eeDropped = 0;
  private readonly e2eeWarned = new Set<string>();
  /** Encrypted sends, one after another (see the file comment). */
  private sendChain: Promise<void> = Promise.resolve();
  /** Sealed frames being opened, in arrival order. */
  private openChain: Promise<void> = Promise.resolve();

  constructor(
    participant: Participant,
    private readonly env: BrowserPeerEnv,
  ) {
    this.participant = participant;
    this.setupCipher();
    this.relay = new RelayQueue(
      (payload) => env.relay(participant.peerId, payload),
      () => env.relayBundleBytes(),
      (err) => {
        if (!this.closed) env.debug(`relay to ${participant.peerId} failed (the resend timer retries): ${errorText(err)}`);
      },
    );
    this.updatePath('joined');
    this.maybeStartP2P();
  }

  get peerId(): string {
    return this.participant.peerId;
  }

  get path(): PeerPath {
    return this.pathValue;
  }

  get hasOpenP2P(): boolean {
    return this.linkOpen;
  }

  /** The peer does E2EE: it drops plaintext (peer-session.ts peerRequiresE2ee). */
  get encrypted(): boolean {
    const key = this.participant.capabilities.e2eePublicKey;
    return typeof key === 'string' && key.length > 0;
  }

  /** The peer's fingerprint as this page derived it (undefined until the keys are ready). */
  get fingerprint(): string | undefined {
    return this.cipher?.peerFingerprint;
  }

  /** Why nothing can be sent to this peer, or undefined if it can (peer-session.ts requireCipher/canSend). */
  get cannotSendReason(): string | undefined {
    if (!this.env.e2ee) {
      return this.encrypted ? `${this.participant.name} requires end-to-end encryption — turn on E2EE (and rejoin) to talk to it` : undefined;
    }
    switch (this.cipherState) {
      case 'peer-has-none':
        return `${this.participant.name} does not support end-to-end encryption; refusing to send it plaintext`;
      case 'error':
        return `${this.participant.name}'s end-to-end encryption keys are unusable (${this.cipherError ?? 'unknown error'}); nothing is sent to it`;
      default:
        return undefined; // 'deriving' sends wait for the keys on the send chain
    }
  }

  /** Derives the pairwise cipher from the peer's announced keys (peer-session.ts setupCipher). */
  private setupCipher(): void {
    const e2ee = this.env.e2ee;
    if (!e2ee) {
      this.cipherState = 'off';
      return;
    }
    this.cipher = null;
    this.cipherError = undefined;
    let keys: ReturnType<typeof peerE2eeKeys>;
    try {
      keys = peerE2eeKeys(this.participant.capabilities);
    } catch (err) {
      this.failCipher(err);
      return;
    }
    if (!keys) {
      this.cipherState = 'peer-has-none';
      this.cipherPromise = Promise.resolve(null);
      return;
    }
    this.cipherState = 'deriving';
    const pending = e2ee.session.cipherFor({ room: e2ee.room, roomKey: e2ee.roomKey, selfId: this.env.selfId, peerId: this.peerId, peerKeys: keys }).then(
      (cipher) => {
        if (this.cipherPromise !== pending) return cipher; // the peer re-announced other keys meanwhile
        this.cipher = cipher;
        this.cipherState = 'ready';
        this.env.changed(this, 'e2ee keys ready');
        return cipher;
      },
      (err: unknown) => {
        if (this.cipherPromise === pending) this.failCipher(err);
        return null;
      },
    );
    this.cipherPromise = pending;
  }

  private failCipher(err: unknown): void {
    this.cipher = null;
    this.cipherState = 'error';
    this.cipherError = errorText(err);
    this.cipherPromise = Promise.resolve(null);
    this.env.warn(`${this.participant.name}: unusable end-to-end encryption keys: ${this.cipherError}`);
    this.env.changed(this, 'e2ee keys unusable');
  }

  /** The lower peer id offers, the other answers (as agents do): a pair negotiates once. */
  private get isOfferer(): boolean {
    return this.env.selfId < this.participant.peerId;
  }

  private get p2pPossible(): boolean {
    return !this.closed && this.participant.capabilities.native === true && typeof RTCPeerConnection === 'function';
  }

  view(): PeerView {
    return {
      peerId: this.peerId,
      name: this.participant.name,
      native: this.participant.capabilities.native === true,
      path: this.pathValue,
      p2p: this.linkOpen ? 'open' : this.link ? 'connecting' : this.retryTimer ? 'waiting-retry' : 'none',
      rttMs: this.rtt,
      encrypted: this.encrypted,
      e2ee: this.cipherState,
      fingerprint: this.fingerprint,
      canSend: this.cannotSendReason === undefined,
      cannotSendReason: this.cannotSendReason,
      e2eeDropped: this.e2eeDropped,
      unackedBytes: this.sender.unackedBytes,
      ...this.counters,
    };
  }

  /** The peer re-announced itself (rejoin, new capabilities). */
  update(participant: Participant): void {
    const wasNative = this.participant.capabilities.native === true;
    const oldKeys = JSON.stringify([this.participant.capabilities.e2eePublicKey, this.participant.capabilities.e2eeSessionKey]);
    this.participant = participant;
    if (oldKeys !== JSON.stringify([participant.capabilities.e2eePublicKey, participant.capabilities.e2eeSessionKey])) this.setupCipher();
    if (!wasNative && participant.capabilities.native === true) this.maybeStartP2P();
    this.env.changed(this, 'updated');
  }

  // ---------------------------------------------------------------------------- P2P

  private maybeStartP2P(): void {
    if (!this.p2pPossible || !this.isOfferer || this.link || this.retryTimer) return;
    this.openLink('offerer', randomId(6));
  }

  private openLink(role: 'offerer' | 'answerer', sessionId: string): BrowserLink | null {
    let link: BrowserLink;
    try {
      link = new BrowserLink(role, sessionId, this.env.iceServers(), {
        signal: (signal) => {
          this.env.signal(this.peerId, signal).catch((err: unknown) => this.env.debug(`signal not sent: ${errorText(err)}`));
        },
        open: () => {
          if (this.link !== link) return;
          this.clearIceTimer();
          this.linkOpen = true;
          this.retryAttempt = 0;
          this.updatePath('p2p link opened');
          this.lastPingAt = Date.now();
          this.sendPing(this.lastPingAt);
        },
        message: (data, channel) => this.onFrameBytes(data, 'p2p', channel),
        close: (reason) => {
          if (this.link !== link) return;
          const wasOpen = this.linkOpen;
          this.link = null;
          this.linkOpen = false;
          this.clearIceTimer();
          this.counters.p2pFailures++;
          this.updatePath(wasOpen ? `p2p link failed: ${reason}` : `p2p link did not open: ${reason}`);
          if (this.closed) return;
          if (this.isOfferer) this.scheduleRetry();
          else if (wasOpen) this.env.signal(this.peerId, { type: 'restart' }).catch(() => undefined);
        },
        debug: (text) => this.env.debug(`[${this.participant.name}] ${text}`),
      });
    } catch (err) {
      this.env.warn(`cannot create a peer connection to ${this.participant.name}: ${errorText(err)}; staying on relay`);
      this.scheduleRetry();
      return null;
    }
    this.link = link;
    this.linkOpen = false;
    this.iceTimer = setTimeout(() => {
      this.iceTimer = null;
      if (this.link === link && !this.linkOpen) link.close(`not open within ${this.env.iceTimeoutMs} ms`);
    }, this.env.iceTimeoutMs);
    link.start();
    this.env.changed(this, `p2p ${role} started`);
    return link;
  }

  private clearIceTimer(): void {
    if (this.iceTimer) clearTimeout(this.iceTimer);
    this.iceTimer = null;
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer || !this.p2pPossible) return;
    const delay = Math.min(P2P_RETRY_MAX_MS, P2P_RETRY_BASE_MS * 2 ** this.retryAttempt);
    this.retryAttempt++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.maybeStartP2P();
    }, delay);
  }

  /** Drops the current link without the retry/restart its close would trigger. */
  private dropLink(reason: string): void {
    const old = this.link;
    if (!old) return;
    this.link = null;
    this.linkOpen = false;
    this.clearIceTimer();
    old.close(reason);
    this.updatePath(reason);
  }

  handleSignal(signal: SignalPayload): void {
    if (this.closed) return;
    // The hub only relays signals of members: whatever it is, the peer is alive.
    this.lastHeard = Date.now();
    switch (signal.type) {
      case 'probe':
        this.env.signal(this.peerId, { type: 'probe-ack' }).catch(() => undefined);
        return;
      case 'probe-ack':
        return;
      case 'description':
        if (signal.sdpType === 'offer') {
          if (this.isOfferer && this.link) return; // we offer in this pair; a stray offer is ignored
          if (!this.p2pPossible) return;
          if (!this.link || this.link.sessionId !== signal.sessionId) {
            this.dropLink('peer started a new negotiation');
            this.openLink('answerer', signal.sessionId ?? randomId(6));
          }
        }
        this.link?.handleSignal(signal);
        return;
      case 'candidate':
        this.link?.handleSignal(signal);
        return;
      case 'restart':
        // A link still connecting is already the fresh negotiation the answerer asks for.
        if (this.isOfferer && !(this.link && !this.linkOpen)) {
          if (this.retryTimer) clearTimeout(this.retryTimer);
          this.retryTimer = null;
          this.retryAttempt = 0;
          this.dropLink('peer asked for a new P2P link');
          this.maybeStartP2P();
        }
        return;
      case 'bye':
        this.dropLink('peer said bye');
        return;
    }
  }

  // ---------------------------------------------------------------------------- paths

  private updatePath(reason: string): void {
    const next: PeerPath = this.linkOpen ? 'p2p' : 'relay';
    if (next === this.pathValue) {
      this.env.changed(this, reason);
      return;
    }
    this.pathValue = next;
    this.env.changed(this, reason);
    // Everything not yet acked goes again on the new path; the receiver drops the copies.
    for (const entry of this.sender.all()) if (this.transmit(entry.bytes, 'reliable')) entry.sentAt = Date.now();
  }

  private transmit(bytes: Uint8Array, channel: LinkChannel): boolean {
    if (this.pathValue === 'p2p' && this.link) {
      try {
        this.link.send(channel, bytes);
        return true;
      } catch (err) {
        this.env.debug(`p2p send failed: ${errorText(err)}`);
        return false;
      }
    }
    if (this.pathValue === 'relay' && this.env.hubConnected()) {
      this.relay.push(bytes);
      return true;
    }
    return false;
  }

  /** Periodic work: resend stale frames, ping, tell whether the peer still lives. */
  tick(now: number, heartbeatMs: number): 'alive' | 'dead' {
    if (this.pathValue !== 'p2p' && !this.env.hubConnected()) this.lastHeard = now;
    const resendAfter = this.pathValue === 'p2p' ? P2P_RESEND_MS : RELAY_RESEND_MS;
    for (const entry of this.sender.stale(now - resendAfter)) if (this.transmit(entry.bytes, 'reliable')) entry.sentAt = now;
    if (now - this.lastPingAt >= heartbeatMs) {
      this.lastPingAt = now;
      this.sendPing(now);
    }
    return now - this.lastHeard > heartbeatMs * 3 ? 'dead' : 'alive';
  }

  private sendPing(now: number): void {
    this.pingNonce = (this.pingNonce + 1) >>> 0;
    this.transmit(encodeFrame({ kind: FrameKind.Ping, nonce: this.pingNonce, timestamp: now }), 'unreliable');
  }

  // ---------------------------------------------------------------------------- sending

  /**
   * Sends one reliable message (chunked into DATA frames) on the current path; with E2EE, sealed
   * (asynchronously: a sealing failure is reported through env.warn). Throws when the message
   * cannot go to this peer at all: never plaintext to an E2EE peer, or with E2EE on to a peer without.
   */
  sendReliable(flags: number, payload: Uint8Array): void {
    if (this.closed) throw new Error(`${this.participant.name} is gone`);
    const cannot = this.cannotSendReason;
    if (cannot !== undefined) throw new Error(cannot);
    if (payload.length > MAX_OUTGOING_MESSAGE_BYTES) throw new Error(`message too large (${payload.length} bytes; at most ${MAX_OUTGOING_MESSAGE_BYTES})`);
    if (this.sender.unackedBytes >= SEND_WINDOW_BYTES) {
      throw new Error(`${this.sender.unackedBytes} bytes to ${this.participant.name} are still unacknowledged; try again later`);
    }
    if (this.env.e2ee) {
      this.counters.messagesSent++;
      const sealedFlags = (flags | FrameFlag.Encrypted) & ~FrameFlag.More;
      this.sendChain = this.sendChain
        .then(() => this.sendSealed(sealedFlags, payload))
        .catch((err: unknown) => {
          if (!this.closed) this.env.warn(`not sent to ${this.participant.name}: ${errorText(err)}`);
        });
      return;
    }
    const now = Date.now();
    const pieces = chunk(payload, CHUNK_BYTES - DATA_HEADER_BYTES);
    this.counters.messagesSent++;
    for (let i = 0; i < pieces.length; i++) {
      const more = i < pieces.length - 1 ? FrameFlag.More : 0;
      const entry = this.sender.push(flags | more, pieces[i] as Uint8Array, now, this.receiver.cumulativeAck);
      if (this.transmit(entry.bytes, 'reliable')) entry.sentAt = now;
    }
    if (this.receiver.ackDue) this.receiver.markAcked(); // the piggybacked ack told the peer
  }

  /** One encrypted message: seal every chunk for the next seqs, then push them all at once. */
  private async sendSealed(flags: number, payload: Uint8Array): Promise<void> {
    const cipher = await this.cipherPromise;
    if (this.closed) return;
    if (!cipher) throw new Error(this.cannotSendReason ?? `no end-to-end encryption keys for ${this.participant.name}`);
    const timestamp = Date.now();
    const pieces = chunk(payload, CHUNK_BYTES - DATA_HEADER_BYTES - DATA_SEAL_OVERHEAD_BYTES);
    const firstSeq = this.sender.lastSeq + 1;
    const headers = pieces.map((_, i) => ({ flags: flags | (i < pieces.length - 1 ? FrameFlag.More : 0), epoch: this.epoch, seq: firstSeq + i, timestamp }));
    const sealed = await Promise.all(pieces.map((piece, i) => cipher.sealData(headers[i]!, piece)));
    if (this.closed) return;
    if (this.sender.lastSeq + 1 !== firstSeq) throw new Error('internal: the sequence moved while sealing; message dropped');
    const now = Date.now();
    for (let i = 0; i < pieces.length; i++) {
      const h = headers[i]!;
      const entry = this.sender.push(h.flags, pieces[i]!, timestamp, this.receiver.cumulativeAck, (header) => {
        if (header.seq !== h.seq || header.epoch !== h.epoch || header.flags !== h.flags || header.timestamp !== h.timestamp) {
          throw new Error(`internal: DATA seq ${header.seq} was sealed for another header`);
        }
        return sealed[i]!;
      });
      if (this.transmit(entry.bytes, 'reliable')) entry.sentAt = now;
    }
    if (this.receiver.ackDue) this.receiver.markAcked();
    this.env.changed(this, 'sent');
  }

  // ---------------------------------------------------------------------------- receiving

  /** A Relayed payload from the hub: a base64 bundle of frames. */
  onRelayed(payloadBase64: string): void {
    let frames: Uint8Array[];
    try {
      frames = decodeBundle(fromBase64(payloadBase64));
    } catch (err) {
      this.env.warn(`bad relay bundle from ${this.participant.name}: ${errorText(err)}`);
      return;
    }
    for (const f of frames) this.onFrameBytes(f, 'relay', 'reliable');
  }

  private onFrameBytes(bytes: Uint8Array, path: LinkPath, channel: LinkChannel): void {
    if (this.closed) return;
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (err) {
      this.env.debug(`dropped a bad frame from ${this.participant.name} (${path}): ${errorText(err)}`);
      return;
    }
    this.lastHeard = Date.now();
    switch (frame.kind) {
      case FrameKind.Data:
        if (this.env.e2ee) {
          const f = frame;
          this.openSealed(f.flags, (cipher) => cipher.openData(f), (payload) => this.onData({ ...f, payload }, path));
        } else if (this.plaintext(frame.flags)) this.onData(frame, path);
        return;
      case FrameKind.Unreliable: {
        const f = frame;
        const emit = (payload: Uint8Array): void => this.emitMessage({ flags: f.flags, payload, timestamp: f.timestamp, firstSeq: 0 }, path, false);
        if (this.env.e2ee) this.openSealed(f.flags, (cipher) => cipher.openUnreliable(f), emit);
        else if (this.plaintext(f.flags)) emit(f.payload);
        return;
      }
      case FrameKind.Ack:
        if (frame.epoch === this.epoch) this.sender.onAck(frame.ack);
        return;
      case FrameKind.Ping:
        this.transmit(
          encodeFrame({ kind: FrameKind.Pong, nonce: frame.nonce, timestamp: frame.timestamp }),
          channel === 'reliable' && path === 'p2p' ? 'reliable' : 'unreliable',
        );
        return;
      case FrameKind.Pong:
        this.rtt = Math.max(0, Date.now() - frame.timestamp);
        return;
    }
  }

  /** E2EE off: sealed frames cannot be opened; they are dropped (before the reliable layer) with one warning. */
  private plaintext(flags: number): boolean {
    if ((flags & FrameFlag.Encrypted) === 0) return true;
    if (!this.encryptedWarned) {
      this.encryptedWarned = true;
      this.env.warn(`${this.participant.name} sends end-to-end encrypted messages — turn on E2EE (and rejoin) to read them`);
    }
    return false;
  }

  /**
   * E2EE on (peer-session.ts openPayload): an unsealed frame is dropped; a sealed one is opened on
   * the open chain and only its plaintext goes on (a frame that fails never reaches the reliable
   * layer, so a forgery cannot advance sequence numbers). Failures are warned about once per kind.
   */
  private openSealed(flags: number, open: (cipher: WebPeerCipher) => Promise<Uint8Array>, deliver: (payload: Uint8Array) => void): void {
    if ((flags & FrameFlag.Encrypted) === 0) {
      this.dropE2ee('plaintext', `dropped unencrypted messages from ${this.participant.name}: this page requires end-to-end encryption`);
      return;
    }
    this.openChain = this.openChain.then(async () => {
      const cipher = await this.cipherPromise;
      if (this.closed) return;
      if (!cipher) {
        this.dropE2ee('no-keys', `dropped encrypted messages from ${this.participant.name}: ${this.cannotSendReason ?? 'no end-to-end encryption keys for it'}`);
        return;
      }
      let payload: Uint8Array;
      try {
        payload = await open(cipher);
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        this.dropE2ee(typeof code === 'string' ? code : 'open', `from ${this.participant.name}: ${errorText(err)}`);
        return;
      }
      if (!this.closed) deliver(payload);
    });
  }

  private dropE2ee(kind: string, text: string): void {
    this.e2eeDropped++;
    if (!this.e2eeWarned.has(kind)) {
      this.e2eeWarned.add(kind);
      this.env.warn(text);
    }
    this.env.changed(this, 'e2ee drop');
  }

  private onData(frame: DataFrame, path: LinkPath): void {
    if (frame.ack > 0) this.sender.onAck(frame.ack);
    const { deliver, reset } = this.receiver.accept(frame);
    if (reset) this.assembler.reset();
    for (const f of deliver) {
      let message: AssembledMessage | undefined;
      try {
        message = this.assembler.add(f);
      } catch (err) {
        this.env.warn(`${this.participant.name}: ${errorText(err)}`);
        continue;
      }
      if (message) this.emitMessage(message, path, true);
    }
    this.framesSinceAck++;
    if (this.framesSinceAck >= ACK_EVERY_FRAMES) this.sendAck();
    else this.ackTimer ??= setTimeout(() => this.sendAck(), ACK_DELAY_MS);
  }

  private sendAck(): void {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    this.framesSinceAck = 0;
    const epoch = this.receiver.peerEpoch;
    if (epoch === undefined || this.closed) return;
    this.transmit(encodeFrame({ kind: FrameKind.Ack, epoch, ack: this.receiver.cumulativeAck }), 'reliable');
    this.receiver.markAcked();
  }

  private emitMessage(m: AssembledMessage, path: LinkPath, reliable: boolean): void {
    if (m.flags & FrameFlag.System) return; // an agent's own traffic (file transfer): not for a chat page
    this.counters.messagesReceived++;
    const isJson = (m.flags & FrameFlag.Json) !== 0;
    const isText = (m.flags & FrameFlag.Text) !== 0;
    const message: BrowserMessage = {
      id: reliable ? `${(this.receiver.peerEpoch ?? 0).toString(16)}-${m.firstSeq}` : `u-${m.timestamp}-${randomId(3)}`,
      from: this.peerId,
      name: this.participant.name,
      timestamp: m.timestamp,
      kind: 'binary',
      data: m.payload,
      path,
      reliable,
      encrypted: (m.flags & FrameFlag.Encrypted) !== 0,
    };
    if (isJson || isText) {
      const text = utf8Decoder.decode(m.payload);
      message.text = text;
      message.kind = isJson ? 'json' : 'text';
      message.data = text;
      if (isJson) {
        try {
          message.data = JSON.parse(text) as unknown;
        } catch {
          this.env.warn(`${this.participant.name} sent invalid JSON`);
          return;
        }
      }
    }
    this.env.deliver(message);
  }

  // ---------------------------------------------------------------------------- lifecycle

  /**
   * The heartbeat gave up on the peer, but the hub still lists it: it may be frozen, not gone. Drops
   * the P2P link and keeps everything else (sequence numbers, unacked frames, keys), so that
   * {@link resume} continues where it stopped, as the agent's room does (src/room/membership.ts).
   */
  suspend(reason: string): void {
    if (this.closed || this.suspended) return;
    this.suspended = true;
    this.clearIceTimer();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.relay.clear();
    const link = this.link;
    this.link = null;
    this.linkOpen = false;
    link?.close(reason);
    this.pathValue = 'none';
  }

  /** The peer turned out alive: back on the relay at once, resend what it has not acked, P2P afresh. */
  resume(): void {
    if (this.closed || !this.suspended) return;
    this.suspended = false;
    this.lastHeard = Date.now();
    this.retryAttempt = 0;
    this.updatePath('peer is back');
    // The peer may still hold the link we closed: as the answerer, ask the offerer for a new one.
    if (this.isOfferer) this.maybeStartP2P();
    else if (this.p2pPossible) this.env.signal(this.peerId, { type: 'restart' }).catch(() => undefined);
  }

  private suspended = false;

  /** Ends the session (peer left, room left). Idempotent. */
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.clearIceTimer();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    this.relay.clear();
    const link = this.link;
    this.link = null;
    this.linkOpen = false;
    link?.close(reason);
  }
}
