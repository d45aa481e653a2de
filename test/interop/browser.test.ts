// The DOM for this program: page.evaluate() callbacks run DOM code, and the test program type-checks
// the browser code in src/ (tsconfig.browser.json checks it on its own, without Node types).
/// <reference lib="dom" />
/**
 * The browser chat page against CLI agents: Debian's Chromium (driven by playwright-core) loads the
 * page the hub serves — UI on the library's browser build (/rtc-agent.js: the engine Node runs,
 * with RTCPeerConnection links and the bundled SignalR client) — joins a room and chats with an
 * agent in a child process: P2P (the browser offering and answering), and over the hub relay when
 * the agent's native binding cannot load; E2EE with matching fingerprints, room secrets.
 *
 * Also, without a browser: the hub serves exactly the page's files (the import graph of
 * /web/page.js, nothing else, no traversal) and says clearly when they are not built.
 *
 * Needs `npm run build` first (esbuild bundles the page and the library into dist/). Chromium keeps
 * ICE on loopback (see ./chromium.ts).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { describe, expect, it, onTestFailed, onTestFinished } from 'vitest';
import { deriveRoomKey } from '../../src/engine/crypto/index.js';
import { nodeScrypt } from '../../src/node/index.js';
import { derivePeerId } from '../../src/protocol/peer-id.js';
import { SIGNALR_BUNDLE_PATH, WEB_MODULES, WebAssets } from '../../src/hub/web-page.js';
import { spawnChildAgent, type ChildAgent } from '../helpers/agents.js';
import { useHub } from '../helpers/hub.js';
import { CHROMIUM, HAS_CHROMIUM, useBrowser } from './chromium.js';

/** Only a loopback interface here (a test network namespace): see the two-page test. */
const browserToBrowser: 'p2p' | 'relay' = Object.keys(networkInterfaces()).every((name) => name === 'lo') ? 'relay' : 'p2p';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const BUILT = existsSync(fileURLToPath(new URL('../../dist/web/page.js', import.meta.url)));

if (!HAS_CHROMIUM) console.warn(`browser interop tests skipped: ${CHROMIUM} is missing (apt-get install chromium)`);
if (!BUILT) console.warn('browser interop tests skipped: dist/web/page.js is missing; run `npm run build` first');

/** An agentKey whose peer id (room contract, no auth) satisfies `wanted`. */
function keyFor(wanted: (peerId: string) => boolean): string {
  for (let i = 0; i < 100_000; i++) {
    const key = `web-test-${randomBytes(12).toString('base64url')}`;
    if (wanted(derivePeerId(null, key))) return key;
  }
  throw new Error('no agentKey gives a peer id on that side of the agent');
}

/** Raw GET (the path is sent as is, not normalised as fetch() would). */
function rawGet(origin: string, path: string): Promise<{ status: number; type: string | undefined; body: string }> {
  const url = new URL(origin);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: 'GET', timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Relative module specifiers of an ES module's static imports and re-exports. */
function importsOf(source: string): string[] {
  return [...source.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)].map((m) => (m[1] ?? m[2])!);
}

