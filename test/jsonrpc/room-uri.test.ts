/**
 * Room URIs (src/config/room-uri.ts): every form the issue names, the query's settings, errors
 * that name the wrong part, and — with a real hub and real agents — createAgent/join taking a URI
 * with the precedence docs/jsonrpc.md states: explicit options > the URI's query > env > file.
 */
import { describe, expect, it } from 'vitest';
import { applyRoomUri, parseRoomUri, roomOfUri, ROOM_URI_ROOM_PATTERN, type RoomUriPart } from '../../src/config/room-uri.js';
import { ROOM_NAME_PATTERN } from '../../src/protocol/room-contract.js';
import { useAgent } from '../helpers/agents.js';
import { useHub } from '../helpers/hub.js';
import { waitUntil } from '../helpers/wait.js';

function partOf(uri: string): { part: RoomUriPart; message: string } {
  try {
    parseRoomUri(uri);
  } catch (err) {
    const e = err as { code: string; message: string; details?: { part: RoomUriPart } };
    expect(e.code).toBe('RTC_ERR_CONFIG');
    return { part: e.details!.part, message: e.message };
  }
  throw new Error(`${uri} parsed`);
}

describe('parseRoomUri', () => {
  it('reads webrtc://HOST[:PORT]/ROOM as a room on a SignalR hub, webrtcs:// over TLS', () => {
    expect(parseRoomUri('webrtc://127.0.0.1:8080/lobby')).toMatchObject({ kind: 'server', secure: false, host: '127.0.0.1', port: 8080, room: 'lobby', signaling: 'signalr', hubUrl: 'http://127.0.0.1:8080/hub', settings: {} });
    // No port: rtc-agent hub's 8080; TLS: 443 (left out of the URL, as URL serialisation does).
    expect(parseRoomUri('webrtc://example.org/room-1')).toMatchObject({ port: 8080, hubUrl: 'http://example.org:8080/hub' });
    expect(parseRoomUri('webrtcs://example.org/lobby')).toMatchObject({ secure: true, port: 443, hubUrl: 'https://example.org/hub' });
    expect(parseRoomUri('webrtcs://example.org:8443/lobby')).toMatchObject({ hubUrl: 'https://example.org:8443/hub' });
    expect(parseRoomUri('webrtc://[::1]:9000/lobby/')).toMatchObject({ host: '[::1]', port: 9000, room: 'lobby', hubUrl: 'http://[::1]:9000/hub' });
    expect(parseRoomUri('webrtc://localhost/a.b_c-d')).toMatchObject({ host: 'localhost', room: 'a.b_c-d' });
    // ?signaling=jsonrpc: the same host's JSON-RPC endpoint.
    expect(parseRoomUri('webrtc://127.0.0.1:8080/lobby?signaling=jsonrpc')).toMatchObject({ signaling: 'jsonrpc', hubUrl: 'ws://127.0.0.1:8080/rpc', settings: { signaling: 'jsonrpc' } });
    expect(parseRoomUri('webrtcs://h.example/lobby?signaling=jsonrpc')).toMatchObject({ hubUrl: 'wss://h.example/rpc' });
  });

  it('reads webrtc://PEER-ID and webrtc-game://PEER-ID?room=ROOM as a peer on the configured hub', () => {
    expect(parseRoomUri('webrtc://q3nXk9aB0cDeFgHi')).toMatchObject({ kind: 'peer', peerId: 'q3nXk9aB0cDeFgHi', room: undefined });
    expect(parseRoomUri('webrtc://q3nXk9aB0cDeFgHi?room=lobby')).toMatchObject({ kind: 'peer', room: 'lobby' });
    expect(parseRoomUri('webrtc-game://player-42?room=arena&name=bob')).toMatchObject({ kind: 'peer', peerId: 'player-42', room: 'arena', settings: { name: 'bob' } });
  });

  it('turns the query into agent settings: name, e2ee, reliable, relay, native', () => {
    expect(parseRoomUri('webrtc://h.example/lobby?name=alice&e2ee=1&reliable=0&relay=no&native=true').settings).toEqual({
      name: 'alice',
      enableE2ee: true,
      reliable: false,
      allowRelay: false,
      tryNative: true,
    });
    expect(parseRoomUri('webrtc://h.example/lobby?name=Ren%C3%A9%20B').settings).toEqual({ name: 'René B' });
  });

  it('names the part that is wrong', () => {
    const cases: [string, RoomUriPart, RegExp][] = [
      ['http://127.0.0.1:8080/lobby', 'scheme', /scheme 'http' is not one of webrtc, webrtcs, webrtc-game/],
      ['webrtc:127.0.0.1/lobby', 'scheme', /needs '\/\/'/],
      ['webrtc://alice:pw@h.example/lobby', 'userinfo', /credentials/],
      ['webrtc:///lobby', 'host', /names no host/],
      ['webrtc-game://?room=x', 'host', /names no peer/],
      ['webrtc://bad_host!.example/lobby', 'host', /not a host name/],
      ['webrtc://127.0.0.1:99999/lobby', 'port', /port '99999' must be a number 1-65535/],
      ['webrtc://127.0.0.1:http/lobby', 'port', /port 'http'/],
      ['webrtc://127.0.0.1:8080', 'room', /no room: add \/ROOM/],
      ['webrtc://127.0.0.1:8080/', 'room', /no room/],
      ['webrtc://127.0.0.1/has space', 'room', /not a room name/],
      ['webrtc://127.0.0.1/a/b', 'path', /more than one path segment/],
      ['webrtc://127.0.0.1/lobby?room=other', 'room', /gives the room twice/],
      ['webrtc://127.0.0.1/lobby#top', 'fragment', /fragment/],
      ['webrtc://127.0.0.1/lobby?nmae=x', 'query', /unknown parameter 'nmae' \(did you mean 'name'\?\)/],
      ['webrtc://127.0.0.1/lobby?token=abc', 'query', /secrets do not go in URIs/],
      ['webrtc://127.0.0.1/lobby?e2ee=maybe', 'e2ee', /\?e2ee=maybe must be 1 or 0/],
      ['webrtc://127.0.0.1/lobby?reliable=2', 'reliable', /\?reliable=2/],
      ['webrtc://127.0.0.1/lobby?name=a&name=b', 'name', /gives 'name' twice/],
      ['webrtc://127.0.0.1/lobby?signaling=grpc', 'signaling', /must be signalr or jsonrpc/],
      ['webrtc-game://player-42', 'room', /needs the room/],
      ['webrtc-game://player-42/arena', 'path', /has no path/],
      ['webrtc://q3nXk9aB0cDeFgHi?signaling=jsonrpc', 'signaling', /names no server/],
      ['webrtc-game://not a peer?room=x', 'peer', /'not a peer' is not a peer id/],
      ['not a uri at all', 'scheme', /is not a URI/],
    ];
    for (const [uri, part, why] of cases) {
      const got = partOf(uri);
      expect(got, uri).toMatchObject({ part, message: expect.stringMatching(why) });
      expect(got.message, uri).toContain('room URI');
    }
    // Credentials never reach the message.
    expect(partOf('webrtc://alice:pw@h.example/lobby').message).not.toContain('pw');
  });

  it('accepts exactly the room names the hub accepts', () => {
    expect(ROOM_URI_ROOM_PATTERN.source).toBe(ROOM_NAME_PATTERN.source);
  });
});

