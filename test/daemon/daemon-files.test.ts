/** Files through the daemon: `rtc-agent send-file --daemon` and the file events on the stream. */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FileReceived } from '../../src/index.js';
import { useHub } from '../helpers/hub.js';
import { nextEvent, useAgent } from '../helpers/agents.js';
import { runCli, spawnCli, startDaemonProc, useTmpDir } from './helpers.js';
import { waitUntil } from '../helpers/wait.js';

describe('daemon file transfer', () => {
  it('sends a file through the daemon to a peer, verified; received files appear on the event stream', async () => {
    const hub = await useHub();
    const dir = useTmpDir();
    const daemon = await startDaemonProc(hub.url, ['--room', 'files', '--download-dir', join(dir, 'daemon-in')]);
    const peer = await useAgent(hub.url, { name: 'peer', downloadDir: join(dir, 'peer-in') });
    const room = await peer.join('files');
    await waitUntil(() => room.peers().length === 1, { what: 'room.peers().length === 1', timeoutMs: 10_000 });

    const data = randomBytes(1_500_000);
    writeFileSync(join(dir, 'out.bin'), data);
    const got = nextEvent<FileReceived>(peer, 'file-received', () => true, 30_000);
    const sent = await runCli(['send-file', '--daemon', '--socket', daemon.socket, '--json', join(dir, 'out.bin')]);
    expect(sent.code, sent.stderr).toBe(0);
    const sha256 = createHash('sha256').update(data).digest('hex');
    expect(JSON.parse(sent.stdout)).toMatchObject({ room: 'files', name: 'out.bin', size: 1_500_000, sha256, deliveredTo: [room.selfId] });
    expect(createHash('sha256').update(readFileSync((await got).path)).digest('hex')).toBe(sha256);

    // The other way: the peer sends to the daemon, whose event stream reports the verified file.
    const events = spawnCli(['events', '--json', '--socket', daemon.socket, '--type', 'file-received']);
    await events.line((l) => l.includes('"ready"'), 10_000).catch(() => events.line(() => true, 10_000));
    writeFileSync(join(dir, 'back.txt'), 'hello daemon');
    await room.sendFile(join(dir, 'back.txt'));
    const line = JSON.parse(await events.line((l) => l.includes('file-received'), 15_000));
    expect(line).toMatchObject({ type: 'file-received', room: 'files', from: room.selfId, name: 'back.txt', size: 12 });
    expect(readFileSync(line.path, 'utf8')).toBe('hello daemon');
  });
});
