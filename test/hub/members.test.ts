/** The `members` feature of the room contract on rtc-agent's hub (the same checks run against ASP.NET Core). */
import { describe, expect, it } from 'vitest';
import { AGENT_KEY_A, connectClient, useHub } from '../helpers/hub.js';
import { checkMembersFeature, codeOf } from '../helpers/contract-checks.js';

describe('Members', () => {
  it('lists the other members as the hub sees them now, to members only', async () => {
    const hub = await useHub();
    await checkMembersFeature(hub.url, 'members-room');
  });

  it('names a wrong argument count', async () => {
    const hub = await useHub();
    const a = await connectClient(hub.url);
    await a.invoke('Join', 'r', { agentKey: AGENT_KEY_A });
    expect(await codeOf(a.invoke('Members'))).toBe('RTC_ERR_BAD_REQUEST');
    expect(await codeOf(a.invoke('Members', 'r', 'extra'))).toBe('RTC_ERR_BAD_REQUEST');
    await a.stop();
  });
});
