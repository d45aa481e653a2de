/**
 * Contract checks run against every hub implementation (ours and interop/aspnet-hub), with the
 * official @microsoft/signalr client, so both hubs are held to the same text of docs/room-contract.md.
 */
import { expect } from 'vitest';
import { AGENT_KEY_A, AGENT_KEY_B, connectClient, nextCall } from './hub.js';
import { parseErrorCode } from '../../src/index.js';

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (err) {
    return parseErrorCode((err as Error).message) ?? `no code in: ${(err as Error).message}`;
  }
  return 'no error';
}

/** Contract feature `members`: Join announces it; Members lists the others, as the hub sees them now. */
export async function checkMembersFeature(url: string, room: string): Promise<void> {
  const a = await connectClient(url);
  const b = await connectClient(url);
  const c = await connectClient(url);
  const joinedA = await a.invoke('Join', room, { agentKey: AGENT_KEY_A, name: 'alpha' });
  expect(joinedA.features).toContain('members');
  expect(await a.invoke('Members', room)).toEqual({ room, participants: [] });

  const seen = nextCall(a, 'PeerJoined');
  const joinedB = await b.invoke('Join', room, { agentKey: AGENT_KEY_B, name: 'beta', capabilities: { native: true } });
  await seen;
  const atA = await a.invoke('Members', room);
  expect(atA).toEqual({ room, participants: [joinedB.self] });
  const atB = await b.invoke('Members', room);
  expect(atB.participants.map((p: { peerId: string }) => p.peerId)).toEqual([joinedA.self.peerId]);

  // Only members may ask, and only about their room; the method name is case-insensitive.
  expect(await codeOf(c.invoke('Members', room))).toBe('RTC_ERR_NOT_IN_ROOM');
  expect(await codeOf(a.invoke('Members', 'bad room!'))).toBe('RTC_ERR_INVALID_ROOM_NAME');
  expect((await a.invoke('members', room)).participants).toHaveLength(1);

  const left = nextCall(a, 'PeerLeft');
  await b.invoke('Leave', room);
  await left;
  expect(await a.invoke('Members', room)).toEqual({ room, participants: [] });
  await Promise.all([a.stop(), b.stop(), c.stop()]);
}

export { codeOf };
