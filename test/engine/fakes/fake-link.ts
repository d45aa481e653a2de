/**
 * P2P links in memory for the engine's unit suite: a {@link PeerLinkFactory} per agent whose links
 * pair up by session id (the offerer's link and the answerer's link of one negotiation), exchange
 * fake descriptions and candidates through the engine's signalling (so the hub carries them as it
 * carries real ones), and then open, fail, close, drop or hold traffic when the test says so.
 *
 * Platform-neutral (no Node APIs): the same fakes run under Node and inside Chromium. Everything
 * happens in microtasks, never on timers, so `vi.getTimerCount()` counts only the engine's timers.
 */
import { ErrorCode, RtcAgentError } from '../../../src/errors.js';
import type { SignalPayload } from '../../../src/protocol/room-contract.js';
import type { LinkChannel, LinkState, PeerLink, PeerLinkEvents, PeerLinkFactory, PeerLinkOptions, PeerLinkStats } from '../../../src/engine/peer-link.js';

type Listeners = { [K in keyof PeerLinkEvents]: ((...args: PeerLinkEvents[K]) => void)[] };

/** Buffered amount at or below which a fake link reports `bufferedLow` (as a DataChannel's threshold). */
export const FAKE_LINK_LOW_BYTES = 256 * 1024;

export class FakeLink implements PeerLink {
  readonly role: 'offerer' | 'answerer';
  readonly sessionId: string;
  /** The agent whose factory made this link. */
  readonly owner: string;
  stateValue: LinkState = 'connecting';
  /** Every frame handed to send(), by channel (what the engine put on the wire). */
  readonly sent: { channel: LinkChannel; data: Uint8Array }[] = [];
  closeReason: string | undefined;
  private started = false;
  private readonly buffered: Record<LinkChannel, number> = { reliable: 0, unreliable: 0 };
  private readonly listeners: Listeners = { signal: [], iceConnected: [], open: [], message: [], bufferedLow: [], close: [] };
  private bytesSent = 0;
  private bytesReceived = 0;

  constructor(
    options: PeerLinkOptions,
    owner: string,
    private readonly pair: FakeLinkPair,
  ) {
    this.role = options.role;
    this.sessionId = options.sessionId;
    this.owner = owner;
  }

  get state(): LinkState {
    return this.stateValue;
  }

  on<K extends keyof PeerLinkEvents>(event: K, listener: (...args: PeerLinkEvents[K]) => void): this {
    (this.listeners[event] as unknown[]).push(listener);
    return this;
  }

  emit<K extends keyof PeerLinkEvents>(event: K, ...args: PeerLinkEvents[K]): void {
    for (const l of [...this.listeners[event]]) (l as (...a: PeerLinkEvents[K]) => void)(...args);
  }

  start(): void {
    if (this.role !== 'offerer' || this.started || this.stateValue === 'closed') return;
    this.started = true;
    this.signalLater({ type: 'description', sdpType: 'offer', sdp: `fake-offer ${this.sessionId}`, sessionId: this.sessionId });
  }

  handleSignal(signal: SignalPayload): void {
    if (this.stateValue === 'closed') return;
    if ('sessionId' in signal && signal.sessionId !== undefined && signal.sessionId !== this.sessionId) return; // another negotiation's
    if (signal.type === 'candidate') {
      this.pair.candidatesSeen++;
      return;
    }
    if (signal.type !== 'description') return;
    if (signal.sdpType === 'offer' && this.role === 'answerer') {
      this.pair.offerReached = true;
      this.signalLater({ type: 'description', sdpType: 'answer', sdp: `fake-answer ${this.sessionId}`, sessionId: this.sessionId });
    } else if (signal.sdpType === 'answer' && this.role === 'offerer') {
      this.pair.answerReached = true;
      if (this.pair.network.autoOpen) queueMicrotask(() => this.pair.open());
    }
  }

