/**
 * The browser chat page the hub serves at `/` and `/chat`, and the browser build of the library:
 * a small HTML page, its script (dist/web/page.js) and the library's ESM bundle
 * (dist/browser/rtc-agent.js, at /rtc-agent.js, which web apps may import too), both made by
 * esbuild (scripts/build-browser.mjs, part of `npm run build`); and the official SignalR browser
 * bundle. The hub serves these *files* only; it imports none of their code (src/web and
 * src/browser are browser code, layers of their own).
 *
 * Only the exact files listed are served (a whitelist, no path mapping), so nothing else under
 * dist/ or the package can be read through these routes.
 */
import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { sendText } from './http-util.js';

/** Where the library's browser bundle is served: `import { createAgent } from 'http://hub/rtc-agent.js'`. */
export const BROWSER_BUNDLE_PATH = '/rtc-agent.js';

/**
 * URL path → file under the build root (dist/). The page's script imports the library bundle
 * (`../rtc-agent.js`) and nothing else: test/interop/browser.test.ts walks the import graph of
 * /web/page.js and fails when it is not exactly this list.
 */
export const WEB_MODULES: Readonly<Record<string, string>> = {
  '/web/page.js': 'web/page.js',
  [BROWSER_BUNDLE_PATH]: 'browser/rtc-agent.js',
};

/** Paths of the page itself. */
export const WEB_PAGE_PATHS: readonly string[] = ['/', '/chat'];

export const SIGNALR_BUNDLE_PATH = '/signalr.js';

const SECURITY_HEADERS: Record<string, string> = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

/**
 * Scripts only from the hub itself (no inline script), network only to the hub (CSP 3 `'self'`
 * covers same-origin ws:/wss:), inline styles for the page's one <style> block.
 */
