/**
 * Room URIs, as gaming stacks address rooms (docs/jsonrpc.md#room-uris):
 *
 *   webrtc://HOST[:PORT]/ROOM[?…]        a room on a hub (PORT defaults to 8080, rtc-agent hub's port)
 *   webrtcs://HOST[:PORT]/ROOM[?…]       the same over TLS (PORT defaults to 443)
 *   webrtc://PEER-ID[?room=ROOM&…]       a peer, on the hub the agent is configured with
 *   webrtc-game://PEER-ID?room=ROOM[&…]  the same; the room is required
 *
 * The query sets the agent settings users set most: `name`, `e2ee`, `reliable`, `relay`, `native`,
 * `signaling` (`signalr`: the hub is http(s)://HOST:PORT/hub, the default; `jsonrpc`:
 * ws(s)://HOST:PORT/rpc). Explicit flags and createAgent options beat the query, which beats env
 * and the config file. Every error names the part that is wrong (`details.part`). Pure: no I/O.
 */
import { DEFAULT_HUB_PATH, DEFAULT_HUB_PORT } from '../constants.js';
import { ErrorCode, RtcAgentError } from '../errors.js';
import { SPECS, type AgentSettingsInput, type SignalingProtocol } from './settings-schema.js';
import { closestName } from './suggest.js';
import { Invalid } from './value-kinds.js';

/** The path of JSON-RPC signaling on rtc-agent's hub (src/hub/jsonrpc). */
export const ROOM_URI_JSONRPC_PATH = '/rpc';
/** webrtcs:// without a port: TLS is usually served by a reverse proxy on the standard port. */
export const DEFAULT_TLS_PORT = 443;
/**
 * The room contract's room names (src/protocol/room-contract.ts ROOM_NAME_PATTERN; config is below
 * protocol and cannot import it; test/jsonrpc/room-uri.test.ts checks they are the same).
 */
export const ROOM_URI_ROOM_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Peer ids: ours are 16 base64url characters; other servers' are UUIDs, numbers and the like. */
const PEER_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
const HOSTNAME_PATTERN = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export const ROOM_URI_PARAMS = ['name', 'e2ee', 'reliable', 'relay', 'native', 'signaling', 'room'] as const;
export type RoomUriPart = 'scheme' | 'userinfo' | 'host' | 'port' | 'path' | 'room' | 'peer' | 'query' | 'fragment' | (typeof ROOM_URI_PARAMS)[number];

export interface RoomUriBase {
  /** The URI as given. */
  uri: string;
  /** Settings from the query (only those given). */
  settings: AgentSettingsInput;
}

/** `webrtc(s)://HOST[:PORT]/ROOM`: a room on a hub. */
export interface ServerRoomUri extends RoomUriBase {
  kind: 'server';
  secure: boolean;
  host: string;
  port: number;
  room: string;
  signaling: SignalingProtocol;
  /** The hub the agent connects to: `http(s)://HOST:PORT/hub` or `ws(s)://HOST:PORT/rpc`. */
  hubUrl: string;
}

/** `webrtc://PEER-ID` or `webrtc-game://PEER-ID?room=ROOM`: a peer on the configured hub. */
export interface PeerRoomUri extends RoomUriBase {
  kind: 'peer';
  peerId: string;
  /** Absent for `webrtc://PEER-ID` without `?room=` (the caller may have one). */
  room: string | undefined;
}

export type RoomUri = ServerRoomUri | PeerRoomUri;

/** True for strings that are meant as room URIs (so a bad one gets a room-URI error, not "bad room name"). */
export function isRoomUri(value: string): boolean {
  return /^webrtc[a-z-]*:/i.test(value);
}

