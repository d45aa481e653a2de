/**
 * Runs rtc-agent's hub (the built dist/index.js, i.e. what ships) in its own process for the
 * benches. Limits are raised so the rate limiter is not what gets measured; backpressure limits
 * stay at their defaults. Prints the hub URL as the first stdout line.
 *
 * Args: --max-peers N (default 200), --max-connections N (the hub's default when absent),
 * --dist DIR (another build's dist directory, e.g. `--previous`; default this checkout's dist/).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { exitWhenParentSays } from '../lib/child.js';

interface HubHandle {
  url: string;
  close(): Promise<void>;
}
type StartHub = (options: Record<string, unknown>) => Promise<HubHandle>;
type CreateLogger = (options: { level: string; pretty: boolean }) => unknown;

// Imported dynamically and typed loosely on purpose: the bench must typecheck even while the hub
// is being written, and fail with a clear message (not a type error) if dist/ lacks startHub.
const argValue = (flag: string): string | undefined => {
  const i = process.argv.indexOf(flag);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const distDir = argValue('--dist');
const distUrl = distDir ? pathToFileURL(path.join(path.resolve(distDir), 'index.js')) : new URL('../../dist/index.js', import.meta.url);
const mod = (await import(distUrl.href).catch((err: unknown) => {
  console.error(`cannot load ${distUrl.pathname} (run npm run build): ${String(err)}`);
  process.exit(2);
})) as { startHub?: StartHub; createLogger?: CreateLogger };
if (typeof mod.startHub !== 'function') {
  console.error(`${distUrl.pathname} does not export startHub (run npm run build)`);
  process.exit(2);
}

const maxPeersPerRoom = Number(argValue('--max-peers') ?? 200);
const maxConnections = argValue('--max-connections');

const hub = await mod.startHub({
  // Warnings and errors only, to stderr (the bench keeps its tail and reports it); stdout carries the URL.
  ...(mod.createLogger ? { logger: mod.createLogger({ level: process.env.BENCH_HUB_LOG_LEVEL ?? 'warn', pretty: false }) } : {}),
  host: '127.0.0.1',
  port: 0,
  path: '/hub',
  ...(maxConnections ? { maxConnections: Number(maxConnections) } : {}),
  limits: {
    messagesPerSecond: 1_000_000,
    messageBurst: 1_000_000,
    maxPeersPerRoom,
    maxMessageBytes: 64 * 1024,
  },
});
process.stdout.write(`${hub.url}\n`);
exitWhenParentSays(() => hub.close());