describe('applyRoomUri and roomOfUri', () => {
  it('puts the query under explicit options, and the room as the default room', () => {
    const { options, room } = applyRoomUri({ hubUrl: 'webrtc://h.example:9/lobby?name=from-uri&reliable=0', name: 'explicit' });
    expect(room).toBe('lobby');
    expect(options).toEqual({ hubUrl: 'http://h.example:9/hub', name: 'explicit', reliable: false });
    // Options without a URI pass through untouched.
    const plain = { hubUrl: 'http://h.example/hub', name: 'x' };
    expect(applyRoomUri(plain).options).toBe(plain);
    expect(() => applyRoomUri({ hubUrl: 'webrtc-game://p1?room=a' })).toThrow(/peer URI .* names no hub/);
  });

  it('join() URIs must name the agent\'s own hub, carry no settings, and a peer URI its room', () => {
    expect(roomOfUri('webrtc://127.0.0.1:8080/lobby', ['http://127.0.0.1:8080/hub'])).toBe('lobby');
    expect(roomOfUri('webrtc-game://p1?room=arena', ['http://127.0.0.1:8080/hub'])).toBe('arena');
    expect(() => roomOfUri('webrtc://10.0.0.9:8080/lobby', ['http://127.0.0.1:8080/hub'])).toThrow(/names the hub http:\/\/10\.0\.0\.9:8080\/hub, but this agent is connected to/);
    expect(() => roomOfUri('webrtc://127.0.0.1:8080/lobby?name=x', ['http://127.0.0.1:8080/hub'])).toThrow(/join\(\) cannot change/);
    expect(() => roomOfUri('webrtc://p1', ['http://127.0.0.1:8080/hub'])).toThrow(/no room: add \?room=ROOM/);
  });
});