/** Shows a URI in an error without any credentials it carries. */
function shown(uri: string): string {
  return uri.replace(/^([a-z-]+:\/\/)[^/@?#]*@/i, '$1***@').slice(0, 200);
}

function fail(uri: string, part: RoomUriPart, why: string): RtcAgentError {
  return new RtcAgentError(ErrorCode.CONFIG, `room URI ${JSON.stringify(shown(uri))}: ${why}`, { details: { part, uri: shown(uri) } });
}

const BOOLEANS: Record<string, boolean> = { '1': true, true: true, yes: true, on: true, '0': false, false: false, no: false, off: false };

/** Parses a room URI; throws RTC_ERR_CONFIG naming the part that is wrong. */
export function parseRoomUri(uri: string): RoomUri {
  if (typeof uri !== 'string') throw new RtcAgentError(ErrorCode.CONFIG, `a room URI must be a string, got ${typeof uri}`, { details: { part: 'scheme' } });
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):(\/\/)?([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/s.exec(uri.trim());
  if (!m) throw fail(uri, 'scheme', 'is not a URI; write webrtc://HOST:PORT/ROOM');
  const scheme = m[1]!.toLowerCase();
  const authority = m[3]!;
  const path = m[4]!;
  const query = m[5] ?? '';
  if (scheme !== 'webrtc' && scheme !== 'webrtcs' && scheme !== 'webrtc-game') {
    throw fail(uri, 'scheme', `the scheme '${m[1]}' is not one of webrtc, webrtcs, webrtc-game`);
  }
  if (m[2] === undefined) throw fail(uri, 'scheme', `needs '//' after '${m[1]}:' (${scheme}://…)`);
  if (m[6] !== undefined) throw fail(uri, 'fragment', 'has a fragment (#…); room URIs have none');
  if (authority.includes('@')) throw fail(uri, 'userinfo', 'has credentials (user@…); give a token with --token or RTC_AGENT_ACCESS_TOKEN instead');
  if (authority === '') throw fail(uri, 'host', scheme === 'webrtc-game' ? 'names no peer (webrtc-game://PEER-ID?room=ROOM)' : 'names no host (webrtc://HOST:PORT/ROOM)');
  const params = parseQuery(uri, query);
  const isPeerForm = scheme === 'webrtc-game' || (scheme === 'webrtc' && (path === '' || path === '/') && !looksLikeHost(authority));
  if (isPeerForm) return peerUri(uri, scheme, authority, path, params);
  return serverUri(uri, scheme === 'webrtcs', authority, path, params);
}

/** A bare authority that is a host (so `webrtc://HOST` lacks its room) rather than a peer id. */
function looksLikeHost(authority: string): boolean {
  return authority.startsWith('[') || authority.includes('.') || authority.includes(':') || authority.toLowerCase() === 'localhost';
}

function serverUri(uri: string, secure: boolean, authority: string, path: string, params: Map<string, string>): ServerRoomUri {
  const am = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]]+)(?::(.*))?$/.exec(authority);
  if (!am) throw fail(uri, 'host', `'${authority}' is not HOST or HOST:PORT`);
  const host = am[1]!;
  if (!host.startsWith('[') && !HOSTNAME_PATTERN.test(host)) throw fail(uri, 'host', `'${host}' is not a host name or IP address`);
  let port = secure ? DEFAULT_TLS_PORT : DEFAULT_HUB_PORT;
  if (am[2] !== undefined) {
    if (!/^\d{1,5}$/.test(am[2]) || Number(am[2]) < 1 || Number(am[2]) > 65535) throw fail(uri, 'port', `the port '${am[2]}' must be a number 1-65535`);
    port = Number(am[2]);
  }
  const segments = path.split('/').slice(1);
  if (path === '' || path === '/') throw fail(uri, 'room', `names the server ${authority} but no room: add /ROOM, e.g. ${secure ? 'webrtcs' : 'webrtc'}://${authority}/lobby`);
  if (segments.length > 1 && !(segments.length === 2 && segments[1] === '')) {
    throw fail(uri, 'path', `has more than one path segment ('${path}'); the path is the room name alone`);
  }
  const room = checkRoom(uri, segments[0]!, 'room');
  if (params.has('room')) throw fail(uri, 'room', `gives the room twice: as the path (${room}) and as ?room=; drop ?room=`);
  const given = params.get('signaling');
  if (given !== undefined && given !== 'signalr' && given !== 'jsonrpc') throw fail(uri, 'signaling', `?signaling=${given.slice(0, 40)} must be signalr or jsonrpc`);
  const signaling: SignalingProtocol = given ?? 'signalr';
  // The scheme's own default port is left out, as URL serialisation would.
  const authorityOut = port === (secure ? 443 : 80) ? host : `${host}:${port}`;
  const hubUrl = signaling === 'jsonrpc' ? `${secure ? 'wss' : 'ws'}://${authorityOut}${ROOM_URI_JSONRPC_PATH}` : `${secure ? 'https' : 'http'}://${authorityOut}${DEFAULT_HUB_PATH}`;
  return { kind: 'server', uri, secure, host, port, room, signaling, hubUrl, settings: settingsOf(uri, params, given) };
}

