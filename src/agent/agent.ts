/**
 * The programmatic API for Node: `createAgent()` resolves settings, loads the native binding (or
 * explains why not), connects to a hub, and returns an agent whose `join(room)` gives a Room that
 * sends and receives over P2P or relay per peer. It is the engine's AgentCore with Node's seams:
 * node-datachannel links, the SignalR hub client, node:crypto's AEAD and scrypt, identity and
 * known-peers files, and file transfers on the file system.
 */
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { MessagePackHubProtocol } from '@microsoft/signalr-protocol-msgpack';
import WebSocket from 'ws';
import { loadSettings, type AgentSettings, type AgentSettingsInput } from '../config/agent-settings.js';
import { applyRoomUri, isRoomUri, roomOfUri } from '../config/room-uri.js';
import { signalingOf } from '../config/signaling.js';
import { AgentCore, DEFAULT_CLOSE_FLUSH_MS, type AgentEvents } from '../engine/agent-core.js';
import { E2eeSession, deriveRoomKey, type KnownPeers, type RoomKey } from '../engine/crypto/index.js';
import { IncomingFileSlots } from '../engine/files/incoming-file-slots.js';
import type { FileOffer } from '../engine/files/types.js';
import { ErrorCode, RtcAgentError } from '../errors.js';
import { createLogger, type Logger } from '../log/logger.js';
import { FileKnownPeers, loadOrCreateIdentity, nodeAead, nodeScrypt } from '../node/index.js';
import { FileTransfers } from '../engine/files/file-transfers.js';
import { FsFileStore } from '../node/files/fs-store.js';
import { MAX_AGENT_KEY_LENGTH, MIN_AGENT_KEY_LENGTH, type IceServer } from '../protocol/room-contract.js';
import { HubClient } from '../signaling/hub-client.js';
import { JsonRpcClient, type WebSocketFactory, type WebSocketLike } from '../signaling/jsonrpc-client.js';
import { NativeLinkFactory, acquireNative, releaseNative, type AvailableNativeBinding } from '../transport/native/index.js';
import { accessTokenSource } from './token-source.js';

export { DEFAULT_CLOSE_FLUSH_MS, type AgentEvents };

/** JSON-RPC signaling's WebSocket in Node: `ws`, with the token as a header. */
const nodeWebSocket: WebSocketFactory = (url, { headers }) => new WebSocket(url, { headers, perMessageDeflate: false }) as unknown as WebSocketLike;

export interface AgentOptions extends AgentSettingsInput {
  /** The root logger; one is made from `logLevel` (JSON on stderr) if absent. */
  logger?: Logger;
  /** JSON config file (else RTC_AGENT_CONFIG); settings passed here override it. */
  configFile?: string;
  /** Where RTC_AGENT_* variables come from; `process.env` by default. */
  env?: NodeJS.ProcessEnv;
  /** Cancels connecting. */
  signal?: AbortSignal;
  /** Decides about each incoming file (after the maxFileBytes and acceptFiles checks). */
  acceptFile?: (offer: FileOffer) => boolean | Promise<boolean>;
  /**
   * Called for a hub token on every connect and reconnect (e.g. after the hub closed the
   * connection because the token expired). Beats `accessToken` / `accessTokenFile`.
   */
  accessTokenFactory?: () => string | Promise<string>;
  /**
   * The secret the hub derives this agent's peer id from (src/protocol/peer-id.ts): the same key
   * gives a stable peer id across processes. Keep it secret (whoever has it can take the id); at
   * least 16 characters. A random one per agent by default.
   */
  agentKey?: string;
}

export class Agent extends AgentCore {
  readonly settings: AgentSettings;
  /** Why not, when `native` is false. */
  readonly nativeReason: string | undefined;
  declare readonly log: Logger;

  /** The room of a `webrtc://HOST/ROOM` URI given as hubUrl: what join() without a room joins. */
  private defaultRoom: string | undefined;

  private constructor(core: ConstructorParameters<typeof AgentCore>[0], settings: AgentSettings, nativeReason: string | undefined, private readonly hub: HubClient | JsonRpcClient) {
    super(core);
    this.settings = settings;
    this.nativeReason = nativeReason;
  }