describe.skipIf(!BUILT)('the hub serves the chat page', () => {
  it('serves the page, every module it imports (and nothing else), and the SignalR bundle', async () => {
    const hub = await useHub();
    const origin = new URL(hub.url).origin;
    for (const path of ['/', '/chat']) {
      const res = await fetch(origin + path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
      const html = await res.text();
      expect(html).toContain('<meta name="rtc-agent-hub-path" content="/hub">');
      expect(html).toContain('<script type="module" src="/web/page.js"></script>');
    }
    // Walk the import graph from the entry module: each import must be served as JavaScript and
    // be free of Node built-ins; the whitelist must be exactly that graph.
    const seen = new Set<string>();
    const queue = ['/web/page.js'];
    while (queue.length > 0) {
      const path = queue.shift()!;
      if (seen.has(path)) continue;
      seen.add(path);
      const res = await fetch(origin + path);
      expect(res.status, `${path}: ${res.status}`).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      const source = await res.text();
      for (const spec of importsOf(source)) {
        expect(spec.startsWith('.'), `${path} imports ${spec}: the browser can only load relative modules`).toBe(true);
        queue.push(new URL(spec, `http://x${path}`).pathname);
      }
    }
    expect([...seen].sort()).toEqual(Object.keys(WEB_MODULES).sort());
    const bundle = await fetch(origin + SIGNALR_BUNDLE_PATH);
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await bundle.text()).toContain('HubConnectionBuilder');
    // The hub itself still answers where it did.
    expect((await fetch(`${origin}/healthz`)).status).toBe(200);
    expect((await fetch(`${hub.url}/negotiate?negotiateVersion=1`, { method: 'POST' })).status).toBe(200);
    expect((await fetch(origin + '/', { method: 'POST' })).status).toBe(405);
  });

  it('serves no other file: traversal, sources, maps and unknown paths are 404', async () => {
    const hub = await useHub();
    const origin = new URL(hub.url).origin;
    const attempts = [
      '/web/../../package.json',
      '/web/../package.json',
      '/web/%2e%2e/%2e%2e/package.json',
      '/web/..%2f..%2fpackage.json',
      '/web/..%5c..%5cpackage.json',
      '/protocol/../../package.json',
      '/web/page.ts',
      '/web/page.js.map',
      '/web/page.d.ts',
      '/web/',
      '/web',
      '/dist/web/page.js',
      '/index.js',
      '/hub/server.js',
      '/room/peer-session.js',
      '//etc/passwd',
      '/web/page.js/',
      '/web/page.js%00.map',
      '/node_modules/@microsoft/signalr/package.json',
    ];
    for (const path of attempts) {
      const res = await rawGet(origin, path);
      expect(res.status, path).toBe(404);
      expect(res.body, path).not.toContain('"name": "rtc-agent"');
    }
  });

  it('answers 404 with a clear message when the modules are not built', async () => {
    const web = new WebAssets('/hub', ['/nonexistent-build-root/']);
    const server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (web.handles(path)) void web.serve(req, res, path);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const res = await rawGet(origin, '/web/page.js');
    expect(res.status).toBe(404);
    expect(res.body).toContain('npm run build');
    // The page itself does not need the build.
    expect((await rawGet(origin, '/')).status).toBe(200);
    expect(web.handles('/hub')).toBe(false);
    expect(new WebAssets('/').handles('/')).toBe(false);
  });
});

// ------------------------------------------------------------------------------------ Chromium

interface ChatPage {
  page: Page;
  console: string[];
  /** Joins; `e2ee` ticks the E2EE box (and fills the room secret) first. */
  join(room: string, name: string, e2ee?: { secret?: string }): Promise<string>;
  leave(): Promise<void>;
  send(text: string): Promise<void>;
  /** Resolves when the peer list shows `name` on `path`. */
  peerOn(name: string, path: 'p2p' | 'relay', ms?: number): Promise<void>;
  /** Resolves when an incoming message with exactly `text` from `name` is in the log on `path`. */
  received(name: string, text: string, path: 'p2p' | 'relay', ms?: number): Promise<void>;
}

