// The DOM for this program: page.evaluate() callbacks run in the page.
/// <reference lib="dom" />
/**
 * The browser build of the library as a web app uses it: a page of its own (not the chat page), on
 * a site of its own, imports `createAgent` from the bundle the hub serves (/rtc-agent.js, which is
 * what `rtc-agent/browser` resolves to), creates an agent in Debian's Chromium, joins, and talks to
 * a CLI agent (`rtc-agent daemon` in a child process): over P2P, end-to-end encrypted with
 * fingerprints that match on both sides, reliable and unreliable messages both ways, and files
 * both ways (the page's file lands verified on the agent's disk; the agent's arrives in the page as
 * a Blob with an object URL). A stored identity keeps its fingerprint across page loads.
 *
 * Needs `npm run build` (the bundle and the CLI in dist/).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { describe, expect, it, onTestFailed, onTestFinished } from 'vitest';
import { fingerprint } from '../../src/engine/crypto/index.js';
import { BROWSER_BUNDLE_PATH } from '../../src/hub/web-page.js';
import { http, readEvents, startDaemonProc, useTmpDir, type EventReader } from '../daemon/helpers.js';
import { useHub } from '../helpers/hub.js';
import { CHROMIUM, HAS_CHROMIUM, useBrowser } from './chromium.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BUNDLE = join(ROOT, 'dist/browser/rtc-agent.js');
const BUILT = existsSync(BUNDLE) && existsSync(join(ROOT, 'dist/cli/main.js'));

if (!HAS_CHROMIUM) console.warn(`rtc-agent/browser tests in Chromium skipped: ${CHROMIUM} is missing (apt-get install chromium)`);
if (!BUILT) console.warn('rtc-agent/browser tests skipped: dist/browser/rtc-agent.js or the CLI is missing; run `npm run build` first');

/** The web app: a module script importing the library (from `bundleUrl`) the way any page would. */
const appHtml = (bundleUrl: string): string => `<!doctype html>
<meta charset="utf-8">
<title>a web app on rtc-agent/browser</title>
<script type="module">
import { createAgent, deleteStoredIdentity } from '${bundleUrl}';
const events = [];
// JSON-safe copies of events (bytes as arrays; Blobs stay in the page, under their object URL).
const plain = (x) => JSON.parse(JSON.stringify(x, (k, v) => (v instanceof Uint8Array ? Array.from(v) : v instanceof Blob ? { blob: v.size } : v)));
let agent;
let room;
window.app = {
  events,
  async start(options, roomName) {
    agent = await createAgent(options);
    for (const name of ['message', 'peer-joined', 'peer-left', 'path-changed', 'error', 'delivery-refused', 'file-received', 'file-failed']) {
      agent.on(name, (x) => events.push({ event: name, ...plain(x instanceof Error ? { code: x.code, message: x.message } : x) }));
    }
    room = await agent.join(roomName);
    return { selfId: room.selfId, fingerprint: agent.fingerprint ?? null, native: agent.native, hubUrl: agent.hubUrl };
  },
  peers: () => plain(room.peers()),
  send: (data, options) => room.send(data, options),
  async sendFile(name, size) {
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i++) bytes[i] = (i * 31 + 7) & 255;
    return plain(await room.sendFile(new File([bytes], name)));
  },
  async sha256Of(url) {
    const digest = await crypto.subtle.digest('SHA-256', await (await fetch(url)).arrayBuffer());
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
  },
  close: () => agent.close(),
  forgetIdentity: () => deleteStoredIdentity(),
};
window.appReady = true;
</script>
`;

