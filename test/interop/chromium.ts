/**
 * Debian's Chromium for the browser interop tests, driven by playwright-core (nothing downloaded).
 * ICE stays on loopback: --allow-loopback-in-peer-connection, no STUN, and mDNS host names off
 * (libdatachannel cannot resolve `.local` candidates).
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { onTestFinished } from 'vitest';

export const CHROMIUM = '/usr/bin/chromium';
export const HAS_CHROMIUM = existsSync(CHROMIUM);

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // ICE on loopback only, with real addresses (no mDNS `.local` names the agent cannot resolve).
  '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];

/** Chromium in a fresh temporary profile (playwright's launch() makes and removes it), closed after the test. */
export async function useBrowser(): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 20_000 });
  onTestFinished(() => browser.close());
  return browser;
}
