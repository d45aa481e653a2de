/**
 * A CLI command whose event loop stays blocked (node-datachannel's TURN DTLS deadlock,
 * native-notes.md) says so on stderr and is killed (exit 137) instead of hanging forever. The
 * block is made by a preload that stops the main thread on SIGUSR2, once the agent is in its
 * room; RTC_AGENT_FREEZE_KILL_MS shortens the one-minute limit for the test.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../helpers/wait.js';
import { cleanEnv, cli } from './helpers.js';

const BLOCK = fileURLToPath(new URL('../fixtures/block-loop-on-signal.mjs', import.meta.url));

describe('CLI freeze watchdog', () => {
  it('a pipe whose event loop is blocked for good prints why and is killed (137)', async () => {
    const hub = cli(['hub', '--port', '0'], { stdin: 'ignore' });
    const hubUrl = await hub.waitFor((l) => /^http:\/\/127\.0\.0\.1:\d+\/hub$/.test(l));
    const pipe = cli(['pipe', '--room', 'frozen', '--hub', hubUrl, '--json', '--keep-open'], {
      env: cleanEnv({ NODE_OPTIONS: `--import=${BLOCK}`, RTC_AGENT_FREEZE_KILL_MS: '1000' }),
    });
    const health = new URL('/healthz', hubUrl);
    await waitUntil(async () => ((await (await fetch(health)).json()) as { members: number }).members === 1, { what: 'the pipe in its room', timeoutMs: 20_000 });
    pipe.child.kill('SIGUSR2');
    expect(await pipe.exit).toMatch(/^SIGKILL: /);
    expect(pipe.stderr()).toContain('test: blocking the event loop');
    expect(pipe.stderr()).toContain('rtc-agent: the event loop has been blocked for 1 s');
  });
});
