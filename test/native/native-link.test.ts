/**
 * NativeLink against the real node-datachannel: two links in this process wired to each other
 * directly, ICE on loopback only (bindAddress 127.0.0.1, no STUN/TURN). Each test backs an entry
 * of native-notes.md.
 */
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { ErrorCode, isRtcAgentError } from '../../src/errors.js';
import type { SignalPayload } from '../../src/protocol/room-contract.js';
import type { AvailableNativeBinding, NativeApi, NativeDataChannel, NativePeerConnection, NativeRtcConfig } from '../../src/transport/native/binding.js';
import { waitUntil } from '../helpers/wait.js';
import {
  DEFAULT_BUFFERED_LOW_BYTES,
  DEFAULT_LOCAL_MAX_MESSAGE_SIZE,
  answerAsDtlsServer,
  type NativeLink,
} from '../../src/transport/native/native-link.js';
import { toNativeIceServers } from '../../src/transport/native/ice-servers.js';
import type { LinkChannel } from '../../src/engine/peer-link.js';
import { LOOPBACK, makeLink, nextEvent, openPair, wire, type Pair } from './fixtures/pair.js';
import { nativeBinding } from './fixtures/pair.js';

let binding: AvailableNativeBinding;

beforeAll(async () => {
  binding = await nativeBinding();
});

async function usePair(options: Parameters<typeof openPair>[1] = {}): Promise<Pair> {
  const pair = await openPair(binding, options);
  onTestFinished(() => pair.close());
  return pair;
}

function useLink(role: 'offerer' | 'answerer', overrides: Parameters<typeof makeLink>[2] = {}): NativeLink {
  const link = makeLink(binding, role, overrides);
  onTestFinished(() => link.close());
  return link;
}