  /** Descriptions go out after the caller's turn, each followed by one candidate, as real stacks trickle. */
  private signalLater(description: SignalPayload): void {
    queueMicrotask(() => {
      if (this.stateValue === 'closed') return;
      this.emit('signal', description);
      this.emit('signal', { type: 'candidate', candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 9 typ host', mid: '0', sessionId: this.sessionId });
    });
  }

  send(channel: LinkChannel, data: Uint8Array): void {
    if (this.stateValue !== 'open') throw new RtcAgentError(ErrorCode.LINK_NOT_OPEN, `fake link ${this.sessionId} is ${this.stateValue}`);
    this.sent.push({ channel, data });
    this.bytesSent += data.length;
    this.pair.carry(this, channel, data.slice());
  }

  /** The remote side's bytes arrive (called by the pair). */
  receive(channel: LinkChannel, data: Uint8Array): void {
    if (this.stateValue !== 'open') return;
    this.bytesReceived += data.length;
    this.emit('message', data, channel);
  }

  bufferedAmount(channel: LinkChannel): number {
    return this.buffered[channel];
  }

  /** Sets what bufferedAmount() reports; falling to the low threshold emits `bufferedLow`, as a DataChannel does. */
  setBufferedAmount(channel: LinkChannel, bytes: number): void {
    const before = this.buffered[channel];
    this.buffered[channel] = bytes;
    if (before > FAKE_LINK_LOW_BYTES && bytes <= FAKE_LINK_LOW_BYTES && this.stateValue === 'open') queueMicrotask(() => this.emit('bufferedLow', channel));
  }

  stats(): PeerLinkStats {
    return { bytesSent: this.bytesSent, bytesReceived: this.bytesReceived, localCandidateType: 'host', remoteCandidateType: 'host', rttMs: 1 };
  }

  /** Called by the engine (or the pair). The remote side closes too, a moment later, as a peer connection does. */
  close(reason = 'closed'): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    this.closeReason = reason;
    queueMicrotask(() => this.emit('close', reason));
    const other = this.pair.other(this);
    if (other && other.stateValue !== 'closed') queueMicrotask(() => other.close('remote closed'));
  }

  /** Opens this side (called by the pair). */
  opened(): void {
    if (this.stateValue !== 'connecting') return;
    this.stateValue = 'open';
    this.emit('open');
  }
}

/** One negotiation: the offerer's link and, once the offer reached the answerer, the answerer's. */
export class FakeLinkPair {
  offerer: FakeLink | undefined;
  answerer: FakeLink | undefined;
  offerReached = false;
  answerReached = false;
  candidatesSeen = 0;
  /** Owners whose sends vanish (a black hole in that direction). */
  readonly dropFrom = new Set<string>();
  /** Owners whose sends are held until {@link release}. */
  readonly holdFrom = new Set<string>();
  private held: { from: FakeLink; channel: LinkChannel; data: Uint8Array }[] = [];

  constructor(
    readonly network: FakeLinkNetwork,
    readonly sessionId: string,
  ) {}

  get links(): FakeLink[] {
    return [this.offerer, this.answerer].filter((l): l is FakeLink => l !== undefined);
  }

  other(link: FakeLink): FakeLink | undefined {
    return link === this.offerer ? this.answerer : this.offerer;
  }

  /** Both sides, by owner. */
  side(owner: string): FakeLink {
    const link = this.links.find((l) => l.owner === owner);
    if (!link) throw new Error(`fake link pair ${this.sessionId} has no side of '${owner}'`);
    return link;
  }

  get isOpen(): boolean {
    return this.offerer?.state === 'open' && this.answerer?.state === 'open';
  }

  get isClosed(): boolean {
    return this.links.every((l) => l.state === 'closed');
  }

  /** ICE and DTLS succeeded: both sides open. Needs both sides (the offer must have reached the answerer). */
  open(): void {
    if (!this.offerer || !this.answerer) throw new Error(`fake link pair ${this.sessionId} cannot open: the offer never reached an answerer`);
    if (this.offerer.state !== 'connecting' || this.answerer.state !== 'connecting') return;
    this.offerer.opened();
    this.answerer.opened();
  }

  /** ICE found a pair (both sides say so); DTLS and SCTP are still to come (open() or fail()). */
  iceUp(): void {
    for (const l of this.links) if (l.state === 'connecting') l.emit('iceConnected');
  }

