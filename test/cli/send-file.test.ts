/** `rtc-agent send-file`: a file from the command line to a peer, verified. */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { FileReceived } from '../../src/index.js';
import { useHub } from '../helpers/hub.js';
import { nextEvent, useAgent } from '../helpers/agents.js';

const BIN = fileURLToPath(new URL('../../bin/rtc-agent.js', import.meta.url));

function run(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RTC_AGENT_')));
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...env, RTC_AGENT_ICE_BIND_ADDRESS: '127.0.0.1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('rtc-agent send-file', () => {
  it('sends a file to a named peer and reports the verified result as JSON', async () => {
    const hub = await useHub();
    const dir = mkdtempSync(join(tmpdir(), 'rtc-sf-'));
    const data = randomBytes(3_000_000);
    writeFileSync(join(dir, 'payload.bin'), data);
    const receiver = await useAgent(hub.url, { name: 'rx', downloadDir: join(dir, 'in') });
    await receiver.join('drop');
    const got = nextEvent<FileReceived>(receiver, 'file-received', () => true, 30_000);
    const result = await run(['send-file', join(dir, 'payload.bin'), '--room', 'drop', '--to', 'rx', '--hub', hub.url, '--json']);
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    const sha256 = createHash('sha256').update(data).digest('hex');
    expect(report).toMatchObject({ name: 'payload.bin', size: 3_000_000, sha256, deliveredToNames: ['rx'] });
    expect(createHash('sha256').update(readFileSync((await got).path)).digest('hex')).toBe(sha256);
  });

  it('fails clearly for a missing file', async () => {
    const hub = await useHub();
    const receiver = await useAgent(hub.url, { name: 'rx' });
    await receiver.join('drop2');
    const result = await run(['send-file', '/nonexistent/file.bin', '--room', 'drop2', '--hub', hub.url]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('send-file: /nonexistent/file.bin: no such file');
  });
});