const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'unsafe-inline'",
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The page's HTML; `hubPath` tells the page's script where the hub is (same origin). */
export function renderWebPage(hubPath: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="rtc-agent-hub-path" content="${escapeAttribute(hubPath)}">
<title>rtc-agent chat</title>
<link rel="icon" href="data:,">
<style>
  :root { color-scheme: light dark; font-family: system-ui, sans-serif; font-size: 15px; }
  body { margin: 0; display: flex; flex-direction: column; height: 100vh; }
  header { padding: .6rem 1rem; border-bottom: 1px solid #8884; display: flex; gap: 1rem; align-items: center; flex-wrap: wrap; }
  header h1 { font-size: 1.1rem; margin: 0; }
  form { display: flex; gap: .5rem; align-items: center; margin: 0; }
  input, select, button { font: inherit; padding: .3rem .5rem; }
  #status { font-size: .9rem; opacity: .8; }
  main { flex: 1; display: flex; min-height: 0; }
  #log { flex: 1; list-style: none; margin: 0; padding: .5rem 1rem; overflow-y: auto; }
  #log li { padding: .15rem 0; white-space: pre-wrap; word-break: break-word; }
  #log .time { opacity: .6; font-size: .8rem; margin-right: .4rem; }
  #log .who { font-weight: 600; margin-right: .4rem; }
  #log .system { opacity: .7; font-style: italic; }
  #log .error { color: #c33; }
  .path { font-size: .75rem; border-radius: .6rem; padding: 0 .45rem; margin-left: .4rem; border: 1px solid currentColor; }
  .path[data-path="p2p"] { color: #18853b; }
  .path[data-path="relay"] { color: #b86e00; }
  .path[data-path="none"] { color: #888; }
  aside { width: 18rem; border-left: 1px solid #8884; padding: .5rem 1rem; overflow-y: auto; }
  aside h2 { font-size: .95rem; margin: .2rem 0 .5rem; }
  #peers { list-style: none; margin: 0; padding: 0; }
  #peers li { padding: .3rem 0; border-bottom: 1px solid #8882; }
  #peers .id, #peers .detail { font-size: .75rem; opacity: .7; display: block; }
  #peers .e2ee { font-size: .75rem; color: #c33; display: block; }
  #peers .e2ee[data-e2ee="ready"] { color: #18853b; }
  #peers .fingerprint, #fingerprint { font-family: ui-monospace, monospace; font-size: .75rem; display: block; }
  #fingerprint { display: inline; opacity: .8; }
  .lock { font-size: .8rem; margin-left: .3rem; }
  #log .file a { margin-right: .4rem; }
  #log .file .detail { opacity: .7; font-size: .8rem; }
  footer { border-top: 1px solid #8884; padding: .6rem 1rem; }
  #send-form input { flex: 1; }
</style>
<script type="module" src="/web/page.js"></script>
</head>
<body>
<header>
  <h1>rtc-agent chat</h1>
  <form id="join-form">
    <label>Room <input id="room" name="room" required maxlength="64" pattern="[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}" value="lobby"></label>
    <label>Name <input id="name" name="name" maxlength="64" placeholder="your name"></label>
    <label title="end-to-end encryption, interoperable with agents started with --e2ee"><input id="e2ee" type="checkbox"> E2EE</label>
    <label>Room secret <input id="room-secret" type="password" autocomplete="off" placeholder="optional (E2EE)" size="12"></label>
    <button id="join" type="submit">Join</button>
    <button id="leave" type="button" hidden>Leave</button>
  </form>
  <span id="status" role="status">not connected</span>
  <span id="fingerprint"></span>
</header>
<main>
  <ul id="log" aria-live="polite"></ul>
  <aside>
    <h2>Peers</h2>
    <ul id="peers"></ul>
  </aside>
</main>
<footer>
  <form id="send-form">
    <select id="to" aria-label="send to"><option value="">everyone</option></select>
    <input id="message" autocomplete="off" placeholder="message" disabled>
    <button id="send" type="submit" disabled>Send</button>
    <button id="send-file" type="button" title="send a file (SHA-256 verified) to the peer chosen, or everyone" disabled>File…</button>
    <input id="file" type="file" multiple hidden>
  </form>
</footer>
<noscript>This page needs JavaScript (ES modules); WebRTC for P2P.</noscript>
</body>
</html>
`;
}

/** Serves the page, its modules and the SignalR bundle. */
export class WebAssets {
  private readonly roots: string[];
  private signalrPath: string | null | undefined;

  /**
   * `roots`: directories (ending in a separator) searched for the compiled modules, in order. By
   * default the build root next to this module (dist/ when running from dist/hub/) and
   * <package>/dist/ (when running from src/hub/ through tsx, as the tests do).
   */
  constructor(
    private readonly hubPath: string,
    roots?: readonly string[],
  ) {
    this.roots = roots ? [...roots] : [fileURLToPath(new URL('../', import.meta.url)), fileURLToPath(new URL('../../dist/', import.meta.url))];
  }

  /** True for the paths this class answers (so the hub never shadows its own hub path with them). */
  handles(path: string): boolean {
    if (path === this.hubPath || path === `${this.hubPath}/negotiate`) return false;
    return WEB_PAGE_PATHS.includes(path) || path === SIGNALR_BUNDLE_PATH || Object.hasOwn(WEB_MODULES, path);
  }

  /** Answers a request for one of {@link handles}' paths. */
  async serve(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendText(res, 405, 'method not allowed', { Allow: 'GET, HEAD' });
      return;
    }
    const head = req.method === 'HEAD';
    if (WEB_PAGE_PATHS.includes(path)) {
      const html = renderWebPage(this.hubPath);
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Length': Buffer.byteLength(html),
        'Content-Security-Policy': PAGE_CSP,
        'X-Frame-Options': 'DENY',
      });
      res.end(head ? undefined : html);
      return;
    }
    if (path === SIGNALR_BUNDLE_PATH) {
      const file = this.signalrBundle();
      if (!file) {
        sendText(res, 404, 'the @microsoft/signalr browser bundle (dist/browser/signalr.min.js) is not installed');
        return;
      }
      await this.sendFile(res, file, head);
      return;
    }
    const relative = WEB_MODULES[path];
    if (relative === undefined) {
      sendText(res, 404, 'not found');
      return;
    }
    const file = await this.findBuilt(relative);
    if (!file) {
      sendText(res, 404, `${path} is not built: run \`npm run build\` (esbuild bundles the page and the library into dist/)`);
      return;
    }
    // The library bundle is public code with nothing secret in it: any origin may import it as a
    // module (module scripts are fetched with CORS). Connecting to the hub is another matter: that
    // is what --cors-origin allows.
    await this.sendFile(res, file, head, path === BROWSER_BUNDLE_PATH ? { 'Access-Control-Allow-Origin': '*' } : {});
  }

  private async findBuilt(relative: string): Promise<string | undefined> {
    for (const root of this.roots) {
      const file = root + relative;
      try {
        if ((await stat(file)).isFile()) return file;
      } catch {
        // not in this root
      }
    }
    return undefined;
  }

  private signalrBundle(): string | null {
    if (this.signalrPath === undefined) {
      try {
        this.signalrPath = createRequire(import.meta.url).resolve('@microsoft/signalr/dist/browser/signalr.min.js');
      } catch {
        this.signalrPath = null;
      }
    }
    return this.signalrPath;
  }

  private async sendFile(res: ServerResponse, file: string, head: boolean, extra: Record<string, string> = {}): Promise<void> {
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch {
      sendText(res, 404, 'not found');
      return;
    }
    res.writeHead(200, { ...SECURITY_HEADERS, ...extra, 'Content-Type': 'text/javascript; charset=utf-8', 'Content-Length': body.length });
    res.end(head ? undefined : body);
  }
}