function peerUri(uri: string, scheme: string, authority: string, path: string, params: Map<string, string>): PeerRoomUri {
  if (path !== '' && path !== '/') throw fail(uri, 'path', `a ${scheme}:// peer URI has no path; the room goes in ?room= (${scheme}://${authority}?room=ROOM)`);
  if (!PEER_ID_PATTERN.test(authority)) throw fail(uri, 'peer', `'${authority.slice(0, 64)}' is not a peer id (1-128 of A-Z a-z 0-9 _ -)`);
  const roomParam = params.get('room');
  if (scheme === 'webrtc-game' && roomParam === undefined) throw fail(uri, 'room', `needs the room: webrtc-game://${authority}?room=ROOM`);
  if (params.has('signaling')) throw fail(uri, 'signaling', 'a peer URI names no server, so it has no signaling to choose; set it with the hub (--hub, RTC_AGENT_HUB_URL)');
  const room = roomParam === undefined ? undefined : checkRoom(uri, roomParam, 'room');
  return { kind: 'peer', uri, peerId: authority, room, settings: settingsOf(uri, params, undefined) };
}

function checkRoom(uri: string, room: string, part: RoomUriPart): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(room);
  } catch {
    throw fail(uri, part, `the room '${room.slice(0, 80)}' is not valid percent-encoding`);
  }
  if (!ROOM_URI_ROOM_PATTERN.test(decoded)) {
    throw fail(uri, part, `the room '${decoded.slice(0, 80)}' is not a room name: use 1-64 of A-Z a-z 0-9 . _ - starting with a letter or digit`);
  }
  return decoded;
}

function parseQuery(uri: string, query: string): Map<string, string> {
  const out = new Map<string, string>();
  if (query === '' || query === '?') return out;
  let search: URLSearchParams;
  try {
    search = new URLSearchParams(query);
  } catch {
    throw fail(uri, 'query', 'has a query that is not valid percent-encoding');
  }
  for (const [key, value] of search) {
    if (!(ROOM_URI_PARAMS as readonly string[]).includes(key)) {
      const secret = /token|secret|password|key/i.test(key);
      const near = closestName(key, ROOM_URI_PARAMS);
      const hint = secret
        ? '; secrets do not go in URIs (they end up in shell history and process lists): use RTC_AGENT_ACCESS_TOKEN, --room-secret-file and the like'
        : near !== undefined
          ? ` (did you mean '${near}'?)`
          : '';
      throw fail(uri, 'query', `has an unknown parameter '${key.slice(0, 40)}'${hint}; known: ${ROOM_URI_PARAMS.join(', ')}`);
    }
    if (out.has(key)) throw fail(uri, key as RoomUriPart, `gives '${key}' twice`);
    out.set(key, value);
  }
  return out;
}

