#!/usr/bin/env node
/**
 * The browser build (part of `npm run build`): esbuild bundles
 *   src/browser/index.ts → dist/browser/rtc-agent.js  the library for browsers (`rtc-agent/browser`,
 *                                                     served by the hub at /rtc-agent.js), with the
 *                                                     engine and @microsoft/signalr inside;
 *   src/web/page.ts      → dist/web/page.js           the hub's chat page, which imports the library
 *                                                     bundle above instead of carrying a copy.
 * Types come from `tsc -p tsconfig.browser.json` (dist/browser/index.d.ts). Both are ES modules for
 * current browsers; no source maps, since the hub serves only these two files.
 */
import { build } from 'esbuild';
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Browsers with WebCrypto X25519 and ES2022 (class fields, top-level await): Chromium 133, Firefox 130, Safari 17. */
const TARGET = ['es2022'];

const common = {
  absWorkingDir: root,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: TARGET,
  logLevel: 'warning',
  legalComments: 'none',
  // The SignalR client's Node-only paths (ws, node-fetch, eventsource) are behind checks for Node;
  // its package.json maps them away for browsers, and esbuild follows that.
  mainFields: ['browser', 'module', 'main'],
};

/** The page imports the library through ../browser/index.js: at run time that is the bundle beside it. */
const libraryAsExternal = {
  name: 'rtc-agent-library-external',
  setup(b) {
    b.onResolve({ filter: /\/browser\/index\.js$/ }, () => ({ path: '../rtc-agent.js', external: true }));
  },
};

const started = Date.now();
await build({ ...common, entryPoints: ['src/browser/index.ts'], outfile: 'dist/browser/rtc-agent.js' });
await build({ ...common, entryPoints: ['src/web/page.ts'], outfile: 'dist/web/page.js', plugins: [libraryAsExternal] });
const sizes = await Promise.all(['dist/browser/rtc-agent.js', 'dist/web/page.js'].map(async (f) => `${f} ${Math.round((await stat(`${root}${f}`)).size / 1024)} KiB`));
if (process.env.RTC_AGENT_BUILD_QUIET !== '1') console.log(`browser build: ${sizes.join(', ')} (${Date.now() - started} ms)`);
