/**
 * Trust on first use: remembers the identity fingerprint first seen for each peer identity (the
 * agent passes a stable name — a user id or peer id — never something the peer picks per session),
 * and tells a known peer that shows a different key apart, so the agent can warn loudly (use
 * {@link identityChangedError} for the message) instead of silently trusting a possible MITM.
 *
 * TOFU cannot catch an attacker present at first contact, nor a hub that presents a *new* identity
 * name; fingerprints compared out of band (`/verify`) cover those.
 */
import { ErrorCode, RtcAgentError } from '../errors.js';
import { fingerprintsEqual, normalizeFingerprint } from './identity.js';
import { keyFileError, parseKeyFileJson, readPrivateFile, writePrivateFile } from './secure-file.js';

export type TrustState = 'new' | 'known' | 'changed';

export interface KnownPeer {
  fingerprint: string;
  /** ISO time first remembered (or last re-accepted). */
  since: string;
}

export interface KnownPeers {
  /** 'new' if `identity` was never seen, 'known' if it has this fingerprint, 'changed' if another. */
  check(identity: string, fingerprint: string): TrustState;
  get(identity: string): KnownPeer | undefined;
  /** Remembers (or, after the user accepted a change, replaces) the fingerprint of `identity`. */
  remember(identity: string, fingerprint: string): Promise<void>;
  /** Forgets `identity`; true if it was known. */
  forget(identity: string): Promise<boolean>;
}

/** The loud error for a 'changed' verdict (the agent may log it, emit it, or throw it). */
export function identityChangedError(identity: string, known: string, seen: string): RtcAgentError {
  return new RtcAgentError(
    ErrorCode.IDENTITY_CHANGED,
    `WARNING: the identity key of ${JSON.stringify(identity)} CHANGED: known fingerprint ${known}, now ${seen}. ` +
      'Someone (e.g. the hub) may be intercepting this peer, or it reinstalled. Verify the new fingerprint out of band before trusting it.',
    { details: { identity, known, seen } },
  );
}

/** In-memory known peers (for agents without a state directory, and tests). */
export class MemoryKnownPeers implements KnownPeers {
  protected readonly peers = new Map<string, KnownPeer>();

  check(identity: string, fingerprint: string): TrustState {
    const known = this.peers.get(identity);
    if (known === undefined) return 'new';
    return fingerprintsEqual(known.fingerprint, fingerprint) ? 'known' : 'changed';
  }

  get(identity: string): KnownPeer | undefined {
    const known = this.peers.get(identity);
    return known === undefined ? undefined : { ...known };
  }

  async remember(identity: string, fingerprint: string): Promise<void> {
    if (normalizeFingerprint(fingerprint).length === 0) throw new RtcAgentError(ErrorCode.INTERNAL, 'empty fingerprint');
    this.peers.set(identity, { fingerprint, since: new Date().toISOString() });
  }

  async forget(identity: string): Promise<boolean> {
    return this.peers.delete(identity);
  }
}

const FILE_TYPE = 'rtc-agent-known-peers';
const FILE_VERSION = 1;

/**
 * Known peers persisted as JSON (0600, written atomically):
 * `{ "type": "rtc-agent-known-peers", "version": 1, "peers": { "<identity>": { "fingerprint", "since" } } }`.
 * A file writable by others is refused (RTC_ERR_KEY_FILE): whoever can write it can pin their key.
 * Each write re-reads the file and changes only its own entry, so agents sharing a file lose no
 * entries except under a truly simultaneous write of the same moment (last rename wins).
 */
export class FileKnownPeers extends MemoryKnownPeers {
  private constructor(readonly file: string) {
    super();
  }

  static async open(file: string): Promise<FileKnownPeers> {
    const store = new FileKnownPeers(file);
    await store.reload();
    return store;
  }

  /** Re-reads the file (entries changed by other agents). */
  async reload(): Promise<void> {
    const entries = await this.read();
    this.peers.clear();
    for (const [k, v] of entries) this.peers.set(k, v);
  }

  override async remember(identity: string, fingerprint: string): Promise<void> {
    await super.remember(identity, fingerprint);
    await this.update((m) => m.set(identity, this.peers.get(identity) as KnownPeer));
  }

  override async forget(identity: string): Promise<boolean> {
    const had = await super.forget(identity);
    await this.update((m) => m.delete(identity));
    return had;
  }

  private async update(change: (entries: Map<string, KnownPeer>) => void): Promise<void> {
    const entries = await this.read();
    change(entries);
    const body = { type: FILE_TYPE, version: FILE_VERSION, peers: Object.fromEntries(entries) };
    await writePrivateFile(this.file, `${JSON.stringify(body, null, 2)}\n`);
    // The file (with this change applied) is now the truth, including other agents' entries.
    this.peers.clear();
    for (const [k, v] of entries) this.peers.set(k, v);
  }

  private async read(): Promise<Map<string, KnownPeer>> {
    const text = await readPrivateFile(this.file, 'integrity');
    const entries = new Map<string, KnownPeer>();
    if (text === undefined) return entries;
    const json = parseKeyFileJson(this.file, text);
    if (json.type !== FILE_TYPE || json.version !== FILE_VERSION || typeof json.peers !== 'object' || json.peers === null) {
      throw keyFileError(`${this.file} is not an rtc-agent known-peers file (want type ${FILE_TYPE}, version ${FILE_VERSION})`, this.file);
    }
    for (const [identity, value] of Object.entries(json.peers as Record<string, unknown>)) {
      const v = value as Partial<KnownPeer> | null;
      if (typeof v !== 'object' || v === null || typeof v.fingerprint !== 'string' || normalizeFingerprint(v.fingerprint).length === 0) {
        throw keyFileError(`${this.file}: entry ${JSON.stringify(identity)} has no fingerprint`, this.file);
      }
      entries.set(identity, { fingerprint: v.fingerprint, since: typeof v.since === 'string' ? v.since : '' });
    }
    return entries;
  }
}