/** The bytes the app's sendFile makes. */
function appFileBytes(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + 7) & 255;
  return bytes;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The peer a daemon event is about (the daemon's JSON names it `peerId`, older builds `peer`). */
const peerOf = (e: any): string | undefined => e.peerId ?? e.peer;

interface App {
  page: Page;
  console: string[];
  call<T>(fn: string, ...args: unknown[]): Promise<T>;
  /** Resolves with the first app event (seen so far or later) that `match` (a function source over `e`) accepts. */
  event(match: string, ms?: number): Promise<any>;
}

/**
 * Opens the app at `/app/`: on the hub's origin (served through playwright), or, with
 * `ownSite`, from a web server of its own on another port (another origin: the app imports the
 * bundle from the hub and connects across origins, as a web app on its own site does).
 */
async function openApp(browser: Browser, hubOrigin: string, ownSite = false): Promise<App> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const lines: string[] = [];
  page.on('console', (m) => lines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (err) => lines.push(`pageerror: ${err.message}`));
  const html = appHtml(new URL(BROWSER_BUNDLE_PATH, hubOrigin).toString());
  let appOrigin = hubOrigin;
  if (ownSite) appOrigin = await useSite(html);
  else await page.route(`${hubOrigin}/app/`, (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html }));
  await page.goto(`${appOrigin}/app/`, { timeout: 10_000 });
  await page.waitForFunction(() => (globalThis as { appReady?: boolean }).appReady === true, undefined, { timeout: 10_000 });
  return {
    page,
    console: lines,
    call: (fn, ...args) => page.evaluate(([f, a]) => (globalThis as any).app[f as string](...(a as unknown[])), [fn, args] as const),
    async event(match, ms = 15_000) {
      const handle = await page.waitForFunction(`(() => { const m = (e) => (${match}); return window.app.events.find(m); })()`, undefined, { timeout: ms });
      return handle.jsonValue();
    },
  };
}

