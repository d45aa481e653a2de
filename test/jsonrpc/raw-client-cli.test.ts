/**
 * Issue 14's "done when": a raw JSON-RPC 2.0 client — plain `ws` for signaling and node-datachannel
 * for WebRTC, directly in this test, no project code — joins a room on the real `rtc-agent hub`
 * (the dist/ CLI in its own process) and opens a DataChannel with a CLI agent (`rtc-agent pipe`),
 * and each side reads what the other sends over it. What the raw client must know of rtc-agent is
 * what docs/jsonrpc.md says to another stack: the lower peer id offers, the two channel labels,
 * and a DATA frame's layout (src/protocol/frames.ts) to read and write text.
 */
import nodeDataChannel from 'node-datachannel';
import { describe, expect, it, onTestFinished } from 'vitest';
import { RawRpc } from '../helpers/raw-jsonrpc.js';
import { cli } from '../cli/helpers.js';

const RELIABLE = 'rtc-agent/reliable';
const UNRELIABLE = 'rtc-agent/unreliable';

/** DATA frame: version 1 / kind 1, flags (2 = text), epoch u32, seq u32, ack u32, timestamp f64, payload. */
function textFrame(text: string, seq: number, epoch: number): Buffer {
  const payload = Buffer.from(text, 'utf8');
  const header = Buffer.alloc(22);
  header.writeUInt8(0x11, 0);
  header.writeUInt8(2, 1);
  header.writeUInt32BE(epoch, 2);
  header.writeUInt32BE(seq, 6);
  header.writeUInt32BE(0, 10);
  header.writeDoubleBE(Date.now(), 14);
  return Buffer.concat([header, payload]);
}

/** The text of a DATA frame, or undefined for any other frame (acks, pings). */
function textOf(frame: Buffer): string | undefined {
  if (frame.length < 22 || frame.readUInt8(0) !== 0x11) return undefined;
  return frame.subarray(22).toString('utf8');
}

/** `promise`, or a failure naming what did not happen in time (a guard, not synchronisation). */
async function within<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what()}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

