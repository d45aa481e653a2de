#!/usr/bin/env node
// `npm run demo`: an embedded hub on a free loopback port and two agents, alice and bob, that join
// a room, open a native P2P DataChannel link, talk both ways, and report what happened. Exits 0.
import { createAgent, createLogger, startHub } from '../dist/index.js';

const logger = createLogger({ level: process.env.RTC_AGENT_LOG_LEVEL ?? 'warn' });
const t0 = performance.now();
const ms = () => `${(performance.now() - t0).toFixed(0).padStart(5)} ms`;
const say = (line) => console.log(`${ms()}  ${line}`);

function waitFor(emitter, event, match, timeoutMs = 15_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${timeoutMs} ms`)), timeoutMs);
    emitter.on(event, function handler(x) {
      if (!match(x)) return;
      clearTimeout(timer);
      emitter.off(event, handler);
      resolve(x);
    });
  });
}

const hub = await startHub({ host: '127.0.0.1', port: 0, logger });
say(`hub     ${hub.url} (embedded)`);
const agents = [];
try {
  // The hub is on loopback, so the agents bind ICE to 127.0.0.1: every peer is on this machine.
  const alice = await createAgent({ hubUrl: hub.url, name: 'alice', logger, env: {} });
  const bob = await createAgent({ hubUrl: hub.url, name: 'bob', logger, env: {} });
  agents.push(alice, bob);
  say(`agents  alice and bob connected (native DataChannels: ${alice.native ? 'yes' : `no — ${alice.nativeReason}`})`);

  for (const a of agents) a.on('path-changed', (c) => say(`path    ${a.settings.name} → ${c.name}: ${c.from} → ${c.to} (${c.reason})`));
  for (const a of agents) a.on('message', (m) => say(`message ${a.settings.name} got "${m.text}" from ${m.name} over ${m.path}`));

  const ra = await alice.join('demo');
  const rb = await bob.join('demo');
  say(`room    both in 'demo' (alice=${ra.selfId}, bob=${rb.selfId})`);

  // Joining never waits for ICE: this first message goes over the hub relay at once.
  const early = waitFor(bob, 'message', (m) => m.text === 'hi bob (sent before P2P was up)');
  await ra.send('hi bob (sent before P2P was up)');
  await early;

  if (alice.native && bob.native) {
    await Promise.all([
      ra.peer(rb.selfId)?.path === 'p2p' ? null : waitFor(alice, 'path-changed', (c) => c.to === 'p2p'),
      rb.peer(ra.selfId)?.path === 'p2p' ? null : waitFor(bob, 'path-changed', (c) => c.to === 'p2p'),
    ]);
  }
  const back = waitFor(alice, 'message', (m) => m.text === 'hello alice');
  const there = waitFor(bob, 'message', (m) => m.text === 'hello bob');
  await ra.send('hello bob');
  await rb.send('hello alice');
  await Promise.all([back, there]);

  // The agents measure RTT with their own heartbeat ping; the first one goes out when P2P opens.
  for (let i = 0; i < 100 && ra.peer(rb.selfId)?.rttMs === undefined; i++) await new Promise((r) => setTimeout(r, 20));
  const peer = ra.peer(rb.selfId);
  say(`summary alice ↔ bob over ${peer.path}, RTT ${peer.rttMs ?? '?'} ms, ${peer.messagesSent} sent / ${peer.messagesReceived} received`);
  console.log('\nNext: `npx rtc-agent chat --room lobby` in two terminals, or see README.md.');
} catch (err) {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  await Promise.all(agents.map((a) => a.close()));
  await hub.close();
}