  /** Only one side's connection fails (the other stays connecting, as with a one-sided DTLS error). */
  failOne(side: 'offerer' | 'answerer', reason = 'ICE/DTLS failed'): void {
    const l = side === 'offerer' ? this.offerer : this.answerer;
    if (!l || l.state === 'closed') return;
    l.stateValue = 'closed';
    l.closeReason = reason;
    queueMicrotask(() => l.emit('close', reason));
  }

  /** The connection fails (ICE failed, DTLS closed): both sides close with `reason`. */
  fail(reason = 'ice failed'): void {
    for (const l of this.links) {
      if (l.state === 'closed') continue;
      l.stateValue = 'closed';
      l.closeReason = reason;
      queueMicrotask(() => l.emit('close', reason));
    }
  }

  carry(from: FakeLink, channel: LinkChannel, data: Uint8Array): void {
    if (this.dropFrom.has(from.owner)) return;
    if (this.holdFrom.has(from.owner)) {
      this.held.push({ from, channel, data });
      return;
    }
    queueMicrotask(() => this.other(from)?.receive(channel, data));
  }

  /** Lets held traffic go, in order (what the link itself still delivers; a closed side drops it). */
  release(owner?: string): void {
    if (owner) this.holdFrom.delete(owner);
    else this.holdFrom.clear();
    const go = this.held.filter((h) => !this.holdFrom.has(h.from.owner));
    this.held = this.held.filter((h) => this.holdFrom.has(h.from.owner));
    for (const h of go) queueMicrotask(() => this.other(h.from)?.receive(h.channel, h.data));
  }
}

/** The in-memory "network" the fake links of every agent in a test share. */
export class FakeLinkNetwork {
  /** Negotiations by session id, in creation order. */
  readonly pairs = new Map<string, FakeLinkPair>();
  /** Open every pair as soon as the answer reached the offerer (tests that are not about opening). */
  autoOpen = false;
  /** Applied to every new pair (e.g. hold traffic of a frozen agent on links made later). */
  readonly holdOwners = new Set<string>();

  factory(owner: string): FakeLinkFactory {
    return new FakeLinkFactory(this, owner);
  }

  pairFor(sessionId: string): FakeLinkPair {
    let pair = this.pairs.get(sessionId);
    if (!pair) {
      pair = new FakeLinkPair(this, sessionId);
      for (const o of this.holdOwners) pair.holdFrom.add(o);
      this.pairs.set(sessionId, pair);
    }
    return pair;
  }

  /** Pairs whose offerer is `owner`, oldest first. */
  offeredBy(owner: string): FakeLinkPair[] {
    return [...this.pairs.values()].filter((p) => p.offerer?.owner === owner);
  }

  /** The newest pair offered by `owner`. */
  latest(owner: string): FakeLinkPair {
    const pairs = this.offeredBy(owner);
    const pair = pairs[pairs.length - 1];
    if (!pair) throw new Error(`'${owner}' has offered no link`);
    return pair;
  }

  /** Holds (true) or releases (false) everything `owner` sends on every link, now and later. */
  hold(owner: string, on: boolean): void {
    if (on) this.holdOwners.add(owner);
    else this.holdOwners.delete(owner);
    for (const p of this.pairs.values()) {
      if (on) p.holdFrom.add(owner);
      else p.release(owner);
    }
  }
}

export class FakeLinkFactory implements PeerLinkFactory {
  readonly created: FakeLink[] = [];
  /** The next N create() calls throw, as a platform out of peer connections does. */
  failNextCreates = 0;

  constructor(
    readonly network: FakeLinkNetwork,
    readonly owner: string,
  ) {}

  create(options: PeerLinkOptions): FakeLink {
    if (this.failNextCreates > 0) {
      this.failNextCreates--;
      throw new RtcAgentError(ErrorCode.P2P_FAILED, 'fake factory: no peer connection available');
    }
    const pair = this.network.pairFor(options.sessionId);
    const link = new FakeLink(options, this.owner, pair);
    if (options.role === 'offerer') pair.offerer = link;
    else pair.answerer = link;
    this.created.push(link);
    return link;
  }

  /** Links of this factory's agent that are not closed. */
  get live(): FakeLink[] {
    return this.created.filter((l) => l.state !== 'closed');
  }
}