function booleanParam(params: Map<string, string>, key: RoomUriPart & string, uri: string): boolean | undefined {
  const raw = params.get(key);
  if (raw === undefined) return undefined;
  const value = BOOLEANS[raw.toLowerCase()];
  if (value === undefined) throw fail(uri, key, `?${key}=${JSON.stringify(raw).slice(1, -1)} must be 1 or 0 (or true/false, yes/no)`);
  return value;
}

function settingsOf(uri: string, params: Map<string, string>, signaling: SignalingProtocol | undefined): AgentSettingsInput {
  const s: AgentSettingsInput = {};
  const name = params.get('name');
  if (name !== undefined) {
    try {
      s.name = SPECS.name.kind.check(name);
    } catch (err) {
      if (!(err instanceof Invalid)) throw err;
      throw fail(uri, 'name', `?name= ${err.why}`);
    }
  }
  const e2ee = booleanParam(params, 'e2ee', uri);
  if (e2ee !== undefined) s.enableE2ee = e2ee;
  const reliable = booleanParam(params, 'reliable', uri);
  if (reliable !== undefined) s.reliable = reliable;
  const relay = booleanParam(params, 'relay', uri);
  if (relay !== undefined) s.allowRelay = relay;
  const native = booleanParam(params, 'native', uri);
  if (native !== undefined) s.tryNative = native;
  if (signaling !== undefined) s.signaling = signaling;
  return s;
}

/**
 * createAgent's options with a room URI in `hubUrl` split up: the hub URL it names, its query's
 * settings under the options given explicitly (they win), and its room as the agent's default
 * room. Options without a room URI come back unchanged.
 */
export function applyRoomUri(options: AgentSettingsInput): { options: AgentSettingsInput; room?: string } {
  const hub = options.hubUrl;
  if (typeof hub !== 'string' || !isRoomUri(hub)) return { options };
  const uri = parseRoomUri(hub);
  if (uri.kind !== 'server') {
    throw new RtcAgentError(ErrorCode.CONFIG, `option 'hubUrl' is a peer URI (${shown(hub)}): it names no hub; give the hub as hubUrl and the URI to join()`, {
      details: { setting: 'hubUrl', part: 'host', uri: shown(hub) },
    });
  }
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined && v !== null));
  return { options: { ...uri.settings, ...given, hubUrl: uri.hubUrl }, room: uri.room };
}

/** True when two hub URLs name the same hub (scheme, host, port and path, as URL parsing normalises them). */
function sameHub(a: string, b: string): boolean {
  try {
    return new URL(a).href.replace(/\/+$/, '') === new URL(b).href.replace(/\/+$/, '');
  } catch {
    return false;
  }
}

/**
 * The room a room URI given to `join()` names. A server URI must name one of the agent's hubs, and
 * a query (agent settings) belongs in createAgent, not join; a peer URI needs its `?room=`.
 */
export function roomOfUri(value: string, hubUrls: readonly string[]): string {
  const uri = parseRoomUri(value);
  // `signaling` chose the hub URL just compared; the rest would change the agent.
  const settings = Object.keys(uri.settings).filter((k) => k !== 'signaling');
  if (uri.kind === 'server') {
    if (!hubUrls.some((h) => sameHub(h, uri.hubUrl))) {
      throw fail(value, 'host', `names the hub ${uri.hubUrl}, but this agent is connected to ${hubUrls.join(', ')}; create an agent for that hub (createAgent({ hubUrl: '${shown(value)}' }))`);
    }
  } else if (uri.room === undefined) {
    throw fail(value, 'room', `names peer ${uri.peerId} but no room: add ?room=ROOM`);
  }
  if (settings.length > 0) {
    throw fail(value, 'query', `sets agent settings (${settings.join(', ')}), which join() cannot change; give the URI to createAgent({ hubUrl }) instead`);
  }
  return uri.room as string;
}
