#!/usr/bin/env node
// `npm run demo`: starts an embedded hub on a free loopback port, joins two clients (the official
// @microsoft/signalr client, as any program would) to a room, exchanges a signal and relayed
// messages both ways, prints what happened and exits 0.
import * as signalR from '@microsoft/signalr';
import { startHub } from '../dist/index.js';

const hub = await startHub({ host: '127.0.0.1', port: 0 });
console.log(`hub     ${hub.url} (embedded, loopback only)`);

function client() {
  return new signalR.HubConnectionBuilder().withUrl(hub.url).configureLogging(signalR.LogLevel.Warning).build();
}
function next(conn, method) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${method} within 5 s`)), 5_000);
    conn.on(method, function handler(...args) {
      clearTimeout(timer);
      conn.off(method, handler);
      resolve(args);
    });
  });
}

const alice = client();
const bob = client();
try {
  await alice.start();
  await bob.start();
  const a = await alice.invoke('Join', 'demo', { agentKey: 'demo-alice-key-0123456789', name: 'alice' });
  const bobArrives = next(alice, 'PeerJoined');
  const b = await bob.invoke('Join', 'demo', { agentKey: 'demo-bob-key-0123456789', name: 'bob' });
  const [, joined] = await bobArrives;
  console.log(`join    alice=${a.self.peerId} bob=${b.self.peerId}; alice saw ${joined.name} arrive`);

  const signal = next(bob, 'Signal');
  await alice.invoke('Signal', 'demo', b.self.peerId, { type: 'restart' });
  const [, from, body] = await signal;
  console.log(`signal  bob got ${JSON.stringify(body)} from ${from === a.self.peerId ? 'alice (stamped by the hub)' : from}`);

  const rtts = [];
  for (let i = 0; i < 20; i++) {
    const echo = next(alice, 'Relayed');
    const got = next(bob, 'Relayed');
    const t0 = performance.now();
    await alice.invoke('Relay', 'demo', b.self.peerId, Buffer.from(`ping ${i}`).toString('base64'));
    const [, , payload] = await got;
    await bob.invoke('Relay', 'demo', a.self.peerId, payload);
    await echo;
    rtts.push(performance.now() - t0);
  }
  rtts.sort((x, y) => x - y);
  console.log(`relay   20 round trips alice→bob→alice over the hub, median RTT ${rtts[10].toFixed(2)} ms`);

  const left = next(alice, 'PeerLeft');
  await bob.invoke('Leave', 'demo');
  const [, , reason] = await left;
  console.log(`leave   alice saw bob leave (${reason})`);
  console.log('ok      the hub works; run `npx rtc-agent hub --port 0` to start one yourself');
} catch (err) {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  await alice.stop();
  await bob.stop();
  await hub.close();
}
