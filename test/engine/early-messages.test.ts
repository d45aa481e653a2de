/**
 * Messages a link gets before it is open (src/engine/early-messages.ts), and BrowserLink using it
 * over a scripted RTCPeerConnection: the channel events come in the order a browser may deliver
 * them, which a real one does not let a test choose. The native link's counterpart, over the real
 * node-datachannel, is in test/native/native-link.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_EARLY_MESSAGES_MAX_BYTES, EarlyMessages } from '../../src/engine/early-messages.js';
import { silentEngineLogger } from '../../src/engine/log.js';
import type { LinkChannel } from '../../src/engine/peer-link.js';
import { BrowserLink } from '../../src/transport/browser/browser-link.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (d: Uint8Array): string => new TextDecoder().decode(d);

describe('EarlyMessages', () => {
  it('hands out what it holds in arrival order, once', () => {
    const early = new EarlyMessages(100);
    expect(early.hold(bytes('a'), 'reliable')).toBe(true);
    expect(early.hold(bytes('b'), 'unreliable')).toBe(true);
    expect(early.hold(bytes('c'), 'reliable')).toBe(true);
    const got: string[] = [];
    early.release((d, ch) => got.push(`${ch} ${text(d)}`) > 0);
    expect(got).toEqual(['reliable a', 'unreliable b', 'reliable c']);
    early.release(() => {
      throw new Error('nothing is left to hand out');
    });
    expect(early.count).toBe(0);
  });

  it('past its byte bound drops unreliable messages and refuses reliable ones; stops handing out when told to', () => {
    const early = new EarlyMessages(10);
    expect(early.hold(new Uint8Array(6), 'reliable')).toBe(true);
    expect(early.hold(new Uint8Array(5), 'reliable')).toBe(false);
    expect(early.hold(new Uint8Array(5), 'unreliable')).toBe(true); // dropped, as if lost
    expect(early.count).toBe(1);
    expect(early.overflowReason).toBe('the peer sent more than 10 bytes before the link opened');
    expect(early.hold(new Uint8Array(4), 'reliable')).toBe(true);
    let calls = 0;
    early.release(() => ++calls < 1);
    expect(calls).toBe(1);
    expect(early.count).toBe(0);
    expect(early.hold(new Uint8Array(10), 'reliable')).toBe(true); // the bound starts again
  });
});

/** The parts of RTCDataChannel BrowserLink touches, with its events fired by the test. */
class ScriptedChannel {
  readyState: RTCDataChannelState = 'connecting';
  binaryType = 'blob';
  bufferedAmountLowThreshold = 0;
  onopen: (() => void) | null = null;
  onclose: (() => void) | null = null;
  onmessage: ((e: { data: ArrayBuffer | string }) => void) | null = null;
  onbufferedamountlow: (() => void) | null = null;
  constructor(readonly label: string) {}
  open(): void {
    this.readyState = 'open';
    this.onopen?.();
  }
  receive(data: ArrayBuffer | string): void {
    this.onmessage?.({ data });
  }
  close(): void {
    this.readyState = 'closed';
  }
}

/** An RTCPeerConnection that only records the channels the offerer creates. */
class ScriptedPeerConnection {
  static last: ScriptedPeerConnection | undefined;
  readonly channels = new Map<string, ScriptedChannel>();
  connectionState = 'new';
  iceConnectionState = 'new';
  onicecandidate = null;
  onconnectionstatechange = null;
  ondatachannel = null;
  oniceconnectionstatechange = null;
  constructor() {
    ScriptedPeerConnection.last = this;
  }
  createDataChannel(label: string): ScriptedChannel {
    const dc = new ScriptedChannel(label);
    this.channels.set(label, dc);
    return dc;
  }
  createOffer(): Promise<never> {
    return new Promise(() => undefined); // never needed: the test drives the channels directly
  }
  setLocalDescription(): Promise<void> {
    return Promise.resolve();
  }
  close(): void {
    this.connectionState = 'closed';
  }
}

function scriptedOfferer(): { link: BrowserLink; reliable: ScriptedChannel; unreliable: ScriptedChannel; events: string[] } {
  const link = new BrowserLink({ role: 'offerer', sessionId: 's1', iceServers: [], log: silentEngineLogger(), peerConnection: ScriptedPeerConnection as unknown as typeof RTCPeerConnection });
  link.start();
  const pc = ScriptedPeerConnection.last!;
  const events: string[] = [];
  link.on('open', () => events.push('open'));
  link.on('message', (d: Uint8Array, ch: LinkChannel) => events.push(`${ch} ${text(d)}`));
  link.on('close', (reason: string) => events.push(`close: ${reason}`));
  return { link, reliable: pc.channels.get('rtc-agent/reliable')!, unreliable: pc.channels.get('rtc-agent/unreliable')!, events };
}

describe('BrowserLink before it is open', () => {
  it('delivers, right after open, what came on one channel before the other opened', () => {
    const { link, reliable, unreliable, events } = scriptedOfferer();
    reliable.open();
    reliable.receive(bytes('early 1').buffer as ArrayBuffer);
    reliable.receive('early 2');
    expect(link.state).toBe('connecting');
    expect(events).toEqual([]);
    unreliable.open();
    expect(events).toEqual(['open', 'reliable early 1', 'reliable early 2']);
    reliable.receive('later');
    expect(events.at(-1)).toBe('reliable later');
    link.close();
  });

  it('drops what it held when it closes before opening', () => {
    const { link, reliable, unreliable, events } = scriptedOfferer();
    reliable.open();
    reliable.receive('early');
    link.close();
    unreliable.open();
    expect(events.filter((e) => !e.startsWith('close'))).toEqual([]);
  });

  it('closes the link, naming why, when the peer sends more than the bound before open', () => {
    const { link, reliable, events } = scriptedOfferer();
    reliable.open();
    const mib = new ArrayBuffer(1024 * 1024);
    for (let i = 0; i <= DEFAULT_EARLY_MESSAGES_MAX_BYTES / mib.byteLength; i++) reliable.receive(mib);
    expect(link.state).toBe('closed');
    expect(events).toEqual([`close: p2p failed: the peer sent more than ${DEFAULT_EARLY_MESSAGES_MAX_BYTES} bytes before the link opened`]);
  });

  it('drops unreliable messages past the bound, as lost datagrams, and stays up', () => {
    const { link, reliable, unreliable, events } = scriptedOfferer();
    unreliable.open();
    const mib = new ArrayBuffer(1024 * 1024);
    const fit = DEFAULT_EARLY_MESSAGES_MAX_BYTES / mib.byteLength;
    for (let i = 0; i < fit + 3; i++) unreliable.receive(mib);
    expect(link.state).toBe('connecting');
    reliable.open();
    expect(events[0]).toBe('open');
    expect(events.slice(1)).toHaveLength(fit);
    link.close();
  });
});