  /** Resolves settings, loads the native binding (or explains why not) and connects to the hub. */
  static async create(options: AgentOptions = {}): Promise<Agent> {
    const { logger, configFile, env, signal, acceptFile, agentKey, accessTokenFactory, ...given } = options;
    // A room URI as hubUrl: its hub, its query's settings (explicit options win) and a default room.
    const { options: input, room: defaultRoom } = applyRoomUri(given);
    if (agentKey !== undefined && (typeof agentKey !== 'string' || agentKey.length < MIN_AGENT_KEY_LENGTH || agentKey.length > MAX_AGENT_KEY_LENGTH)) {
      throw new RtcAgentError(ErrorCode.CONFIG, `option 'agentKey' must be a secret string of ${MIN_AGENT_KEY_LENGTH}-${MAX_AGENT_KEY_LENGTH} characters`, { details: { setting: 'agentKey' } });
    }
    const settings = await loadSettings({ options: input, env, configFile });
    if (settings.roomSecret !== undefined && !settings.enableE2ee) {
      throw new RtcAgentError(ErrorCode.CONFIG, "setting 'roomSecret' only means something with enableE2ee (--e2ee)", { details: { setting: 'roomSecret' } });
    }
    const log = logger ?? createLogger({ level: settings.logLevel });
    const accessToken = accessTokenSource({
      settings,
      env: env ?? process.env,
      tokenFromOptions: input.accessToken !== undefined && input.accessToken !== null,
      factory: accessTokenFactory,
      log: log.child({ component: 'signaling' }),
    });
    if (settings.iceBindAddress === undefined && settings.hubUrl.every(isLoopbackUrl)) {
      // A hub on loopback means every peer is on this machine: loopback ICE is the right path, and
      // libjuice gathers no loopback candidates unless bound to it (native-notes.md#bindaddress-for-loopback).
      settings.iceBindAddress = '127.0.0.1';
      log.debug('hub is on loopback; binding ICE to 127.0.0.1');
    }
    let binding: AvailableNativeBinding | null = null;
    let reason: string | undefined = 'disabled by the tryNative setting';
    if (settings.tryNative) {
      const status = await acquireNative({ log: log.child({ component: 'libdatachannel' }) });
      if (status.available) {
        binding = status;
        reason = undefined;
        log.debug({ version: status.version }, 'native DataChannels available');
      } else {
        reason = status.reason;
        // One clear warning; every peer of this agent uses the relay.
        log.warn({ reason }, 'native WebRTC unavailable; all peers will use the hub relay');
      }
    }
    const release = (): void => {
      if (binding) releaseNative();
    };
    let e2ee: ConstructorParameters<typeof AgentCore>[0]['e2ee'];
    try {
      e2ee = settings.enableE2ee ? await nodeE2ee(settings, log) : undefined;
    } catch (err) {
      release();
      throw err;
    }
    const hubOptions: ConstructorParameters<typeof HubClient>[0] = {
      hubUrl: settings.hubUrl,
      maxReconnectAttempts: settings.maxReconnectAttempts,
      reconnectIntervalMs: settings.reconnectIntervalMs,
      hubProtocol: settings.hubProtocol,
      messagePack: () => new MessagePackHubProtocol(),
      log: log.child({ component: 'signaling' }),
    };
    if (typeof accessToken === 'function') hubOptions.accessTokenFactory = accessToken;
    else if (accessToken !== undefined) hubOptions.accessToken = accessToken;
    const { hubUrl, ...common } = hubOptions;
    const hub = signalingOf(settings) === 'jsonrpc' ? new JsonRpcClient({ ...common, url: hubUrl, webSocket: nodeWebSocket }) : new HubClient(hubOptions);
    const slots = new IncomingFileSlots({ maxPerPeer: settings.maxIncomingFilesPerPeer, maxTotal: settings.maxIncomingFiles });
    const fileSettings = {
      downloadDir: settings.downloadDir,
      maxFileBytes: settings.maxFileBytes,
      acceptFiles: settings.acceptFiles,
      confirmTimeoutMs: settings.sendTimeoutMs,
      idleTimeoutMs: settings.fileIdleTimeoutMs,
    };
    const agent = new Agent(
      {
        log,
        signaling: hub,
        links: binding
          ? new NativeLinkFactory({
              binding,
              bindAddress: settings.iceBindAddress,
              portRange: settings.icePortRange,
              iceTransportPolicy: settings.iceTransportPolicy,
              log,
            })
          : null,
        name: settings.name,
        agentKey: agentKey ?? randomBytes(24).toString('base64url'),
        instance: randomBytes(8).toString('base64url'),
        settings,
        iceServers: iceServersOf(settings),
        ...(e2ee ? { e2ee } : {}),
        files: () => (room, emit) =>
          new FileTransfers(room, emit, { store: new FsFileStore(fileSettings.downloadDir), settings: fileSettings, slots, log: log.child({ room: room.name, component: 'files' }), accept: acceptFile }),
        onClosed: release,
      },
      settings,
      reason,
      hub,
    );
    try {
      await hub.connect(signal);
    } catch (err) {
      release();
      await hub.close();
      throw err;
    }
    agent.defaultRoom = defaultRoom;
    if (hub instanceof JsonRpcClient && !hub.relayAvailable && settings.allowRelay) {
      // The client has said so (warn); rooms read this setting for each peer, so sends wait for P2P.
      settings.allowRelay = false;
    }
    log.info({ hub: hub.url, native: agent.native }, 'agent connected');
    return agent;
  }