describe('raw JSON-RPC client and a CLI agent on rtc-agent hub', () => {
  it.each(['offerer', 'answerer'] as const)('join one room; the DataChannel opens and carries text both ways (raw client as %s)', async (role) => {
    const hub = cli(['hub', '--port', '0'], { stdin: 'ignore' });
    const hubUrl = await hub.waitFor((l) => /^http:\/\/127\.0\.0\.1:\d+\/hub$/.test(l));
    const rpcUrl = hubUrl.replace(/^http:/, 'ws:').replace(/\/hub$/, '/rpc');

    const pipe = cli(['pipe', '--room', 'lobby', '--hub', hubUrl, '--name', 'cli-agent', '--json', '--keep-open']);
    const raw = await RawRpc.open(rpcUrl);
    // What the agent sends our current identity comes after the announce (or peer_joined) that began it.
    const firstResponse = await raw.request('announce', { room: 'lobby', name: 'raw-client' });
    const first = firstResponse.result;
    let from = raw.received.indexOf(firstResponse) + 1;
    let agent = first.participants.find((p: any) => p.name === 'cli-agent');
    if (!agent) {
      agent = await raw.notification('peer_joined', (p) => p.name === 'cli-agent', 20_000);
      from = raw.received.findIndex((m) => m?.params === agent) + 1;
    }
    const agentId: string = agent.peerId;
    // The lower peer id offers. To play `role`, rejoin under other agent keys (the hub derives the
    // peer id from one) until the order is right: about two tries.
    let self: string = first.peerId;
    for (let attempt = 0; (self < agentId) !== (role === 'offerer'); attempt++) {
      expect(attempt).toBeLessThan(50);
      await raw.call('disconnect', { room: 'lobby' });
      const response = await raw.request('announce', { room: 'lobby', name: 'raw-client', agentKey: `raw-client-agent-key-${attempt}` });
      self = response.result.peerId;
      from = raw.received.indexOf(response) + 1;
    }

    // One PeerConnection per negotiation: the agent offers again when a setup stalls (under load,
    // libdatachannel's default DTLS role on this answerer can cost a 1 s retransmit), and a new
    // offer is answered on a fresh connection, as docs/jsonrpc.md tells other stacks.
    const channels = new Map<string, nodeDataChannel.DataChannel>();
    const received: string[] = [];
    let onText: (() => void) | undefined;
    let bothOpened: () => void = () => undefined;
    const bothOpen = new Promise<void>((resolve) => (bothOpened = resolve));
    let pc: nodeDataChannel.PeerConnection;
    let session: string | undefined;
    let negotiations = 0;
    const connect = (): void => {
      negotiations++;
      const mine = new nodeDataChannel.PeerConnection('raw-client', { iceServers: [], bindAddress: '127.0.0.1' });
      pc = mine;
      onTestFinished(() => mine.close());
      const current = (): boolean => pc === mine;
      // Registered before any channel exists: creating one starts the offer at once.
      mine.onLocalDescription((sdp, type) => {
        if (current()) void raw.call(type === 'offer' ? 'offer' : 'answer', { room: 'lobby', to: agentId, sdp, type });
      });
      mine.onLocalCandidate((candidate, mid) => {
        if (current()) void raw.call('ice_candidate', { room: 'lobby', to: agentId, candidate, sdpMid: mid });
      });
      const attach = (dc: nodeDataChannel.DataChannel): void => {
        dc.onMessage((msg) => {
          const text = typeof msg === 'string' ? undefined : textOf(Buffer.from(msg as ArrayBuffer));
          if (text !== undefined) {
            received.push(text);
            onText?.();
          }
        });
        const opened = (): void => {
          if (!current()) return;
          channels.set(dc.getLabel(), dc);
          if (channels.has(RELIABLE) && channels.has(UNRELIABLE)) bothOpened();
        };
        if (dc.isOpen()) opened();
        else dc.onOpen(opened);
      };
      mine.onDataChannel(attach);
      // The lower peer id offers (docs/jsonrpc.md): then we create the two channels.
      if (self < agentId) {
        attach(mine.createDataChannel(RELIABLE, {}));
        attach(mine.createDataChannel(UNRELIABLE, { unordered: true, maxRetransmits: 0 }));
      }
    };
    if (self < agentId) connect();
    // The agent's offer / answer / candidates arrive as notifications carrying `from` and `sessionId`.
    let seen = from;
    const pump = (): void => {
      for (; seen < raw.received.length; seen++) {
        const m = raw.received[seen];
        if (m?.params?.from !== agentId) continue;
        if (m.method === 'offer') {
          if (session !== undefined && m.params.sessionId !== session) {
            pc.close();
            channels.clear();
          }
          if (session === undefined || m.params.sessionId !== session) connect();
          session = m.params.sessionId;
          pc.setRemoteDescription(m.params.sdp, 'offer');
        } else if (m.method === 'answer') {
          session = m.params.sessionId;
          pc.setRemoteDescription(m.params.sdp, 'answer');
        } else if (m.method === 'ice_candidate' && m.params.candidate && m.params.sessionId === session) {
          pc.addRemoteCandidate(m.params.candidate, m.params.sdpMid ?? '0');
        }
      }
    };
    raw.ws.on('message', () => setImmediate(pump));
    pump();

    await within(bothOpen, 30_000, () => `the DataChannels to open (negotiation ${negotiations}, pc ${pc?.state()}, ice ${pc?.iceState()}, open: ${[...channels.keys()]}; from the agent: ${raw.received.slice(from).map((m) => m?.method ?? 'response').join(',')}; pipe: ${pipe.stdout().slice(-1500)} ${pipe.stderr().slice(-1500)})`);
    if (negotiations > 1) console.log(`[jsonrpc] raw client as ${role}: the link opened on negotiation ${negotiations}`);
    // The agent sees the link too: its path to us turns p2p.
    await pipe.waitFor((l) => l.includes('"type":"path-changed"') && l.includes(`"peerId":"${self}"`) && l.includes('"to":"p2p"'));

    // Raw → agent: one DATA frame on the reliable channel comes out of pipe as a p2p message.
    channels.get(RELIABLE)!.sendMessageBinary(textFrame('hello from a raw client', 1, 0x5eed));
    const line = JSON.parse(await pipe.waitFor((l) => l.includes('"type":"message"')));
    expect(line).toMatchObject({ room: 'lobby', from: self, name: 'raw-client', text: 'hello from a raw client', path: 'p2p' });

    // Agent → raw: a stdin line of pipe arrives as a DATA frame on the channel.
    const got = new Promise<void>((resolve) => {
      onText = () => received.includes('hello back') && resolve();
      onText();
    });
    pipe.child.stdin!.write('hello back\n');
    await got;
    expect(received).toContain('hello back');
  }, 60_000);
});