async function openChat(browser: Browser, origin: string): Promise<ChatPage> {
  const context = await browser.newContext({ viewport: { width: 1000, height: 640 } });
  const page = await context.newPage();
  const lines: string[] = [];
  page.on('console', (m) => lines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (err) => lines.push(`pageerror: ${err.message}`));
  await page.goto(`${origin}/`, { timeout: 10_000 });
  return {
    page,
    console: lines,
    async join(room, name, e2ee) {
      await page.fill('#room', room);
      await page.fill('#name', name);
      await page.setChecked('#e2ee', e2ee !== undefined);
      await page.fill('#room-secret', e2ee?.secret ?? '');
      await page.click('#join');
      const status = page.locator('#status[data-self-id]');
      await status.waitFor({ timeout: 10_000 });
      return (await status.getAttribute('data-self-id'))!;
    },
    async leave() {
      await page.click('#leave');
      await page.locator('#join').waitFor({ state: 'visible', timeout: 5_000 });
    },
    async send(text) {
      await page.fill('#message', text);
      await page.press('#message', 'Enter');
    },
    async peerOn(name, path, ms = 20_000) {
      await page.locator(`#peers li[data-name="${name}"][data-path="${path}"]`).waitFor({ timeout: ms });
    },
    async received(name, text, path, ms = 10_000) {
      await page
        .locator(`#log li[data-direction="in"][data-path="${path}"]`)
        .filter({ has: page.locator('.who', { hasText: `${name}:` }) })
        .filter({ has: page.locator('.text', { hasText: new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) }) })
        .first()
        .waitFor({ timeout: ms });
    },
  };
}

function dumpOnFailure(chat: () => ChatPage | undefined, child: ChildAgent): void {
  onTestFailed(() => {
    console.error(`--- page console ---\n${(chat()?.console ?? []).join('\n').slice(-6000)}`);
    console.error(`--- agent events ---\n${JSON.stringify(child.events).slice(-3000)}\n--- agent stderr ---\n${child.stderr().slice(-3000)}`);
  });
}