/** Collects `count` messages of one channel. */
function collect(link: NativeLink, channel: LinkChannel, count: number, ms = 5_000): Promise<Uint8Array[]> {
  return new Promise((resolve, reject) => {
    const got: Uint8Array[] = [];
    const onMessage = (data: Uint8Array, ch: LinkChannel): void => {
      if (ch !== channel) return;
      got.push(Uint8Array.from(data));
      if (got.length === count) {
        clearTimeout(timer);
        link.off('message', onMessage);
        resolve(got);
      }
    };
    const timer = setTimeout(() => {
      link.off('message', onMessage);
      reject(new Error(`only ${got.length}/${count} ${channel} messages within ${ms} ms`));
    }, ms);
    link.on('message', onMessage);
  });
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/**
 * The binding, except that the offerer's `heldLabel` channel reports itself open only when the
 * test says so, and the test hears of every message its other channels receive: the order in
 * which node-datachannel delivers one channel's open event and another channel's first message
 * is not fixed, and this pins the one that used to lose messages.
 */
function holdingChannelOpen(real: AvailableNativeBinding, heldLabel: string): { binding: AvailableNativeBinding; arrived: () => number; release: () => void } {
  let held: (() => void) | undefined;
  let released = false;
  let arrived = 0;
  const forward = <T extends object>(target: T, own: Record<string, unknown>): T =>
    new Proxy(target, {
      get(t, prop) {
        if (typeof prop === 'string' && prop in own) return own[prop];
        const value = Reflect.get(t, prop) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(t) : value;
      },
    });
  function PeerConnection(name: string, config: NativeRtcConfig): NativePeerConnection {
    const pc = new real.api.PeerConnection(name, config);
    return forward(pc, {
      createDataChannel: (label: string, init?: Parameters<NativePeerConnection['createDataChannel']>[1]): NativeDataChannel => {
        const dc = pc.createDataChannel(label, init);
        if (label === heldLabel) {
          return forward(dc, {
            onOpen: (cb: () => void) => void (held = cb),
            isOpen: () => released && dc.isOpen(),
          });
        }
        return forward(dc, {
          onMessage: (cb: Parameters<NativeDataChannel['onMessage']>[0]) =>
            dc.onMessage((msg) => {
              arrived++;
              cb(msg);
            }),
        });
      },
    });
  }
  return {
    binding: { ...real, api: { ...real.api, PeerConnection: PeerConnection as unknown as NativeApi['PeerConnection'] } },
    arrived: () => arrived,
    release: () => {
      released = true;
      held?.();
    },
  };
}
const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

describe('NativeLink (real node-datachannel, loopback)', () => {
  it('opens and carries text and binary both ways on both channels', async () => {
    const { offerer, answerer } = await usePair();
    expect(offerer.state).toBe('open');
    expect(answerer.state).toBe('open');

    for (const channel of ['reliable', 'unreliable'] as const) {
      for (const [from, to] of [
        [offerer, answerer],
        [answerer, offerer],
      ] as const) {
        const sent = [text(`hello ${channel} from the ${from.role} ✓`), bytes(1000, 7), new Uint8Array([0, 255, 0, 1]), bytes(60_000, 3)];
        const received = collect(to, channel, sent.length);
        for (const data of sent) from.send(channel, data);
        const got = await received;
        const key = (d: Uint8Array): string => Buffer.from(d).toString('base64');
        if (channel === 'reliable') expect(got.map(key)).toEqual(sent.map(key));
        else expect(got.map(key).sort()).toEqual(sent.map(key).sort()); // unordered channel
      }
    }
    const stats = offerer.stats();
    expect(stats.bytesSent).toBeGreaterThan(120_000);
    expect(stats.bytesReceived).toBeGreaterThan(120_000);
    expect(stats.localCandidateType).toBe('host');
    // The offerer often learns the answerer's address from its ICE checks before its candidate.
    expect(['host', 'prflx']).toContain(stats.remoteCandidateType);
  });

  it('delivers, right after open, what the peer sent on one channel before the other channel opened', async () => {
    const held = holdingChannelOpen(binding, 'rtc-agent/unreliable');
    const offerer = makeLink(held.binding, 'offerer');
    const answerer = useLink('answerer');
    onTestFinished(() => offerer.close());
    wire(offerer, answerer);
    wire(answerer, offerer);
    const events: string[] = [];
    offerer.on('open', () => events.push('open'));
    offerer.on('message', (data, channel) => events.push(`${channel} ${new TextDecoder().decode(data)}`));
    const answererOpen = nextEvent(answerer, 'open');
    answerer.start();
    offerer.start();
    await answererOpen; // its channels arrive open, so it may send at once
    for (const n of [1, 2, 3]) answerer.send('reliable', text(`early ${n}`));
    await waitUntil(() => held.arrived() === 3, { what: "the offerer's reliable channel to receive the three messages" });
    expect(offerer.state).toBe('connecting');
    expect(events).toEqual([]);
    const opened = nextEvent(offerer, 'open');
    held.release();
    await opened;
    expect(events).toEqual(['open', 'reliable early 1', 'reliable early 2', 'reliable early 3']);
    const later = collect(offerer, 'reliable', 1);
    answerer.send('reliable', text('after open'));
    expect(new TextDecoder().decode((await later)[0])).toBe('after open');
  });

  it('sends only the bytes of a Uint8Array view, not the rest of its ArrayBuffer (frames are cut from a slab)', async () => {
    const { offerer, answerer } = await usePair();
    const slab = new Uint8Array(64).fill(0xee);
    const views = [slab.subarray(8, 8 + 13).fill(1), slab.subarray(24, 24 + 30).fill(2), slab.subarray(63, 64).fill(3)];
    const received = collect(answerer, 'reliable', views.length);
    for (const v of views) offerer.send('reliable', v);
    expect((await received).map((d) => Array.from(d))).toEqual(views.map((v) => Array.from(v)));
  });

  it('queues remote candidates that arrive before the description (no abort)', async () => {
    const offerer = useLink('offerer');
    const answerer = useLink('answerer');
    // Hold each side's signals until its description and a candidate were emitted, then deliver the
    // candidates FIRST and the description last; later signals pass straight through.
    let reordered = 0;
    const reorderInto = (from: NativeLink, to: NativeLink): void => {
      const held: SignalPayload[] = [];
      let released = false;
      from.on('signal', (signal) => {
        if (released) return void setImmediate(() => to.handleSignal(signal));
        held.push(signal);
        if (held.some((s) => s.type === 'description') && held.some((s) => s.type === 'candidate')) {
          released = true;
          const order = [...held.filter((s) => s.type === 'candidate'), ...held.filter((s) => s.type !== 'candidate')];
          reordered += order.findIndex((s) => s.type === 'description');
          setImmediate(() => order.forEach((s) => to.handleSignal(s)));
        }
      });
    };
    reorderInto(offerer, answerer);
    reorderInto(answerer, offerer);
    const opened = Promise.all([nextEvent(offerer, 'open'), nextEvent(answerer, 'open')]);
    offerer.start();
    answerer.start();
    await opened;
    expect(reordered).toBeGreaterThanOrEqual(2); // at least one candidate went first, each way
    const got = nextEvent(answerer, 'message');
    offerer.send('reliable', text('after reordering'));
    expect(Buffer.from((await got)[0]).toString()).toBe('after reordering');
  });

  it('sends its own description before its candidates', async () => {
    const offerer = useLink('offerer');
    const signals: SignalPayload[] = [];
    offerer.on('signal', (s) => signals.push(s));
    const candidate = nextEvent(offerer, 'signal', 5_000, (s) => s.type === 'candidate');
    offerer.start();
    await candidate;
    expect(signals[0]?.type).toBe('description');
  });

  it('gathers only 127.0.0.1 host candidates with bindAddress 127.0.0.1', async () => {
    const offerer = useLink('offerer');
    const candidates: string[] = [];
    offerer.on('signal', (s) => {
      if (s.type === 'candidate') candidates.push(s.candidate);
    });
    const first = nextEvent(offerer, 'signal', 5_000, (s) => s.type === 'candidate');
    offerer.start();
    await first;
    expect(candidates.length).toBeGreaterThan(0);
    // W3C form, as browsers' addIceCandidate takes it: "candidate:…", never the SDP line "a=candidate:…".
    for (const c of candidates) expect(c).toMatch(new RegExp(`^candidate:\\S+ \\d+ (UDP|udp) \\d+ ${LOOPBACK.replace(/\./g, '\\.')} \\d+ typ host`));
    const { offerer: o, answerer: a } = await usePair();
    expect(o.stats().localCandidateType).toBe('host');
    expect(a.stats().localCandidateType).toBe('host');
  });

  // native-notes.md#dtls-role-and-the-1-s-setup. What the role costs in setup time (libdatachannel's
  // default is ~1 s in some setups) is a measurement, not a test: `npm run bench -- --only dtls-role`.
  it('the answerer takes the DTLS server role: its answer says a=setup:passive, the offer on the wire keeps actpass', async () => {
    const { offer, answer } = await openRecordingDescriptions({});
    expect(setupLines(offer)).toEqual(['a=setup:actpass']);
    // passive = DTLS server (RFC 8842 §5.3): the offerer, as client, starts DTLS once it has this answer.
    expect(setupLines(answer)).toEqual(['a=setup:passive']);
  });

  it("without the workaround libdatachannel's answerer says a=setup:active (DTLS client), which the workaround exists to avoid", async () => {
    const { offer, answer } = await openRecordingDescriptions({ answerAsDtlsServer: false });
    expect(setupLines(offer)).toEqual(['a=setup:actpass']);
    expect(setupLines(answer)).toEqual(['a=setup:active']);
  });

  it('refuses a send above the max-message-size with a clear error and stays usable', async () => {
    const { offerer, answerer } = await usePair({ answerer: { maxMessageSize: 65_536 } });
    expect(answerer.remoteMaxMessageSize).toBe(DEFAULT_LOCAL_MAX_MESSAGE_SIZE);
    expect(offerer.remoteMaxMessageSize).toBe(65_536);
    // libdatachannel enforces its own advertised limit on send too, so the answerer's is 64 KiB.
    expect(offerer.maxSendSize).toBe(65_536);
    expect(answerer.maxSendSize).toBe(65_536);

    let error: unknown;
    try {
      offerer.send('reliable', new Uint8Array(65_537));
    } catch (err) {
      error = err;
    }
    expect(isRtcAgentError(error, ErrorCode.MESSAGE_TOO_LARGE)).toBe(true);
    expect((error as Error).message).toMatch(/65537-byte message exceeds the remote peer's max-message-size of 65536 bytes/);
    expect(() => answerer.send('unreliable', new Uint8Array(65_537))).toThrow(/exceeds the local max-message-size of 65536/);

    expect(offerer.state).toBe('open');
    const got = collect(answerer, 'reliable', 1);
    offerer.send('reliable', bytes(65_536, 1));
    expect((await got)[0]!.byteLength).toBe(65_536);
    const back = collect(offerer, 'unreliable', 1);
    answerer.send('unreliable', bytes(65_536, 2));
    expect((await back)[0]!.byteLength).toBe(65_536);
  });

  it('carries 1 MiB messages when both sides raise maxMessageSize', async () => {
    const mib = 1024 * 1024;
    const { offerer, answerer } = await usePair({ offerer: { maxMessageSize: mib }, answerer: { maxMessageSize: mib } });
    expect(offerer.maxSendSize).toBe(mib);
    const got = collect(answerer, 'reliable', 1);
    offerer.send('reliable', bytes(mib, 5));
    expect(Buffer.from((await got)[0]!).equals(Buffer.from(bytes(mib, 5)))).toBe(true);
  });

  it('emits bufferedLow when a burst drains', async () => {
    const { offerer, answerer } = await usePair();
    const chunk = bytes(64 * 1024, 9);
    const count = 64; // 4 MiB, far above the 256 KiB threshold
    const received = collect(answerer, 'reliable', count, 20_000);
    // Edge-triggered: under load it can also fire mid-burst; wait for the one after the drain.
    const low = nextEvent(offerer, 'bufferedLow', 20_000, (ch) => ch === 'reliable' && offerer.bufferedAmount('reliable') <= DEFAULT_BUFFERED_LOW_BYTES);
    let peak = 0;
    for (let i = 0; i < count; i++) {
      offerer.send('reliable', chunk);
      peak = Math.max(peak, offerer.bufferedAmount('reliable'));
    }
    expect(peak).toBeGreaterThan(DEFAULT_BUFFERED_LOW_BYTES);
    await low;
    expect(offerer.bufferedAmount('reliable')).toBeLessThanOrEqual(DEFAULT_BUFFERED_LOW_BYTES);
    expect((await received).length).toBe(count);
  });

  it('emits close exactly once on both sides; close() is idempotent and send() then throws', async () => {
    const { offerer, answerer } = await usePair();
    const delivered = nextEvent(answerer, 'message');
    offerer.send('reliable', text('before close'));
    await delivered;
    const closes = { offerer: [] as string[], answerer: [] as string[] };
    offerer.on('close', (r) => closes.offerer.push(r));
    answerer.on('close', (r) => closes.answerer.push(r));
    const answererClosed = nextEvent(answerer, 'close');
    offerer.close('test done');
    offerer.close();
    offerer.close('again');
    await answererClosed; // the remote side notices the channel closing
    answerer.close();
    // The scenario is a negative check ("no second close"), so it needs a window: stray native
    // callbacks get 200 ms to (wrongly) fire. Nothing is awaited through this wait.
    await new Promise((r) => setTimeout(r, 200));
    expect(closes.offerer).toEqual(['test done']);
    expect(closes.answerer).toHaveLength(1);
    expect(closes.answerer[0]).toMatch(/channel closed|peer connection closed/);
    expect(offerer.state).toBe('closed');
    expect(() => offerer.send('reliable', text('x'))).toThrow(expect.objectContaining({ code: ErrorCode.LINK_NOT_OPEN }));
    expect(offerer.bufferedAmount('reliable')).toBe(0);
    expect(offerer.stats().bytesSent).toBeGreaterThan(0); // last figures survive close
  });

  it('ignores signals of another session', async () => {
    const offerer = useLink('offerer', { sessionId: 'session-A' });
    const answerer = useLink('answerer', { sessionId: 'session-A' });
    const stranger = useLink('offerer', { sessionId: 'session-B' });
    const answererSignals: SignalPayload[] = [];
    answerer.on('signal', (s) => answererSignals.push(s));

    // The stranger's offer and candidates, and the offerer's own offer re-labelled, must not reach
    // the answerer's PeerConnection; had they, the real offer would be a second description and fail.
    stranger.on('signal', (s) => answerer.handleSignal(s));
    const strangerOffer = nextEvent(stranger, 'signal', 5_000, (s) => s.type === 'description');
    stranger.start();
    const [offer] = await strangerOffer;
    answerer.handleSignal({ ...offer, sessionId: undefined } as SignalPayload);
    answerer.handleSignal({ type: 'bye', reason: 'not for links' });

    wire(offerer, answerer);
    wire(answerer, offerer);
    const opened = Promise.all([nextEvent(offerer, 'open'), nextEvent(answerer, 'open')]);
    offerer.start();
    await opened;
    expect(answererSignals.filter((s) => s.type === 'description')).toHaveLength(1);
    expect(answererSignals.every((s) => s.type !== 'bye' && 'sessionId' in s && s.sessionId === 'session-A')).toBe(true);
    expect(stranger.state).toBe('connecting');
  });
});

/**
 * Opens a pair with hub-like signalling latency (30 ms each way), recording the offer and the
 * answer as they went over the "wire"; the link carries a message once open.
 */
async function openRecordingDescriptions(answererOverrides: Parameters<typeof makeLink>[2]): Promise<{ offer: string; answer: string }> {
  const offerer = useLink('offerer');
  const answerer = useLink('answerer', answererOverrides);
  const sdp: Record<'offer' | 'answer', string[]> = { offer: [], answer: [] };
  for (const link of [offerer, answerer]) {
    link.on('signal', (s) => {
      if (s.type === 'description') sdp[s.sdpType].push(s.sdp);
    });
  }
  wire(offerer, answerer, 30);
  wire(answerer, offerer, 30);
  const opened = Promise.all([nextEvent(offerer, 'open', 15_000), nextEvent(answerer, 'open', 15_000)]);
  answerer.start();
  offerer.start();
  await opened;
  const got = nextEvent(answerer, 'message');
  offerer.send('reliable', text('through the negotiated DTLS'));
  expect(Buffer.from((await got)[0]).toString()).toBe('through the negotiated DTLS');
  expect(sdp.offer).toHaveLength(1);
  expect(sdp.answer).toHaveLength(1);
  return { offer: sdp.offer[0]!, answer: sdp.answer[0]! };
}

function setupLines(sdp: string): string[] {
  return sdp.split(/\r?\n/).filter((l) => l.startsWith('a=setup:'));
}

describe('answerAsDtlsServer', () => {
  it("reads only a=setup:actpass lines as active, CRLF or LF, and leaves every other line alone", () => {
    const offer = ['v=0', 'm=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'a=setup:actpass', 'a=x-setup:actpass', 'a=setup:actpass-ish', 'a=mid:0', ''];
    expect(answerAsDtlsServer(offer.join('\r\n'))).toBe(offer.join('\r\n').replace('a=setup:actpass\r\n', 'a=setup:active\r\n'));
    expect(answerAsDtlsServer(offer.join('\n')).split('\n')).toEqual(offer.map((l) => (l === 'a=setup:actpass' ? 'a=setup:active' : l)));
    expect(answerAsDtlsServer('a=setup:active\r\na=setup:passive\r\n')).toBe('a=setup:active\r\na=setup:passive\r\n');
  });
});

describe('toNativeIceServers', () => {
  it('converts W3C ICE servers to libdatachannel strings, URL-encoding credentials', () => {
    expect(
      toNativeIceServers([
        { urls: 'stun:stun.example.org:3478' },
        { urls: ['turn:turn.example.org:3478?transport=tcp', 'turns:turn.example.org:443'], username: 'u@ser:1', credential: 'p/ss:w@rd' },
        { urls: 'turn:user:pass@turn.example.org' },
      ]),
    ).toEqual([
      'stun:stun.example.org:3478',
      'turn:u%40ser%3A1:p%2Fss%3Aw%40rd@turn.example.org:3478?transport=tcp',
      'turns:u%40ser%3A1:p%2Fss%3Aw%40rd@turn.example.org:443',
      'turn:user:pass@turn.example.org',
    ]);
    expect(() => toNativeIceServers([{ urls: 'http://example.org' }])).toThrow(expect.objectContaining({ code: ErrorCode.CONFIG }));
  });
});
