/**
 * Chat hosting that survives its host: when the chat hosting the hub quits, another chat on the
 * machine hosts the same loopback URL and the others reconnect to it; a new chat reaches it. Lines
 * typed while the hub is away are marked and sent once it is back. Real chats in tmux terminals.
 */
import { describe, expect, it } from 'vitest';
import { startHub } from '../../src/index.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { waitUntil } from '../helpers/wait.js';
import { BIN, NO_TMUX, Terminal, cleanEnv, freePort, hasTmux } from './helpers.js';

if (!hasTmux) console.warn(NO_TMUX);

/** The bound: another chat hosts within 15 s of the host quitting. */
const TAKEOVER_WITHIN_MS = 15_000;

describe.skipIf(!hasTmux)('chat hosting survives its host', () => {
  it('another chat takes over the hub within 15 s when the hosting chat quits; the rest reconnect; a new chat reaches it', async () => {
    const port = await freePort();
    const hub = `http://127.0.0.1:${port}/hub`;
    const tag = `${process.pid}-${port}`;
    const chat = (name: string): Terminal => Terminal.open(`${name}-${tag}`, `node ${BIN} chat --room lobby --name ${name} --hub ${hub}`, cleanEnv());
    const alice = chat('alice');
    await alice.waitFor(/hosting one here/);
    await alice.waitFor(/joined 'lobby' as alice/);
    const bob = chat('bob');
    await bob.waitFor(/here: alice/);
    const carol = chat('carol');
    await carol.waitFor(/here: (alice, bob|bob, alice)/);

    alice.type('/quit');
    await alice.waitFor(/this chat was hosting the hub; another chat on this machine takes it over/);
    // One of the others hosts it now, the other one reconnects to it.
    const hosting = (): Terminal[] => [bob, carol].filter((t) => /hosting it here now at/.test(t.screen()));
    const hosts = await waitUntil(() => (hosting().length > 0 ? hosting() : undefined), { what: 'bob or carol to host the hub', timeoutMs: TAKEOVER_WITHIN_MS, intervalMs: 100 });
    expect(hosts).toHaveLength(1);
    const other = hosts[0] === bob ? carol : bob;
    await other.waitFor(/hub reconnected/, TAKEOVER_WITHIN_MS);

    // A chat started now reaches the new host's hub: nobody needs to host again.
    const dave = chat('dave');
    await dave.waitFor(/here: (bob, carol|carol, bob)/);
    expect(dave.screen()).not.toContain('hosting');
    dave.type('hello after the takeover');
    await bob.waitFor(/dave \[(p2p|relay)\]: hello after the takeover/);
    await carol.waitFor(/dave \[(p2p|relay)\]: hello after the takeover/);
  });

  it('marks lines typed while the hub is away and sends them once it is back', async () => {
    // The hub sits behind a proxy holding the chats' URL, so no chat can take it over: the outage
    // lasts until the test brings a hub back behind it.
    const hubPort = await freePort();
    let hub = await startHub({ host: '127.0.0.1', port: hubPort });
    const proxy = await TcpProxy.start(hubPort);
    const url = `http://127.0.0.1:${proxy.port}/hub`;
    const tag = `${process.pid}-${proxy.port}`;
    const bob = Terminal.open(`hb-${tag}`, `node ${BIN} chat --room r --name bob --hub ${url}`, cleanEnv());
    await bob.waitFor(/joined 'r' as bob/);
    const carol = Terminal.open(`hc-${tag}`, `node ${BIN} chat --room r --name carol --hub ${url}`, cleanEnv());
    await carol.waitFor(/here: bob/);
    await carol.waitFor(/bob: relay → p2p/);

    await hub.close();
    await carol.waitFor(/hub connection lost; reconnecting…/);
    carol.type('typed while away');
    await carol.waitFor(/… you \(held until the hub is back\): typed while away/);
    expect(bob.screen()).not.toContain('typed while away');

    hub = await startHub({ host: '127.0.0.1', port: hubPort });
    try {
      await carol.waitFor(/sent 1 line\(s\) typed while the hub was away/, 20_000);
      await bob.waitFor(/carol \[p2p\]: typed while away/);
    } finally {
      await hub.close();
      await proxy.close();
    }
  });
});
