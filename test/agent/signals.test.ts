/**
 * Negotiation signals go to the hub as SignalR non-blocking invocations (no completion comes back:
 * half the hub traffic of a forming mesh), and keep their order; the probe is the one signal that
 * needs the hub's answer (PEER_NOT_IN_ROOM ends the probing of a vanished peer), so it is invoked.
 * Real hub, the real HubClient on both protocols, an official client as the other member.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { MessagePackHubProtocol } from '@microsoft/signalr-protocol-msgpack';
import { ErrorCode, RtcAgentError } from '../../src/index.js';
import { HubClient } from '../../src/signaling/hub-client.js';
import { silentEngineLogger } from '../../src/engine/log.js';
import type { RoomInbound } from '../../src/engine/signaling.js';
import type { JoinResult, SignalPayload } from '../../src/protocol/room-contract.js';
import { AGENT_KEY_A, AGENT_KEY_B, connectClient, record, useHub } from '../helpers/hub.js';
import { waitUntil } from '../helpers/wait.js';

const ignore = (): void => undefined;
const inbound: RoomInbound = { peerJoined: ignore, peerLeft: ignore, signal: ignore, relayed: ignore, rejoined: ignore, rejoinFailed: ignore };

describe.each(['json', 'messagepack'] as const)('signals over %s', (hubProtocol) => {
  it('reach the peer in order without a completion, and only the probe reports an absent peer', async () => {
    const hub = await useHub();
    const client = new HubClient({
      hubUrl: hub.url,
      maxReconnectAttempts: 0,
      reconnectIntervalMs: 100,
      log: silentEngineLogger(),
      hubProtocol,
      messagePack: () => new MessagePackHubProtocol(),
    });
    onTestFinished(() => client.close());
    await client.connect();
    const peer = await connectClient(hub.url);
    const got = record(peer, 'Signal');
    const joined = (await peer.invoke('Join', 'r', { agentKey: AGENT_KEY_B, capabilities: { native: true } })) as JoinResult;
    const { room } = await client.join('r', { agentKey: AGENT_KEY_A, capabilities: { native: true } }, inbound);

    const sent: SignalPayload[] = Array.from({ length: 20 }, (_, i) => ({ type: 'candidate', candidate: `candidate:${i} 1 udp 1 127.0.0.1 ${5000 + i} typ host`, mid: '0', sessionId: 's1' }));
    await Promise.all(sent.map((s) => room.signal(joined.self.peerId, s)));
    await waitUntil(() => got.length === sent.length, { what: 'all 20 signals at the peer', timeoutMs: 5_000 });
    expect(got.map((args) => (args[2] as { candidate: string }).candidate)).toEqual(sent.map((s) => (s as { candidate: string }).candidate));

    // Fire and forget: the hub's refusal is not reported to a negotiation signal...
    await expect(room.signal('nobody-here', { type: 'restart' })).resolves.toBeUndefined();
    // ...but the confirmed one gets it.
    const refused = await room.signalConfirmed('nobody-here', { type: 'probe' }).then(
      () => new Error('resolved'),
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(RtcAgentError);
    expect((refused as RtcAgentError).code).toBe(ErrorCode.PEER_NOT_IN_ROOM);
  });

  it('fail fast with HUB_UNREACHABLE once the connection is gone', async () => {
    const hub = await useHub();
    const client = new HubClient({ hubUrl: hub.url, maxReconnectAttempts: 0, reconnectIntervalMs: 100, log: silentEngineLogger(), hubProtocol, messagePack: () => new MessagePackHubProtocol() });
    await client.connect();
    const { room } = await client.join('r', { agentKey: AGENT_KEY_A }, inbound);
    await client.close();
    const err = await room.signal('someone', { type: 'restart' }).then(
      () => new Error('resolved'),
      (e: unknown) => e,
    );
    expect((err as RtcAgentError).code).toBe(ErrorCode.HUB_UNREACHABLE);
  });
});
