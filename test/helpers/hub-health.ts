/** Helpers for abuse tests: "is the hub still fine?" and raw HTTP access to negotiate. */
import { expect } from 'vitest';
import type { Hub } from '../../src/index.js';
import { AGENT_KEY_A, AGENT_KEY_B, connectClient, nextCall } from './hub.js';
import { waitUntil } from './wait.js';

let healthRuns = 0;

/**
 * Proves the hub still serves well-behaved clients: /healthz answers 200, and two fresh official
 * clients join a new room, see each other and Relay a message both ways. Stops both clients.
 */
export async function assertHubHealthy(hub: Hub): Promise<void> {
  const health = await fetch(new URL('/healthz', hub.url));
  expect(health.status).toBe(200);
  expect(((await health.json()) as { status: string }).status).toBe('ok');

  const room = `health-${process.pid}-${++healthRuns}`;
  const a = await connectClient(hub.url);
  const b = await connectClient(hub.url);
  try {
    const joinedA = await a.invoke('Join', room, { agentKey: AGENT_KEY_A, name: 'healthy-a' });
    const sawB = nextCall(a, 'PeerJoined', 5_000, (r: string) => r === room);
    const joinedB = await b.invoke('Join', room, { agentKey: AGENT_KEY_B, name: 'healthy-b' });
    expect(joinedB.participants.map((p: { peerId: string }) => p.peerId)).toEqual([joinedA.self.peerId]);
    expect((await sawB)[1].peerId).toBe(joinedB.self.peerId);

    const toB = nextCall(b, 'Relayed', 5_000, (r: string) => r === room);
    await a.invoke('Relay', room, joinedB.self.peerId, 'aGVhbHRoeQ==');
    expect(await toB).toEqual([room, joinedA.self.peerId, 'aGVhbHRoeQ==']);

    const toA = nextCall(a, 'Relayed', 5_000, (r: string) => r === room);
    await b.invoke('Relay', room, null, 'YmFjaw==');
    expect(await toA).toEqual([room, joinedB.self.peerId, 'YmFjaw==']);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
}

export interface Negotiated {
  connectionId: string;
  connectionToken: string;
  availableTransports: { transport: string; transferFormats: string[] }[];
}

/** POSTs negotiate (version 1) the way the official client does. */
export async function negotiate(hub: Hub, query = ''): Promise<Negotiated> {
  const res = await fetch(`${hub.url}/negotiate?negotiateVersion=1${query}`, { method: 'POST' });
  expect(res.status).toBe(200);
  return (await res.json()) as Negotiated;
}

/** The hub URL with `?id=` for a negotiated connection. */
export function connUrl(hub: Hub, token: string): string {
  return `${hub.url}?id=${token}`;
}

export const RS = '\u001e';
export const HANDSHAKE = `{"protocol":"json","version":1}${RS}`;

/** {@link waitUntil} for an async condition, with positional arguments. */
export async function eventually(condition: () => Promise<boolean>, ms = 5_000, what = 'condition'): Promise<void> {
  await waitUntil(condition, { timeoutMs: ms, intervalMs: 20, what });
}
