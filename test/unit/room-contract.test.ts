/** Pure rules of the room contract that other hub implementations must reproduce exactly. */
import { describe, expect, it } from 'vitest';
import { ErrorCode, derivePeerId, parseErrorCode, sanitizeDisplayName, validateHello, validateRoomName } from '../../src/index.js';

describe('peer id derivation', () => {
  it('matches the test vectors in docs/room-contract.md', () => {
    expect(derivePeerId(null, 'agent-key-aaaaaaaaaaaaaaaa')).toBe('pQ7vkAVfuE-FbV3p');
    expect(derivePeerId('alice', 'agent-key-aaaaaaaaaaaaaaaa')).toBe('saNXd7KA38lmTmRQ');
  });
});

describe('room names', () => {
  it.each(['lobby', 'a', 'Team-1.ops_2', 'x'.repeat(64)])('accepts %s', (name) => {
    expect(validateRoomName(name)).toBe(name);
  });
  it.each(['', '-lead', '../x', 'a b', 'ü', 'x'.repeat(65), 'a/b', 'a\u0000'])('refuses %j', (name) => {
    expect(() => validateRoomName(name)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ROOM_NAME }));
  });
});

describe('hello', () => {
  it('normalises and strips control characters from names', () => {
    expect(validateHello({ name: 'bob\u001b[31m\u202e' })).toMatchObject({ name: 'bob[31m', capabilities: { native: false }, meta: {} });
    expect(sanitizeDisplayName('  eve\r\n')).toBe('eve');
  });
  it('names the bad field', () => {
    expect(() => validateHello({ agentKey: 'short' })).toThrow('hello.agentKey');
    expect(() => validateHello({ meta: { role: 5 } })).toThrow('hello.meta.role');
    expect(() => validateHello({ capabilities: { native: 'yes' } })).toThrow('hello.capabilities.native');
  });
});

describe('error codes on the wire', () => {
  it('are found inside ASP.NET Core\'s wrapped HubException text', () => {
    expect(parseErrorCode("An unexpected error occurred invoking 'Join' on the server. HubException: RTC_ERR_FORBIDDEN: nope")).toBe('RTC_ERR_FORBIDDEN');
    expect(parseErrorCode('RTC_ERR_MADE_UP: x')).toBeUndefined();
  });
});
