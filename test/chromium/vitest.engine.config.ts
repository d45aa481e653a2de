/**
 * The engine's unit suite (test/engine/) inside Debian's Chromium, through vitest's browser mode
 * with the playwright provider: the same files, the same `describe/it/expect/vi` (fake timers
 * included), run in a page instead of Node. test/chromium/engine-suite.test.ts runs it as part of
 * `npm test`; by hand: `npx vitest run --config test/chromium/vitest.engine.config.ts`.
 *
 * Nothing is downloaded: playwright drives /usr/bin/chromium (`npx playwright install` cannot work
 * here), with the flags that work on this machine.
 */
import { fileURLToPath } from 'node:url';
import { playwright } from '@vitest/browser-playwright';
import { defineConfig } from 'vitest/config';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  // Its own dependency cache, so this run never races a vite cache another run is writing.
  cacheDir: 'node_modules/.vite-engine-chromium',
  test: {
    include: ['test/engine/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    browser: {
      enabled: true,
      headless: true,
      screenshotFailures: false,
      provider: playwright({ launchOptions: { executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS } }),
      instances: [{ browser: 'chromium' }],
    },
  },
});
