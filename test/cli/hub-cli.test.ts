/** `rtc-agent hub` as a user runs it: URL first on stdout, logs on stderr, clean exit on signals. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { closed, connectClient, nextCall } from '../helpers/hub.js';

const BIN = fileURLToPath(new URL('../../bin/rtc-agent.js', import.meta.url));

function runCli(args: string[]): { child: ChildProcess; firstLine: Promise<string>; stderr: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RTC_AGENT_LOG_LEVEL: 'info' } });
  onTestFinished(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const lines = createInterface({ input: child.stdout! });
  const firstLine = new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`exited ${code} before printing a line: ${err}`)));
  });
  // Commands that fail on purpose never print a line; that is not an unhandled error.
  firstLine.catch(() => undefined);
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, firstLine, stderr: () => err, exit };
}

describe('rtc-agent hub', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`prints its URL first, serves the official client, and on ${signal} closes clients and exits 0`, async () => {
      const run = runCli(['hub', '--port', '0']);
      const url = await run.firstLine;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/hub$/);
      const a = await connectClient(url);
      const b = await connectClient(url, { transport: 'ServerSentEvents' });
      await a.invoke('Join', 'cli', { agentKey: 'cli-agent-key-aaaaaaaa' });
      const { self } = await b.invoke('Join', 'cli', { agentKey: 'cli-agent-key-bbbbbbbb' });
      const got = nextCall(b, 'Relayed');
      await a.invoke('Relay', 'cli', self.peerId, 'aGk=');
      expect((await got)[2]).toBe('aGk=');

      const gone = closed(a);
      run.child.kill(signal);
      expect(String(await gone)).toContain('RTC_ERR_SHUTTING_DOWN');
      expect(await run.exit).toBe(0);
      // Logs went to stderr as JSON lines, not to stdout.
      expect(run.stderr()).toContain('"msg":"hub listening"');
      expect(run.stderr()).toContain('"msg":"hub closed"');
    });
  }

  it('rejects bad flags with a clear message and exit code 2', async () => {
    const bad = runCli(['hub', '--port', 'eighty']);
    expect(await bad.exit).toBe(2);
    expect(bad.stderr()).toContain("option '--port <port>' argument 'eighty' is invalid");
    const badTransport = runCli(['hub', '--port', '0', '--transports', 'Carrier-Pigeon']);
    expect(await badTransport.exit).toBe(2);
    expect(badTransport.stderr()).toContain("RTC_ERR_CONFIG: hub setting 'transports' has unknown transport");
    const badKey = runCli(['hub', '--port', '0', '--jwt-public-key', '/nonexistent/key.pem']);
    expect(await badKey.exit).toBe(2);
    expect(badKey.stderr()).toContain('--jwt-public-key: cannot read /nonexistent/key.pem');
  });

  it('reports a port in use instead of crashing', async () => {
    const first = runCli(['hub', '--port', '0']);
    const port = new URL(await first.firstLine).port;
    const second = runCli(['hub', '--port', port]);
    expect(await second.exit).toBe(1);
    expect(second.stderr()).toContain('EADDRINUSE');
    first.child.kill('SIGTERM');
    expect(await first.exit).toBe(0);
  });
});
