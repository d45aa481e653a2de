/**
 * The pure parts of JSON-RPC signaling (src/protocol/jsonrpc, src/signaling/jsonrpc-announce.ts,
 * jsonrpc-link.ts's closeError): how frames are classified, how other stacks' shapes of offers,
 * candidates, participants and announce results are read, session ids filled in, and errors
 * mapped both ways.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, RtcAgentError } from '../../src/errors.js';
import { classify, closeReason, fromJsonRpcError, parseFrame, toJsonRpcError } from '../../src/protocol/jsonrpc/messages.js';
import { SessionStamper, participantFromRpc, signalFromRpc, signalToRpc } from '../../src/protocol/jsonrpc/signaling.js';
import { joinResultOf } from '../../src/signaling/jsonrpc-announce.js';
import { closeError } from '../../src/signaling/jsonrpc-link.js';

describe('frames', () => {
  it('classifies requests, notifications, responses and what is neither', () => {
    expect(parseFrame('{"jsonrpc":"2.0","method":"offer","params":{},"id":0}')).toMatchObject({ kind: 'single', entry: { kind: 'request' } });
    expect(parseFrame('nope')).toMatchObject({ kind: 'parse-error' });
    expect(parseFrame('[]')).toEqual({ kind: 'empty-batch' });
    expect(parseFrame('[1,{"jsonrpc":"2.0","result":1,"id":2}]')).toMatchObject({ kind: 'batch', entries: [{ kind: 'invalid', id: null }, { kind: 'response' }] });
    // id null is a request (answered with id null); a response needs exactly one of result/error.
    expect(classify({ jsonrpc: '2.0', method: 'x', id: null })).toMatchObject({ kind: 'request' });
    expect(classify({ jsonrpc: '2.0', result: 1, error: {}, id: 1 })).toMatchObject({ kind: 'invalid', id: 1 });
    expect(classify({ jsonrpc: '2.0', error: 'bad', id: 1 })).toMatchObject({ kind: 'invalid', why: '"error" must be an object' });
    expect(classify({ jsonrpc: '2.0', method: 'x', params: null, id: 1 })).toMatchObject({ kind: 'invalid', why: expect.stringMatching(/got null/) });
    expect(classify({ jsonrpc: '2.0', method: 'x', id: Number.NaN })).toMatchObject({ kind: 'invalid', id: null });
  });
});

describe('signals in the shapes other stacks send', () => {
  it('reads offers and candidates flat or as RTCSessionDescriptionInit / RTCIceCandidateInit', () => {
    expect(signalFromRpc('offer', { sdp: { type: 'offer', sdp: 'v=0' } })).toEqual({ type: 'description', sdpType: 'offer', sdp: 'v=0' });
    expect(signalFromRpc('answer', { sdp: 'v=0', sessionId: 's1' })).toEqual({ type: 'description', sdpType: 'answer', sdp: 'v=0', sessionId: 's1' });
    // No mid: the m-line index names the section; neither: section "0".
    expect(signalFromRpc('ice_candidate', { candidate: { candidate: 'candidate:1', sdpMLineIndex: 1 } })).toEqual({ type: 'candidate', candidate: 'candidate:1', mid: '1' });
    expect(signalFromRpc('ice_candidate', { candidate: 'candidate:2' })).toEqual({ type: 'candidate', candidate: 'candidate:2', mid: '0' });
    expect(() => signalFromRpc('ice_candidate', { candidate: 'c', sdpMLineIndex: -1 })).toThrow(/"sdpMLineIndex" must be an integer/);
    expect(() => signalFromRpc('answer', { sdp: '' })).toThrow(/"sdp" must be a non-empty string/);
    expect(() => signalFromRpc('rtcagent.signal', { signal: { type: 'weird' } })).toThrow(/not one this agent knows/);
    // The hub forwards rtcagent.signal unread.
    expect(signalFromRpc('rtcagent.signal', { signal: { type: 'weird' } }, true)).toEqual({ type: 'weird' });
  });

  it('writes room-contract signals as the standard methods, the rest as rtcagent.signal', () => {
    expect(signalToRpc({ type: 'description', sdpType: 'offer', sdp: 'v=0', sessionId: 'a' })).toEqual({ method: 'offer', params: { sdp: 'v=0', type: 'offer', sessionId: 'a' } });
    expect(signalToRpc({ type: 'candidate', candidate: 'c', mid: '0' })).toEqual({ method: 'ice_candidate', params: { candidate: 'c', sdpMid: '0' } });
    expect(signalToRpc({ type: 'bye' })).toEqual({ method: 'rtcagent.signal', params: { signal: { type: 'bye' } } });
  });

  it('fills session ids: a new one per offer, the current one for answers and candidates, ids seen kept', () => {
    const s = new SessionStamper('t');
    const offer = s.fill('r', 'p', { type: 'description', sdpType: 'offer', sdp: 'v=0' });
    const cand = s.fill('r', 'p', { type: 'candidate', candidate: 'c', mid: '0' });
    expect(offer).toMatchObject({ sessionId: 't1' });
    expect(cand).toMatchObject({ sessionId: 't1' });
    expect(s.fill('r', 'p', { type: 'description', sdpType: 'offer', sdp: 'v=0' })).toMatchObject({ sessionId: 't2' });
    // The peer's own negotiation id (seen on its offer) is what our answer and candidates carry.
    s.observe('r', 'q', { type: 'description', sdpType: 'offer', sdp: 'v=0', sessionId: 'theirs' });
    expect(s.fill('r', 'q', { type: 'description', sdpType: 'answer', sdp: 'v=0' })).toMatchObject({ sessionId: 'theirs' });
    expect(s.fill('r', 'q', { type: 'bye' })).toEqual({ type: 'bye' });
    s.forget('r');
    expect(s.fill('r', 'q', { type: 'candidate', candidate: 'c', mid: '0' })).toMatchObject({ sessionId: 't3' });
    // Bounded: the oldest pair is forgotten first.
    const small = new SessionStamper('b', 2);
    for (const peer of ['x', 'y', 'z']) small.observe('r', peer, { type: 'candidate', candidate: 'c', mid: '0', sessionId: `id-${peer}` });
    expect(small.fill('r', 'x', { type: 'candidate', candidate: 'c', mid: '0' })).toMatchObject({ sessionId: 'b1' });
    expect(small.fill('r', 'z', { type: 'candidate', candidate: 'c', mid: '0' })).toMatchObject({ sessionId: 'id-z' });
  });
});

describe("other servers' participants and announce results", () => {
  it('reads peerId, peer_id, id (string or number) or a bare string; a WebRTC peer by default', () => {
    expect(participantFromRpc({ peer_id: 'p1', name: 'x' }, 5)).toMatchObject({ peerId: 'p1', name: 'x', capabilities: { native: true }, joinedAt: 5, userId: null });
    expect(participantFromRpc({ id: 42 }, 5)).toMatchObject({ peerId: '42', name: 'peer-42' });
    expect(participantFromRpc('uuid-1', 5)).toMatchObject({ peerId: 'uuid-1' });
    expect(participantFromRpc({ peerId: 'p', capabilities: { native: false } }, 5)?.capabilities.native).toBe(false);
    expect(participantFromRpc({ name: 'no id' }, 5)).toBeUndefined();
    expect(participantFromRpc({ peerId: 'x'.repeat(129) }, 5)).toBeUndefined();
  });

  it("completes a foreign server's { peerId, participants } to a Join result, without self", () => {
    const result = joinResultOf({ peerId: 'me', participants: [{ peerId: 'me' }, { peer_id: 'other', name: 'o' }] }, 'lobby', { name: 'agent', capabilities: { native: true } }, 7);
    expect(result).toMatchObject({ room: 'lobby', self: { peerId: 'me', name: 'agent', capabilities: { native: true } }, features: [], iceServers: [] });
    expect(result.participants.map((p) => p.peerId)).toEqual(['other']);
    expect(result.limits.maxMessageBytes).toBeGreaterThan(0);
    expect(() => joinResultOf(null, 'lobby', {}, 7)).toThrow(/announce returned null/);
    expect(() => joinResultOf({ participants: [] }, 'lobby', {}, 7)).toThrow(/no peerId/);
  });
});

describe('errors both ways', () => {
  it('maps stable codes to numeric classes and back; a foreign error keeps its server message', () => {
    expect(toJsonRpcError(new RtcAgentError(ErrorCode.ROOM_FULL, 'full'))).toEqual({ code: -32004, message: 'full', data: { code: 'RTC_ERR_ROOM_FULL' } });
    expect(toJsonRpcError(new RtcAgentError(ErrorCode.SHUTTING_DOWN, 'bye')).code).toBe(-32000);
    expect(fromJsonRpcError({ code: -32004, message: 'full', data: { code: 'RTC_ERR_ROOM_FULL' } }, 'announce')).toMatchObject({ code: 'RTC_ERR_ROOM_FULL', message: 'full' });
    const foreign = fromJsonRpcError({ code: -32601, message: 'Method not found' }, 'rtcagent.hello');
    expect(foreign).toMatchObject({ code: 'RTC_ERR_UNKNOWN_METHOD', message: expect.stringMatching(/refused rtcagent\.hello: Method not found \(JSON-RPC error -32601\)/) });
    expect(fromJsonRpcError('garbage', 'offer').code).toBe('RTC_ERR_BAD_REQUEST');
  });

  it('reads close frames: RTC_ERR_… reasons keep their code; others are HUB_UNREACHABLE naming the code', () => {
    expect(closeError(4001, 'RTC_ERR_UNAUTHORIZED: token expired', 'ws://h/rpc')).toMatchObject({ code: 'RTC_ERR_UNAUTHORIZED', message: 'token expired' });
    expect(closeError(1006, '', 'ws://h/rpc')).toMatchObject({ code: 'RTC_ERR_HUB_UNREACHABLE', message: expect.stringMatching(/closed the connection \(code 1006\)/) });
    // A close reason fits the 123 bytes of a close frame, cut on a character boundary.
    const reason = closeReason(new RtcAgentError(ErrorCode.ABUSE, 'ü'.repeat(200)));
    expect(new TextEncoder().encode(reason).length).toBeLessThanOrEqual(123);
    expect(reason.startsWith('RTC_ERR_ABUSE: ü')).toBe(true);
  });
});
