/**
 * Connection errors that say what to do, and never a hang: nothing listening, no such host, TLS to
 * a plain hub, a URL without the hub's path, a server that never answers, a port fetch() refuses.
 * Each through the real CLI against real sockets on loopback.
 */
import { createServer, type Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { useHub } from '../helpers/hub.js';
import { cli, freePort, run } from './helpers.js';

/** A TCP server that accepts connections and never says a word. */
async function silentServer(): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return (server.address() as { port: number }).port;
}

const pipe = (hubUrl: string, extra: string[] = []) => run(['pipe', '--room', 'r', '--hub', hubUrl, ...extra], { input: '' });

describe('hub connection errors say what to do', () => {
  it('nothing listening: start a hub there, or use chat', async () => {
    const port = await freePort();
    const r = await pipe(`http://127.0.0.1:${port}/hub`);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(
      `rtc-agent: RTC_ERR_HUB_UNREACHABLE: cannot reach hub http://127.0.0.1:${port}/hub: nothing is listening on 127.0.0.1:${port}: start a hub there (rtc-agent hub --host 127.0.0.1 --port ${port}), or use rtc-agent chat, which hosts one on this machine\n`,
    );
  });

  it('a host name that does not resolve: says DNS and names the host', async () => {
    const r = await pipe('http://no-such-hub.invalid:8080/hub');
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/cannot reach hub http:\/\/no-such-hub\.invalid:8080\/hub: (cannot resolve the host name 'no-such-hub\.invalid' \(DNS\)|the DNS lookup of 'no-such-hub\.invalid' failed for now)/);
  });

  it('https:// to a plain-HTTP hub: says so and gives the http:// URL', async () => {
    const hub = await useHub();
    const r = await pipe(`https://127.0.0.1:${hub.port}/hub`);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`TLS with 127.0.0.1:${hub.port} failed (ERR_SSL_WRONG_VERSION_NUMBER): the hub there seems to speak plain HTTP; use http://127.0.0.1:${hub.port}/hub`);
  });

  it('a URL without the hub path: 404, "did you mean …/hub?"', async () => {
    const hub = await useHub();
    const r = await pipe(`http://127.0.0.1:${hub.port}`);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`no hub at http://127.0.0.1:${hub.port} (HTTP 404): did you mean http://127.0.0.1:${hub.port}/hub?`);
  });

  it('a server that never answers: gives up and says so (no hang)', async () => {
    const port = await silentServer();
    const r = await pipe(`http://127.0.0.1:${port}/hub`);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`cannot reach hub http://127.0.0.1:${port}/hub: no answer from 127.0.0.1:${port} within 3 s (a wrong address, or a firewall dropping packets?)`);
  }, 40_000);

  it('chat exits too when its hub cannot be reached and cannot be hosted here', async () => {
    const hub = await useHub();
    // Not a loopback http:// URL: nothing to host; it must say why and exit, not sit at a prompt.
    const r = await run(['chat', '--room', 'r', '--hub', `https://127.0.0.1:${hub.port}/hub`]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('seems to speak plain HTTP');
    // Loopback, but the port is taken by something that is no hub: it cannot host there either.
    const port = await silentServer();
    const taken = await run(['chat', '--room', 'r', '--hub', `http://127.0.0.1:${port}/hub`]);
    expect(taken.code).toBe(3);
    expect(taken.stderr).toContain(`no answer from 127.0.0.1:${port}`);
  }, 60_000);

  it('hub --port 6000 warns that no fetch()-based client can reach that port', async () => {
    const hub = cli(['hub', '--port', '6000'], { stdin: 'ignore' });
    expect(await hub.waitFor(() => true)).toBe('http://127.0.0.1:6000/hub');
    expect(hub.stderr()).toContain("rtc-agent: warning: port 6000 is one that fetch() refuses to connect to (Node's and browsers' SignalR clients, agents included); choose another, e.g. --port 8080");
    hub.child.kill('SIGTERM');
    expect(await hub.exit).toBe(0);
  });
});
