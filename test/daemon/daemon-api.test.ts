/** startDaemon() in-process: the programmatic API, and a slow event reader that must not hold anything up. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startDaemon } from '../../src/daemon/index.js';
import { createLogger } from '../../src/index.js';
import { useHub } from '../helpers/hub.js';
import { useAgent } from '../helpers/agents.js';
import { eventually, http, readEvents, spawnProc, startDaemonProc, useTmpDir, within } from './helpers.js';

describe('startDaemon()', () => {
  it('closes and cleans up: streams end, the agent closes, the socket goes; idempotent', async () => {
    const hub = await useHub();
    const agent = await useAgent(hub.url, { name: 'daemon' });
    await agent.join('r');
    const socketPath = join(useTmpDir(), 'api.sock');
    const daemon = await startDaemon({ agent, socketPath, log: createLogger({ level: 'silent' }) });
    onTestFinished(() => daemon.close());
    expect(daemon.socketPath).toBe(socketPath);
    expect(daemon.url).toBeUndefined();
    const stream = await readEvents(socketPath);
    await Promise.all([daemon.close(), daemon.close()]);
    await within(stream.ended, 5_000, 'stream end');
    expect(stream.events.map((e) => e.type)).toEqual(['ready', 'closing']);
    expect(existsSync(socketPath)).toBe(false);
    await expect(agent.join('again')).rejects.toMatchObject({ code: 'RTC_ERR_CLOSED' });
  });

  it('drops an event client that stops reading; other clients and the agent carry on', async () => {
    const hub = await useHub();
    const d = await startDaemonProc(hub.url, ['--room', 'r', '--event-buffer-bytes', String(64 * 1024)]);
    // A reader in its own process that attaches and then never reads again.
    const script = `setInterval(() => {}, 1000); // a socket that is not read from does not keep node alive
    require('node:http').get({ socketPath: process.argv[1], path: '/events' }, (res) => {
      res.once('data', () => { res.pause(); console.log('attached'); });
      res.on('error', () => {});
    });`;
    const slow = spawnProc(process.execPath, ['-e', script, d.socket]);
    await slow.line((l) => l === 'attached');
    const fast = await readEvents(d.socket, '?type=message');
    const bob = await useAgent(hub.url, { name: 'bob' });
    const room = await bob.join('r');
    // ~1.2 MB of events, sent one at a time as the reading client gets each: no reader is ever busy,
    // and the stalled one is far past the socket buffers plus its 64 KiB bound.
    const COUNT = 150;
    const text = 'x'.repeat(8 * 1024);
    for (let i = 0; i < COUNT; i++) {
      await room.send(`${i} ${text}`);
      await fast.next((e) => e.type === 'message' && e.text.startsWith(`${i} `));
    }
    const received = fast.events.filter((e) => e.type === 'message').map((e) => Number(e.text.split(' ')[0]));
    expect(received).toEqual([...Array(COUNT).keys()]);
    // A paused socket does not notice it was closed; the daemon's side tells.
    const metrics = await eventually(
      async () => {
        const text = (await http(d.socket, 'GET', '/metrics')).text;
        return text.includes('rtc_agent_event_clients_dropped_total 1') ? text : undefined;
      },
      10_000,
      'the stalled client to be dropped',
    );
    expect(metrics).toContain('rtc_agent_event_clients 1');
    expect(metrics).toContain(`rtc_agent_messages_total{direction="received"} ${COUNT}`);
    expect(d.stderr()).toContain('event client is not reading; disconnecting it');
  });

  it('refuses a TCP address off loopback and a short token', async () => {
    const hub = await useHub();
    const agent = await useAgent(hub.url);
    const log = createLogger({ level: 'silent' });
    await expect(startDaemon({ agent, log, tcp: { host: '0.0.0.0', port: 0, token: 'x'.repeat(32) } })).rejects.toMatchObject({ code: 'RTC_ERR_CONFIG' });
    await expect(startDaemon({ agent, log, tcp: { port: 0, token: 'short' } })).rejects.toMatchObject({ code: 'RTC_ERR_CONFIG' });
  });
});