describe('createAgent and join with room URIs (real hub)', () => {
  it('createAgent({ hubUrl: URI }) connects to its hub and join() joins its room; options beat the query, the query beats env', async () => {
    const hub = await useHub();
    const uri = `webrtc://127.0.0.1:${hub.port}/uri-room?name=from-uri&reliable=0&relay=0`;
    const a = await useAgent(uri, { name: 'explicit', env: { RTC_AGENT_RELIABLE: 'true', RTC_AGENT_NAME: 'from-env' } });
    expect(a.hubUrl).toBe(hub.url);
    expect(a.settings).toMatchObject({ name: 'explicit', reliable: false, allowRelay: false });
    const ra = await a.join();
    expect(ra.name).toBe('uri-room');
    // A second agent joins the same room by URI through join(), and they meet.
    const b = await useAgent(hub.url, { name: 'bob' });
    const rb = await b.join(`webrtc://127.0.0.1:${hub.port}/uri-room`);
    expect(rb.name).toBe('uri-room');
    await waitUntil(() => ra.peer(rb.selfId), { what: 'bob in the URI room' });
    expect(ra.peer(rb.selfId)).toMatchObject({ name: 'bob' });
    // The query's name shows where no option overrides it.
    const c = await useAgent(`webrtc://127.0.0.1:${hub.port}/uri-room?name=from-uri`);
    expect(c.settings.name).toBe('from-uri');
  });

  it('?signaling=jsonrpc reaches the hub\'s /rpc', async () => {
    const hub = await useHub();
    const a = await useAgent(`webrtc://127.0.0.1:${hub.port}/lobby?signaling=jsonrpc`);
    expect(a.hubUrl).toBe(`ws://127.0.0.1:${hub.port}/rpc`);
    expect(a.relayAvailable).toBe(true);
    expect((await a.join()).name).toBe('lobby');
  });

  it('refuses a bad URI before connecting, naming the part', async () => {
    await expect(useAgent('webrtc://127.0.0.1:0/lobby')).rejects.toMatchObject({ code: 'RTC_ERR_CONFIG', details: { part: 'port' } });
    const hub = await useHub();
    const a = await useAgent(hub.url);
    await expect(a.join('webrtc://127.0.0.1/bad room')).rejects.toMatchObject({ code: 'RTC_ERR_CONFIG', details: { part: 'room' } });
    await expect(a.join()).rejects.toMatchObject({ code: 'RTC_ERR_BAD_REQUEST' });
  });
});
