/**
 * Known peers persisted as JSON, the same file as before the engine:
 * `{ "type": "rtc-agent-known-peers", "version": 1, "peers": { "<identity>": { "fingerprint", "since" } } }`.
 */
import { MemoryKnownPeers, normalizeFingerprint, type KnownPeer } from '../engine/crypto/index.js';
import { keyFileError, parseKeyFileJson, readPrivateFile, writePrivateFile } from './secure-file.js';

const FILE_TYPE = 'rtc-agent-known-peers';
const FILE_VERSION = 1;

/**
 * The engine's trust-on-first-use store, kept in a file (0600, written atomically). A file writable
 * by others is refused (RTC_ERR_KEY_FILE): whoever can write it can pin their key. Each write
 * re-reads the file and changes only its own entry, so agents sharing a file lose no entries except
 * under a truly simultaneous write of the same moment (last rename wins).
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
