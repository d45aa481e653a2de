/**
 * The library in a browser: `createAgent()` checks the options, connects to a hub and returns an
 * agent whose `join(room)` gives the same Room as in Node (P2P with relay first, exactly-once
 * delivery, E2EE, unreliable messages, files). It is the engine's AgentCore with the browser's
 * seams: RTCPeerConnection links, the SignalR hub client (bundled), WebCrypto's AEAD and a pure-JS
 * scrypt, an identity in memory or IndexedDB, and files as Blobs.
 */
import { AgentCore, type AgentCoreOptions } from '../engine/agent-core.js';
import { randomId } from '../engine/bytes.js';
import { E2eeSession, MemoryKnownPeers, deriveRoomKey, generateIdentity, type Identity, type RoomKey } from '../engine/crypto/index.js';
import type { EngineLogger } from '../engine/log.js';
import { HubClient, type HubClientOptions } from '../signaling/hub-client.js';
import { BrowserLinkFactory } from '../transport/browser/index.js';
import { browserFiles } from './browser-files.js';
import { createConsoleLogger } from './console-logger.js';
import { loadOrCreateStoredIdentity } from './identity-store.js';
import { resolveBrowserOptions, type BrowserAgentOptions, type BrowserSettings } from './options.js';
import { browserScrypt } from './scrypt.js';

/** Peer ids come from this secret (room contract): 24 random bytes, as a Node agent's. */
const AGENT_KEY_BYTES = 24;
/** Tells peers a reloaded page from a reconnected one. */
const INSTANCE_BYTES = 8;

export class BrowserAgent extends AgentCore {
  /** The options in effect, defaults applied. */
  readonly settings: Readonly<BrowserSettings>;
  /** Why not, when `native` is false. */
  readonly nativeReason: string | undefined;

  private constructor(core: AgentCoreOptions, settings: BrowserSettings, nativeReason: string | undefined, private readonly hub: HubClient) {
    super(core);
    this.settings = settings;
    this.nativeReason = nativeReason;
  }

  /** Checks the options, prepares E2EE (if asked) and connects to the hub. */
  static async create(options: BrowserAgentOptions = {}): Promise<BrowserAgent> {
    const settings = resolveBrowserOptions(options);
    const log = options.logger ?? createConsoleLogger({ level: settings.logLevel });
    const canLink = BrowserLinkFactory.available();
    const nativeReason = !settings.tryNative ? 'disabled by the tryNative option' : canLink ? undefined : 'this browser has no RTCPeerConnection';
    if (nativeReason !== undefined && settings.tryNative) log.warn({ reason: nativeReason }, 'no WebRTC here; all peers will use the hub relay');
    const e2ee = settings.e2ee ? await browserE2ee(settings.e2ee, log) : undefined;
    const hubOptions: HubClientOptions = {
      hubUrl: settings.hubUrl,
      maxReconnectAttempts: settings.maxReconnectAttempts,
      reconnectIntervalMs: settings.reconnectIntervalMs,
      log: log.child({ component: 'signaling' }),
    };
    if (options.accessTokenFactory) hubOptions.accessTokenFactory = options.accessTokenFactory;
    else if (options.accessToken !== undefined) hubOptions.accessToken = options.accessToken;
    const hub = new HubClient(hubOptions);
    const agent = new BrowserAgent(
      {
        log,
        signaling: hub,
        links: nativeReason === undefined ? new BrowserLinkFactory({ iceTransportPolicy: settings.iceTransportPolicy, log }) : null,
        name: settings.name,
        agentKey: options.agentKey ?? randomId(AGENT_KEY_BYTES),
        instance: randomId(INSTANCE_BYTES),
        settings,
        iceServers: settings.iceServers,
        ...(e2ee ? { e2ee } : {}),
        files: browserFiles(settings, options.acceptFile, log),
      },
      settings,
      nativeReason,
      hub,
    );
    // A hub that cannot be reached leaves nothing behind: no connection retrying in the background.
    await hub.connect(options.signal).catch(async (err: unknown) => {
      await hub.close();
      throw err;
    });
    log.info({ hub: hub.url, native: agent.native, e2ee: e2ee !== undefined }, 'browser agent connected');
    return agent;
  }

  /** Which of the configured hubs the agent is on now (failover moves it). */
  get hubUrl(): string {
    return this.hub.url;
  }
}

/** E2EE with the browser's seams: WebCrypto (the session's default AEAD), pure-JS scrypt, the identity asked for. */
async function browserE2ee(options: NonNullable<BrowserSettings['e2ee']>, log: EngineLogger): Promise<NonNullable<AgentCoreOptions['e2ee']>> {
  const identity: Identity =
    options.identity === 'session' ? await generateIdentity() : options.identity === 'stored' ? await loadOrCreateStoredIdentity() : options.identity;
  const session = await E2eeSession.create(identity);
  log.info({ fingerprint: identity.fingerprint }, 'end-to-end encryption on');
  return { session, knownPeers: options.knownPeers ?? new MemoryKnownPeers(), roomKey: roomKeys(options.roomSecret) };
}

/**
 * The room key of each room, derived once (scrypt is slow on purpose, and blocks a page's thread
 * for a moment) and shared by every join of that room.
 */
function roomKeys(secret: string | undefined): (room: string) => Promise<RoomKey | undefined> {
  const derived = new Map<string, Promise<RoomKey>>();
  return async (room) => {
    if (secret === undefined) return undefined;
    const known = derived.get(room);
    if (known) return known;
    const key = deriveRoomKey(room, secret, browserScrypt);
    derived.set(room, key);
    // A failed derivation is not remembered: the next join tries again.
    key.catch(() => derived.delete(room));
    return key;
  };
}

/** Creates an agent connected to its hub. See {@link BrowserAgentOptions}. */
export function createAgent(options: BrowserAgentOptions = {}): Promise<BrowserAgent> {
  return BrowserAgent.create(options);
}