async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}${name}`, fullPage: true });
}

describe.skipIf(!HAS_CHROMIUM || !BUILT)('browser chat with CLI agents (Chromium)', () => {
  it('chats P2P with an agent, the browser offering and answering', async () => {
    const hub = await useHub();
    const origin = new URL(hub.url).origin;
    const child = spawnChildAgent({ RTC_AGENT_HUB_URL: hub.url, RTC_AGENT_NAME: 'cli-agent', ROOM: 'web', ECHO: '1' });
    let chat: ChatPage | undefined;
    dumpOnFailure(() => chat, child);
    const ready = await child.next((e) => e.event === 'ready');
    expect(ready.native).toBe(true);
    const browser = await useBrowser();
    chat = await openChat(browser, origin);

    // The lower peer id offers. Pick the page's agentKey (through its console handle) so that its
    // peer id falls below the agent's, then above: the browser offers, then answers.
    for (const role of ['offerer', 'answerer'] as const) {
      const agentKey = keyFor((id) => (role === 'offerer' ? id < ready.peerId : id > ready.peerId));
      await chat.page.evaluate((key) => {
        (globalThis as unknown as { rtcAgentChat: { agentKey: string } }).rtcAgentChat.agentKey = key;
      }, agentKey);
      const started = Date.now();
      const selfId = await chat.join('web', 'browser-user');
      expect(selfId).toBe(derivePeerId(null, agentKey));
      await chat.peerOn('cli-agent', 'p2p');
      await child.next((e) => e.event === 'path-changed' && e.peerId === selfId && e.to === 'p2p');
      const p2pMs = Date.now() - started;

      const text = `hello agent, I am the ${role}`;
      const sent = Date.now();
      await chat.send(text);
      const atAgent = await child.next((e) => e.event === 'message' && e.from === selfId && e.text === text);
      expect(atAgent).toMatchObject({ kind: 'text', path: 'p2p' });
      await chat.received('cli-agent', `echo:${text}`, 'p2p');
      const echoMs = Date.now() - sent;

      child.command({ cmd: 'send', data: `hello browser (${role})`, to: selfId });
      await chat.received('cli-agent', `hello browser (${role})`, 'p2p');
      // The agent acknowledged everything the page sent (its acks reach the page's reliable layer).
      await chat.page.locator('#peers li[data-name="cli-agent"][data-unacked="0"]').waitFor({ timeout: 5_000 });
      console.log(`browser as ${role}: join → p2p on both sides ${p2pMs} ms, message → echo back ${echoMs} ms`);
      if (role === 'answerer') await screenshot(chat.page, 'browser-chat.png');
      else {
        await chat.leave();
        await child.next((e) => e.event === 'peer-left' && e.peerId === selfId);
      }
    }
    expect(child.events.filter((e) => e.event === 'path-changed' && e.to === 'p2p')).toHaveLength(2);
    // Everything the agent saw from the browser came P2P.
    const fromBrowser = child.events.filter((e) => e.event === 'message');
    expect(fromBrowser.every((e) => e.path === 'p2p')).toBe(true);
  });

  it('two browser pages and an agent in one room: every pair connected, broadcasts reach everyone', async () => {
    const hub = await useHub();
    const origin = new URL(hub.url).origin;
    const child = spawnChildAgent({ RTC_AGENT_HUB_URL: hub.url, RTC_AGENT_NAME: 'cli-agent', ROOM: 'trio', ECHO: '1' });
    let alice: ChatPage | undefined;
    dumpOnFailure(() => alice, child);
    const ready = await child.next((e) => e.event === 'ready');
    const browser = await useBrowser();
    alice = await openChat(browser, origin);
    const bob = await openChat(browser, origin);
    const aliceId = await alice.join('trio', 'alice');
    const bobId = await bob.join('trio', 'bob');
    // Browser to browser: both ends are Chromium (the lower id offers, the other answers). Chromium
    // gathers no loopback candidates, so in a network namespace with only `lo` (how `npm test` runs
    // when it can) two pages have nothing to pair and stay on the relay; with an interface, P2P.
    await alice.peerOn('bob', browserToBrowser);
    await bob.peerOn('alice', browserToBrowser);
    await alice.peerOn('cli-agent', 'p2p');
    await bob.peerOn('cli-agent', 'p2p');
    await child.next((e) => e.event === 'path-changed' && e.peerId === aliceId && e.to === 'p2p');
    await child.next((e) => e.event === 'path-changed' && e.peerId === bobId && e.to === 'p2p');

    await alice.send('hi all');
    await bob.received('alice', 'hi all', browserToBrowser);
    expect(await child.next((e) => e.event === 'message' && e.from === aliceId)).toMatchObject({ text: 'hi all', path: 'p2p' });
    await alice.received('cli-agent', 'echo:hi all', 'p2p');
    child.command({ cmd: 'send', data: 'hello browsers' });
    await alice.received('cli-agent', 'hello browsers', 'p2p');
    await bob.received('cli-agent', 'hello browsers', 'p2p');
    // The echo went to alice only.
    expect(await bob.page.locator('#log li[data-direction="in"]').allTextContents()).not.toContain(expect.stringContaining('echo:'));
    expect(ready.native).toBe(true);

    // Bob leaves: alice and the agent see him go; the room goes on.
    await bob.leave();
    await child.next((e) => e.event === 'peer-left' && e.peerId === bobId);
    await alice.page.locator('#peers li[data-name="bob"]').waitFor({ state: 'detached', timeout: 5_000 });
    await alice.send('still here');
    await alice.received('cli-agent', 'echo:still here', 'p2p');
  });

  it('with E2EE off, shows an E2EE agent as an encrypted peer and sends it nothing', async () => {
    const hub = await useHub();
    const origin = new URL(hub.url).origin;
    const keys = mkdtempSync(join(tmpdir(), 'rtc-agent-web-e2ee-'));
    onTestFinished(() => rmSync(keys, { recursive: true, force: true }));
    const child = spawnChildAgent({
      RTC_AGENT_HUB_URL: hub.url,
      RTC_AGENT_NAME: 'sealed-agent',
      RTC_AGENT_ENABLE_E2EE: 'true',
      RTC_AGENT_IDENTITY_FILE: join(keys, 'identity.json'),
      ROOM: 'sealed',
      ECHO: '1',
    });
    let chat: ChatPage | undefined;
    dumpOnFailure(() => chat, child);
    await child.next((e) => e.event === 'ready');
    const browser = await useBrowser();
    chat = await openChat(browser, origin);
    const selfId = await chat.join('sealed', 'browser-user');
    const peer = chat.page.locator('#peers li[data-name="sealed-agent"]');
    await peer.locator('.e2ee', { hasText: 'encrypted peer — turn on E2EE' }).waitFor({ timeout: 10_000 });
    await chat.send('are you there?');
    await chat.page.locator('#log li.system', { hasText: 'not sent to sealed-agent' }).waitFor({ timeout: 5_000 });
    expect(await chat.page.locator('#to option').allTextContents()).toEqual(['everyone']);
    // The agent refuses to send it plaintext, as it does to any peer without E2EE.
    child.command({ cmd: 'send', data: 'sealed hello', to: selfId });
    const refused = await child.next((e) => e.event === 'error');
    expect(refused.message).toMatch(/requires end-to-end encryption|does not support end-to-end encryption/);
    expect(child.events.filter((e) => e.event === 'message')).toEqual([]);
    expect(await chat.page.locator('#log li[data-direction="in"]').count()).toBe(0);
  });

  /** An E2EE child agent (identity in a fresh temp dir), optionally with a room secret. */
  function e2eeAgent(hubUrl: string, name: string, room: string, extra: Record<string, string> = {}, options: { blockNative?: boolean } = {}): ChildAgent {
    const keys = mkdtempSync(join(tmpdir(), 'rtc-agent-web-e2ee-'));
    onTestFinished(() => rmSync(keys, { recursive: true, force: true }));
    return spawnChildAgent(
      { RTC_AGENT_HUB_URL: hubUrl, RTC_AGENT_NAME: name, RTC_AGENT_ENABLE_E2EE: 'true', RTC_AGENT_IDENTITY_FILE: join(keys, 'identity.json'), ROOM: room, ECHO: '1', ...extra },
      options,
    );
  }

  it('E2EE on: chats end to end encrypted with an E2EE agent over P2P, both ways, fingerprints matching', async () => {
    const hub = await useHub();
    const origin = new URL(hub.url).origin;
    const child = e2eeAgent(hub.url, 'sealed-agent', 'sealed');
    let chat: ChatPage | undefined;
    dumpOnFailure(() => chat, child);
    const ready = await child.next((e) => e.event === 'ready');
    expect(ready.fingerprint).toMatch(/^([0-9A-F]{4} ){7}[0-9A-F]{4}$/);
    const browser = await useBrowser();
    chat = await openChat(browser, origin);
    const selfId = await chat.join('sealed', 'browser-user', {});
    const pageFingerprint = (await chat.page.locator('#fingerprint').getAttribute('data-fingerprint'))!;
    expect(pageFingerprint).toMatch(/^([0-9A-F]{4} ){7}[0-9A-F]{4}$/);
    // The page shows the agent's fingerprint as the agent reports it.
    const peer = chat.page.locator('#peers li[data-name="sealed-agent"][data-e2ee="ready"]');
    await peer.waitFor({ timeout: 10_000 });
    expect(await peer.getAttribute('data-fingerprint')).toBe(ready.fingerprint);
    expect(await peer.locator('.fingerprint').textContent()).toBe(ready.fingerprint);
    await chat.peerOn('sealed-agent', 'p2p');
    await child.next((e) => e.event === 'path-changed' && e.peerId === selfId && e.to === 'p2p');

    // Page -> agent (sealed, opened by the agent's PeerCipher) and the echo back (sealed by the agent, opened by WebCrypto).
    await chat.send('hello sealed agent');
    const atAgent = await child.next((e) => e.event === 'message' && e.from === selfId);
    expect(atAgent).toMatchObject({ kind: 'text', text: 'hello sealed agent', path: 'p2p', encrypted: true });
    await chat.received('sealed-agent', 'echo:hello sealed agent', 'p2p');
    child.command({ cmd: 'send', data: 'sealed hello browser', to: selfId });
    await chat.received('sealed-agent', 'sealed hello browser', 'p2p');
    // A message bigger than one chunk (sealed per chunk, reassembled after opening), both ways.
    const big = `big:${'0123456789abcdef'.repeat(3000)}`;
    await chat.send(big);
    expect(await child.next((e) => e.event === 'message' && e.from === selfId && e.text === big)).toMatchObject({ encrypted: true, path: 'p2p' });
    await chat.page.waitForFunction(
      (want) => Array.from(document.querySelectorAll('#log li[data-direction="in"][data-path="p2p"] .text')).some((e) => e.textContent === want),
      `echo:${big}`,
      { timeout: 10_000 },
    );
    // Every message in the page is marked encrypted, with a lock; the agent acknowledged everything.
    const incoming = chat.page.locator('#log li[data-direction="in"]');
    expect(await incoming.count()).toBe(3);
    expect(await chat.page.locator('#log li[data-direction="in"][data-encrypted="true"] .lock').count()).toBe(3);
    expect(await chat.page.locator('#log li[data-direction="out"][data-encrypted="true"] .lock').count()).toBe(2);
    await chat.page.locator('#peers li[data-name="sealed-agent"][data-unacked="0"]').waitFor({ timeout: 5_000 });
    const msgs = child.events.filter((e) => e.event === 'message');
    expect(msgs.every((e) => e.encrypted === true)).toBe(true);
    // The agent saw no errors (nothing failed to open) and the page dropped nothing.
    expect(child.events.filter((e) => e.event === 'agent-error')).toEqual([]);
    expect(await chat.page.locator('#log li.system.error').count()).toBe(0);
    await screenshot(chat.page, 'browser-chat-e2ee.png');
  });

  it('E2EE on: a matching room secret works (relay too); a mismatched one delivers nothing and says why', async () => {
    const hub = await useHub();
    const origin = new URL(hub.url).origin;
    const good = e2eeAgent(hub.url, 'good-agent', 'secret-room', { RTC_AGENT_ROOM_SECRET: 'open sesame' }, { blockNative: true });
    const bad = e2eeAgent(hub.url, 'bad-agent', 'secret-room', { RTC_AGENT_ROOM_SECRET: 'wrong secret' });
    let chat: ChatPage | undefined;
    dumpOnFailure(() => chat, good);
    dumpOnFailure(() => chat, bad);
    const goodReady = await good.next((e) => e.event === 'ready');
    await bad.next((e) => e.event === 'ready');
    const browser = await useBrowser();
    chat = await openChat(browser, origin);
    const selfId = await chat.join('secret-room', 'browser-user', { secret: 'open sesame' });
    await expect(chat.page.locator('#fingerprint').textContent()).resolves.toContain('with room secret');
    await chat.page.locator('#peers li[data-name="good-agent"][data-e2ee="ready"]').waitFor({ timeout: 10_000 });
    expect(await chat.page.locator('#peers li[data-name="good-agent"]').getAttribute('data-fingerprint')).toBe(goodReady.fingerprint);
    await chat.peerOn('good-agent', 'relay');
    await chat.page.locator('#peers li[data-name="bad-agent"][data-e2ee="ready"]').waitFor({ timeout: 10_000 });
    await chat.peerOn('bad-agent', 'p2p');
    await good.next((e) => e.event === 'peer-joined' && e.peerId === selfId);

    // Broadcast: the good agent opens it (relay), the bad one cannot (room secret differs).
    await chat.send('secret hello');
    expect(await good.next((e) => e.event === 'message' && e.from === selfId)).toMatchObject({ text: 'secret hello', encrypted: true, path: 'relay' });
    await chat.received('good-agent', 'echo:secret hello', 'relay');
    const refused = await bad.next((e) => e.event === 'agent-error' && e.code === 'RTC_ERR_E2EE_ROOM_SECRET_MISMATCH');
    expect(refused.message).toContain('different room secret');
    // ...and says so, end to end: the page learns its broadcast did not reach the bad agent, and why.
    await chat.page.locator('#log li.system.error', { hasText: 'bad-agent could not read what was sent to it' }).filter({ hasText: 'different room secret' }).first().waitFor({ timeout: 10_000 });
    // The bad agent's messages do not open in the page: nothing delivered, a clear warning.
    bad.command({ cmd: 'send', data: 'you cannot read this', to: selfId });
    await chat.page.locator('#log li.system.error', { hasText: 'from bad-agent' }).filter({ hasText: 'different room secret' }).first().waitFor({ timeout: 10_000 });
    await chat.page.locator('#peers li[data-name="bad-agent"] .e2ee', { hasText: 'dropped' }).waitFor({ timeout: 5_000 });
    good.command({ cmd: 'send', data: 'still readable', to: selfId });
    await chat.received('good-agent', 'still readable', 'relay');
    expect(await chat.page.locator('#log li[data-direction="in"]').filter({ has: chat.page.locator('.who', { hasText: 'bad-agent:' }) }).count()).toBe(0);
    expect(bad.events.filter((e) => e.event === 'message')).toEqual([]);
  });

  it('E2EE on: a peer without E2EE gets nothing and its plaintext is not shown', async () => {
    const hub = await useHub();
    const origin = new URL(hub.url).origin;
    const child = spawnChildAgent({ RTC_AGENT_HUB_URL: hub.url, RTC_AGENT_NAME: 'plain-agent', ROOM: 'mixed', ECHO: '1' });
    let chat: ChatPage | undefined;
    dumpOnFailure(() => chat, child);
    await child.next((e) => e.event === 'ready');
    const browser = await useBrowser();
    chat = await openChat(browser, origin);
    const selfId = await chat.join('mixed', 'browser-user', {});
    await chat.page.locator('#peers li[data-name="plain-agent"][data-e2ee="peer-has-none"]').waitFor({ timeout: 10_000 });
    await chat.send('plain?');
    await chat.page.locator('#log li.system', { hasText: 'not sent to plain-agent' }).waitFor({ timeout: 5_000 });
    child.command({ cmd: 'send', data: 'plaintext to an E2EE page', to: selfId });
    const refused = await child.next((e) => e.event === 'error');
    expect(refused.message).toMatch(/requires end-to-end encryption/);
    // The scenario is "nothing arrives": both sides refused locally, and a leak would still be on
    // its way. Nothing can serve as a marker (neither side may send the other anything), so this
    // is a window to observe, not a synchronisation.
    await new Promise((r) => setTimeout(r, 500));
    expect(child.events.filter((e) => e.event === 'message')).toEqual([]);
    expect(await chat.page.locator('#log li[data-direction="in"]').count()).toBe(0);
  });

  it("runs the browser build's WebCrypto E2EE in Chromium: scrypt test vector and the agent's room key", async () => {
    const hub = await useHub();
    const browser = await useBrowser();
    const chat = await openChat(browser, new URL(hub.url).origin);
    // A string, so the test runner does not rewrite the dynamic import (the page's own module loads it).
    const out = (await chat.page.evaluate(`(async () => {
      const lib = await import('/rtc-agent.js');
      const hex = (b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
      const enc = new TextEncoder();
      const started = performance.now();
      const room = hex((await lib.deriveRoomKey('lobby', 'Cafe\\u0301 secret', lib.browserScrypt)).key);
      return {
        vector: hex(await lib.scrypt(enc.encode('password'), enc.encode('NaCl'), 1024, 8, 16, 64)),
        room,
        roomMs: performance.now() - started,
        identity: (await lib.generateIdentity()).fingerprint,
      };
    })()`)) as { vector: string; room: string; roomMs: number; identity: string };
    expect(out.vector).toBe('fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640');
    expect(out.room).toBe(Buffer.from((await deriveRoomKey('lobby', 'Cafe\u0301 secret', nodeScrypt)).key).toString('hex'));
    expect(out.identity).toMatch(/^([0-9A-F]{4} ){7}[0-9A-F]{4}$/);
    console.log(`room key (scrypt N=2^15, r=8) in Chromium: ${Math.round(out.roomMs)} ms`);
  });

  it('chats over the hub relay with an agent whose native binding cannot load', async () => {
    const hub = await useHub();
    const origin = new URL(hub.url).origin;
    const child = spawnChildAgent({ RTC_AGENT_HUB_URL: hub.url, RTC_AGENT_NAME: 'relay-agent', ROOM: 'web', ECHO: '1' }, { blockNative: true });
    let chat: ChatPage | undefined;
    dumpOnFailure(() => chat, child);
    const ready = await child.next((e) => e.event === 'ready');
    expect(ready.native).toBe(false);
    const browser = await useBrowser();
    chat = await openChat(browser, origin);
    const started = Date.now();
    const selfId = await chat.join('web', 'browser-user');
    await chat.peerOn('relay-agent', 'relay', 10_000);
    await child.next((e) => e.event === 'peer-joined' && e.peerId === selfId);

    await chat.send('hello over the relay');
    const atAgent = await child.next((e) => e.event === 'message' && e.from === selfId);
    expect(atAgent).toMatchObject({ kind: 'text', text: 'hello over the relay', path: 'relay' });
    await chat.received('relay-agent', 'echo:hello over the relay', 'relay');
    child.command({ cmd: 'send', data: 'hello browser, relayed' });
    await chat.received('relay-agent', 'hello browser, relayed', 'relay');
    console.log(`relay: join → echo and direct message back ${Date.now() - started} ms`);
    await chat.page.locator('#peers li[data-name="relay-agent"][data-unacked="0"]').waitFor({ timeout: 5_000 });
    // The agent never saw a P2P path to the browser, and the page shows why.
    expect(child.events.some((e) => e.event === 'path-changed' && e.to === 'p2p')).toBe(false);
    expect(await chat.page.locator('#peers li[data-name="relay-agent"] .detail').textContent()).toContain('no P2P (relay only)');
    await screenshot(chat.page, 'browser-chat-relay.png');
  });

  it('heals like an agent: a frozen agent the page gave up on comes back, P2P and all, nothing lost', async () => {
    const hub = await useHub();
    const origin = new URL(hub.url).origin;
    const child = spawnChildAgent({ RTC_AGENT_HUB_URL: hub.url, RTC_AGENT_NAME: 'frozen-agent', ROOM: 'web-heal', RTC_AGENT_HEARTBEAT_INTERVAL_MS: '300' });
    let chat: ChatPage | undefined;
    dumpOnFailure(() => chat, child);
    await child.next((e) => e.event === 'ready');
    const browser = await useBrowser();
    chat = await openChat(browser, origin);
    await chat.page.evaluate(() => {
      (globalThis as unknown as { rtcAgentChat: { heartbeatMs: number } }).rtcAgentChat.heartbeatMs = 300;
    });
    const selfId = await chat.join('web-heal', 'browser-user');
    await chat.peerOn('frozen-agent', 'p2p');
    process.kill(child.child.pid!, 'SIGSTOP');
    try {
      await chat.send('sent while frozen');
      // The page's heartbeat gives up: the agent leaves the peer list.
      await chat.page.locator('#peers li[data-name="frozen-agent"]').waitFor({ state: 'detached', timeout: 15_000 });
    } finally {
      process.kill(child.child.pid!, 'SIGCONT');
    }
    await chat.peerOn('frozen-agent', 'p2p', 20_000);
    const atAgent = await child.next((e) => e.event === 'message' && e.from === selfId, 15_000);
    expect(atAgent).toMatchObject({ text: 'sent while frozen' });
    child.command({ cmd: 'send', data: 'back again', to: selfId });
    await chat.received('frozen-agent', 'back again', 'p2p');
    expect(child.events.filter((e) => e.event === 'message').map((e) => e.text)).toEqual(['sent while frozen']);
  }, 60_000);
});