/** A web app's own site: serves `html` at /app/ on 127.0.0.1 (a secure context, as WebCrypto needs); closed after the test. */
async function useSite(html: string): Promise<string> {
  const server = createServer((req, res) => {
    if (req.url === '/app/') res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(html);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function dumpOnFailure(app: () => App | undefined, daemon: { stderr(): string }, events: () => EventReader | undefined): void {
  onTestFailed(async () => {
    const page = app();
    const pageEvents = page ? await page.page.evaluate(() => (globalThis as any).app?.events).catch(() => null) : null;
    console.error(`--- page console ---\n${(page?.console ?? []).join('\n').slice(-6000)}\n--- page events ---\n${JSON.stringify(pageEvents).slice(-4000)}`);
    console.error(`--- daemon events ---\n${JSON.stringify(events()?.events ?? []).slice(-4000)}\n--- daemon stderr ---\n${daemon.stderr().slice(-4000)}`);
  });
}

describe.skipIf(!BUILT)('rtc-agent/browser, the package entry', () => {
  it('resolves to the ESM bundle the hub serves (the chat page imports it too), with types, and no Node built-ins inside', async () => {
    const resolved = createRequire(import.meta.url).resolve('rtc-agent/browser');
    expect(resolved).toBe(BUNDLE);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, { types: string; default: string }> };
    const types = readFileSync(join(ROOT, pkg.exports['./browser']!.types), 'utf8');
    expect(types).toContain('createAgent');
    const bundle = readFileSync(BUNDLE, 'utf8');
    expect(bundle).toMatch(/\nexport \{[^}]*\bcreateAgent\b/);
    // Built by esbuild from src/: the engine and the SignalR client are inside; nothing is imported.
    expect(bundle).toContain('// src/engine/room-session.ts');
    expect(bundle).toContain('HubConnectionBuilder');
    expect(bundle).not.toMatch(/^import\s/m);
    expect(bundle).not.toMatch(/["']node:[a-z]/);
    // The chat page runs on this very bundle: its own script imports it and carries no copy.
    const page = readFileSync(join(ROOT, 'dist/web/page.js'), 'utf8');
    expect(page).toContain('from "../rtc-agent.js"');
    expect(page.match(/^\/\/ (\S+)$/gm)?.filter((m) => !m.startsWith('// src/web/'))).toEqual([]);
    const hub = await useHub();
    const res = await fetch(new URL(BROWSER_BUNDLE_PATH, hub.url));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    // Any site may import it as a module (module scripts are fetched with CORS).
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(await res.text()).toBe(bundle);
  });
});

describe.skipIf(!HAS_CHROMIUM || !BUILT)('a web app on rtc-agent/browser with a CLI agent (Chromium)', () => {
  it('a page on another origin creates an agent and talks to `rtc-agent daemon`: P2P, E2EE with matching fingerprints, reliable and unreliable messages, files both ways', async () => {
    const browser = await useBrowser();
    // The app's site is made after the hub (it needs the hub's address), so the hub allows any origin.
    const hub = await useHub({ corsOrigins: ['*'] });
    const origin = new URL(hub.url).origin;
    const dir = useTmpDir();
    const downloads = join(dir, 'downloads');
    mkdirSync(downloads);
    const identityFile = join(dir, 'keys', 'identity.json');
    const daemon = await startDaemonProc(hub.url, ['--room', 'webapp', '--e2ee', '--identity', identityFile, '--download-dir', downloads]);
    let events: EventReader | undefined;
    let app: App | undefined;
    dumpOnFailure(() => app, daemon, () => events);
    events = await readEvents(daemon.socket);
    const status = await http(daemon.socket, 'GET', '/status');
    const daemonId: string = status.body.rooms[0].self;
    const daemonFingerprint = await fingerprint(JSON.parse(readFileSync(identityFile, 'utf8')).publicKey);

    app = await openApp(browser, origin, true);
    expect(await app.page.evaluate(() => location.origin)).not.toBe(origin);
    const me = await app.call<{ selfId: string; fingerprint: string; native: boolean; hubUrl: string }>('start', { hubUrl: hub.url, name: 'web-app', e2ee: true }, 'webapp');
    expect(me).toMatchObject({ native: true, hubUrl: hub.url });
    expect(me.fingerprint).toMatch(/^([0-9A-F]{4} ){7}[0-9A-F]{4}$/);

    // P2P on both sides, keys derived on both sides.
    await events.next((e) => e.type === 'path-changed' && peerOf(e) === me.selfId && (e.to ?? e.path) === 'p2p', 20_000);
    await app.page.waitForFunction(
      (id) => (globalThis as any).app.peers().some((p: any) => p.peerId === id && p.path === 'p2p' && p.e2eeState === 'ready'),
      daemonId,
      { timeout: 20_000 },
    );
    // Fingerprints match: the page sees the daemon's identity file's key, the daemon sees the page's.
    const seenByPage = (await app.call<any[]>('peers')).find((p) => p.peerId === daemonId);
    expect(seenByPage).toMatchObject({ name: 'daemon', fingerprint: daemonFingerprint, e2ee: true });
    const seenByDaemon = (await http(daemon.socket, 'GET', '/peers')).body.peers.find((p: any) => peerOf(p) === me.selfId);
    expect(seenByDaemon.fingerprint).toBe(me.fingerprint);

    // Reliable, both ways, sealed, over P2P.
    await app.call('send', 'hello daemon');
    expect(await events.next((e) => e.type === 'message' && e.from === me.selfId && e.text === 'hello daemon')).toMatchObject({ path: 'p2p', encrypted: true, reliable: true });
    expect((await http(daemon.socket, 'POST', '/send', { text: 'hello web app', to: me.selfId })).status).toBe(200);
    expect(await app.event(`e.event === 'message' && e.text === 'hello web app'`)).toMatchObject({ from: daemonId, path: 'p2p', encrypted: true, reliable: true });

    // Unreliable, both ways: one may be lost (that is what unreliable means), so send until one is seen (bounded).
    let up: any;
    for (let i = 0; i < 30 && !up; i++) {
      await app.call('send', `u-${i}`, { reliable: false });
      up = await events.next((e) => e.type === 'message' && e.from === me.selfId && /^u-\d+$/.test(e.text), 1_000).catch(() => undefined);
    }
    expect(up).toMatchObject({ reliable: false, encrypted: true, path: 'p2p' });
    let down: any;
    for (let i = 0; i < 30 && !down; i++) {
      expect((await http(daemon.socket, 'POST', '/send', { text: `d-${i}`, to: me.selfId, reliable: false })).status).toBe(200);
      down = await app.event(`e.event === 'message' && /^d-\\d+$/.test(e.text)`, 1_000).catch(() => undefined);
    }
    expect(down).toMatchObject({ from: daemonId, reliable: false, encrypted: true, path: 'p2p' });

    // A file from the page (a File, several chunks): resolved once the daemon confirmed a verified copy, and on its disk.
    const size = 300_000;
    const sent = await app.call<any>('sendFile', 'report.bin', size);
    expect(sent).toMatchObject({ name: 'report.bin', size, sha256: sha256(appFileBytes(size)), deliveredTo: [daemonId] });
    const received = await events.next((e) => e.type === 'file-received' && e.from === me.selfId);
    expect(received).toMatchObject({ name: 'report.bin', size, sha256: sent.sha256 });
    expect(dirname(received.path)).toBe(downloads);
    expect(readFileSync(received.path).equals(appFileBytes(size))).toBe(true);

    // A file from the daemon: verified in the page, handed over as a Blob under an object URL.
    const back = randomBytes(200_000);
    const backPath = join(dir, 'back.bin');
    writeFileSync(backPath, back);
    const answer = await http(daemon.socket, 'POST', '/files', { path: backPath, to: me.selfId });
    expect(answer.status).toBe(200);
    expect(answer.body.deliveredTo).toEqual([me.selfId]);
    const inPage = await app.event(`e.event === 'file-received' && e.name === 'back.bin'`);
    expect(inPage).toMatchObject({ from: daemonId, size: back.length, sha256: sha256(back), blob: { blob: back.length } });
    expect(inPage.path).toMatch(/^blob:/);
    expect(await app.call('sha256Of', inPage.path)).toBe(sha256(back));

    // Nothing went wrong on either side.
    expect((await app.page.evaluate(() => (globalThis as any).app.events)).filter((e: any) => ['error', 'delivery-refused', 'file-failed'].includes(e.event))).toEqual([]);
    expect(events.events.filter((e) => ['error', 'delivery-refused', 'file-failed'].includes(e.type))).toEqual([]);
    await app.call('close');
    await events.next((e) => e.type === 'peer-left' && peerOf(e) === me.selfId);
  }, 120_000); // ~10 s alone; many steps, each bounded, on 2 shared cores

  it("a stored identity keeps the page's fingerprint across page loads, until it is deleted", async () => {
    const hub = await useHub();
    const origin = new URL(hub.url).origin;
    const browser = await useBrowser();
    const app = await openApp(browser, origin);
    // No hubUrl: the library takes /hub on the page's origin.
    const first = await app.call<{ fingerprint: string; hubUrl: string }>('start', { e2ee: { identity: 'stored' } }, 'stored');
    expect(first.hubUrl).toBe(hub.url);
    await app.call('close');
    await app.page.reload();
    await app.page.waitForFunction(() => (globalThis as { appReady?: boolean }).appReady === true, undefined, { timeout: 10_000 });
    const again = await app.call<{ fingerprint: string }>('start', { e2ee: { identity: 'stored' } }, 'stored');
    expect(again.fingerprint).toBe(first.fingerprint);
    await app.call('close');
    expect(await app.call('forgetIdentity')).toBe(true);
    await app.page.reload();
    await app.page.waitForFunction(() => (globalThis as { appReady?: boolean }).appReady === true, undefined, { timeout: 10_000 });
    const fresh = await app.call<{ fingerprint: string }>('start', { e2ee: { identity: 'stored' } }, 'stored');
    expect(fresh.fingerprint).not.toBe(first.fingerprint);
    // A session identity (the default) is new every time.
    await app.call('close');
    const session = await app.call<{ fingerprint: string }>('start', { e2ee: true }, 'stored');
    expect(session.fingerprint).not.toBe(fresh.fingerprint);
  }, 60_000);
});
