/**
 * A process that uses P2P and the relay, closes, and is expected to end by itself: the
 * exit-after-close bench times from close() resolving to the process's exit. It must not hold
 * anything open the bench does not measure, so it imports only Node's modules and the build
 * (by absolute path), and the bench runs it with plain `node` (transpiled by esbuild, no tsx loader,
 * no IPC channel, stdin ignored). It never calls process.exit(). Reports are stdout lines
 * `<event> <wall ms>` (wall = performance.timeOrigin + now, comparable across processes).
 *
 *   node exit-child.mjs agent <dist dir> <hub url> <room> <name>
 *   node exit-child.mjs raw <dist dir>
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Api from '../../src/index.js';
import type * as NativeApi from '../../src/transport/native/index.js';

const [mode, distDir, hubUrl, roomName, name] = process.argv.slice(2);
const wall = (): number => performance.timeOrigin + performance.now();
const say = (event: string, detail = ''): void => {
  process.stdout.write(`${event} ${wall()}${detail ? ` ${detail}` : ''}\n`);
};
const fail = (what: string): never => {
  throw new Error(`exit-child: ${what}`);
};
if (!distDir) fail('usage: exit-child.mjs agent|raw <dist dir> [hub url] [room] [name]');
const load = async <T>(rel: string): Promise<T> => (await import(pathToFileURL(path.join(distDir as string, rel)).href)) as T;

/** Polls `ok` every 10 ms up to `ms` (the child has no event to wait on for some states). */
async function until(ok: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) fail(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function agentRun(): Promise<void> {
  if (!hubUrl || !roomName || !name) fail('agent mode needs <hub url> <room> <name>');
  const api = await load<typeof Api>('index.js');
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'rtc-agent-exit-'));
  const agent = await api.createAgent({
    hubUrl: hubUrl as string,
    name: name as string,
    iceBindAddress: '127.0.0.1',
    stunServers: [],
    tryNative: true,
    downloadDir: tmp,
    logger: api.createLogger({ level: 'error', pretty: false }),
    env: {},
  });
  const got = new Map<string, string>();
  agent.on('message', (m) => {
    if (m.room === roomName && typeof m.data === 'string') got.set(m.data, m.path);
  });
  const room = await agent.join(roomName as string);
  say('joined');
  await until(() => room.peers().length === 1, 30_000, 'peer joined');
  const peer = (room.peers()[0] as { peerId: string }).peerId;
  // Sent before P2P is up, so the relay carries it (its path at the receiver says so).
  await room.send('over-relay', { to: peer });
  await until(() => room.peer(peer)?.path === 'p2p', 30_000, 'P2P');
  await room.send('over-p2p', { to: peer });
  await until(() => got.has('over-relay') && got.has('over-p2p'), 30_000, 'both messages from the peer');
  say('used', `relay-message-path=${got.get('over-relay')} p2p-message-path=${got.get('over-p2p')}`);
  say('closing');
  await agent.close();
  say('closed');
  // The agent may still be saving its known peers just after close(): retry on ENOTEMPTY.
  await rm(tmp, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
}

async function rawRun(): Promise<void> {
  const native = await load<typeof NativeApi>('transport/native/index.js');
  const status = await native.loadNativeBinding();
  if (!status.available) fail(status.reason);
  const { api } = status as NativeApi.AvailableNativeBinding;
  const config = { iceServers: [], bindAddress: '127.0.0.1' };
  const a = new api.PeerConnection('exit-a', config);
  const b = new api.PeerConnection('exit-b', config);
  let bRemote = false;
  let aRemote = false;
  const pendingB: [string, string][] = [];
  const pendingA: [string, string][] = [];
  a.onLocalDescription((sdp, type) => setImmediate(() => {
    b.setRemoteDescription(sdp, type as 'offer');
    bRemote = true;
    for (const [c, m] of pendingB.splice(0)) b.addRemoteCandidate(c, m);
  }));
  b.onLocalDescription((sdp, type) => setImmediate(() => {
    a.setRemoteDescription(sdp, type as 'answer');
    aRemote = true;
    for (const [c, m] of pendingA.splice(0)) a.addRemoteCandidate(c, m);
  }));
  a.onLocalCandidate((c, m) => setImmediate(() => (bRemote ? b.addRemoteCandidate(c, m) : pendingB.push([c, m]))));
  b.onLocalCandidate((c, m) => setImmediate(() => (aRemote ? a.addRemoteCandidate(c, m) : pendingA.push([c, m]))));
  let received = 0;
  let bdc: NativeApi.NativeDataChannel | null = null;
  b.onDataChannel((dc) => {
    bdc = dc;
    dc.onClosed(() => undefined);
    dc.onMessage(() => received++);
  });
  const dc = a.createDataChannel('exit', {});
  dc.onClosed(() => undefined);
  let open = false;
  dc.onOpen(() => (open = true));
  await until(() => open && bdc !== null, 30_000, 'raw channel open');
  dc.sendMessageBinary(new Uint8Array([1]));
  await until(() => received === 1, 30_000, 'raw message');
  say('used', 'raw=1');
  say('closing');
  // NATIVE-FACTS pitfall 4: onClosed registered, close channels and connections, then cleanup().
  dc.close();
  (bdc as NativeApi.NativeDataChannel | null)?.close();
  a.close();
  b.close();
  api.cleanup();
  say('closed');
}

if (mode === 'agent') await agentRun();
else if (mode === 'raw') await rawRun();
else fail(`unknown mode ${mode}`);