  /** The hub connected to now (after a failover, another of the configured ones). */
  get hubUrl(): string {
    return this.hub.url;
  }

  /**
   * Whether the hub can relay for peers without a P2P link: a SignalR hub always can; a JSON-RPC
   * server only with rtc-agent's extension (otherwise `settings.allowRelay` is false).
   */
  get relayAvailable(): boolean {
    return this.hub instanceof JsonRpcClient ? this.hub.relayAvailable : true;
  }

  /**
   * Joins a room: by name, by room URI (`webrtc://HOST:PORT/ROOM` of this agent's hub, or
   * `webrtc-game://PEER?room=ROOM`), or without one the room of the URI createAgent was given.
   */
  override join(room?: string, options?: { meta?: Record<string, string> }): ReturnType<AgentCore['join']> {
    const name = room ?? this.defaultRoom;
    if (name === undefined) return Promise.reject(new RtcAgentError(ErrorCode.BAD_REQUEST, 'join() needs a room (a name or a webrtc:// room URI)'));
    try {
      return super.join(isRoomUri(name) ? roomOfUri(name, this.settings.hubUrl) : name, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }
}

/** E2EE with Node's seams: the identity file, known peers beside it, node:crypto's AEAD and scrypt. */
async function nodeE2ee(settings: AgentSettings, log: Logger): Promise<NonNullable<ConstructorParameters<typeof AgentCore>[0]['e2ee']>> {
  const identity = await loadOrCreateIdentity(settings.identityFile);
  const session = await E2eeSession.create(identity, { aead: nodeAead });
  const knownPeers: KnownPeers = await FileKnownPeers.open(join(dirname(settings.identityFile), 'known-peers.json'));
  log.info({ fingerprint: identity.fingerprint, created: identity.created }, 'end-to-end encryption on');
  const secret = settings.roomSecret;
  const roomKeys = new Map<string, Promise<RoomKey>>();
  return {
    session,
    knownPeers,
    roomKey: (room) => {
      if (secret === undefined) return Promise.resolve(undefined);
      // scrypt is slow on purpose: once per room.
      let key = roomKeys.get(room);
      if (!key) roomKeys.set(room, (key = deriveRoomKey(room, secret, nodeScrypt)));
      return key;
    },
  };
}

function iceServersOf(s: AgentSettings): IceServer[] {
  const servers: IceServer[] = s.stunServers.map((urls) => ({ urls }));
  if (s.turnUrl !== undefined) {
    const turn: IceServer = { urls: s.turnUrl };
    if (s.turnUsername !== undefined) turn.username = s.turnUsername;
    if (s.turnPassword !== undefined) turn.credential = s.turnPassword;
    servers.push(turn);
  }
  return servers;
}

function isLoopbackUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\./.test(host);
  } catch {
    return false;
  }
}

/** Creates an agent connected to its hub. See {@link AgentOptions}. */
export function createAgent(options: AgentOptions = {}): Promise<Agent> {
  return Agent.create(options);
}
