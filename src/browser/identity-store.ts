/**
 * A browser's E2EE identity kept across page loads in IndexedDB, so its fingerprint (what peers
 * compare, and what their trust-on-first-use remembers) stays the same. The private key is stored
 * as a non-extractable CryptoKey: IndexedDB keeps the key object itself (structured clone), and no
 * script, this one included, can ever read its bytes. Scoped to the page's origin, as all storage is.
 */
import { bytesEqual } from '../engine/bytes.js';
import { fingerprint, generateIdentity, generateKeyPair, parsePublicKey, type Identity } from '../engine/crypto/index.js';
import { ErrorCode, RtcAgentError } from '../errors.js';

/** The IndexedDB database and the record name used when none is given. */
export const DEFAULT_IDENTITY_DATABASE = 'rtc-agent';
export const DEFAULT_IDENTITY_NAME = 'default';

const STORE = 'identities';

interface StoredIdentity {
  publicKey: string;
  privateKey: CryptoKey;
}

function storageError(what: string, cause?: unknown): RtcAgentError {
  const detail = cause instanceof Error ? `: ${cause.message}` : cause === undefined ? '' : `: ${String(cause)}`;
  return new RtcAgentError(ErrorCode.KEY_FILE, `cannot keep the E2EE identity in IndexedDB (${what})${detail}`, cause === undefined ? {} : { cause });
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function openDatabase(name: string): Promise<IDBDatabase> {
  const idb = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (!idb) return Promise.reject(storageError('this page has no IndexedDB'));
  const open = idb.open(name, 1);
  open.onupgradeneeded = () => open.result.createObjectStore(STORE);
  return request(open).catch((err: unknown) => {
    throw storageError(`opening database '${name}'`, err ?? open.error);
  });
}

/**
 * The identity stored under `name`, made (and stored) on first use. Two tabs starting at once get
 * the same one: the check and the write are one IndexedDB transaction. Throws KEY_FILE when
 * IndexedDB is unavailable (some private modes) or the stored record is unusable.
 */
export async function loadOrCreateStoredIdentity(options: { database?: string; name?: string } = {}): Promise<Identity> {
  const name = options.name ?? DEFAULT_IDENTITY_NAME;
  const db = await openDatabase(options.database ?? DEFAULT_IDENTITY_DATABASE);
  try {
    const existing = await read(db, name);
    if (existing !== undefined) return await checkStored(existing);
    // WebCrypto is asynchronous and an IndexedDB transaction ends when it waits on anything else:
    // make the key first, then read-or-write in one transaction (a racing tab's key wins).
    const fresh = await generateIdentity({ extractable: false });
    const kept = await readOrWrite(db, name, { publicKey: fresh.publicKey, privateKey: fresh.privateKey as CryptoKey });
    return kept.publicKey === fresh.publicKey ? fresh : await checkStored(kept);
  } finally {
    db.close();
  }
}

/** Forgets the identity stored under `name` (the next load makes a new one); true if there was one. */
export async function deleteStoredIdentity(options: { database?: string; name?: string } = {}): Promise<boolean> {
  const name = options.name ?? DEFAULT_IDENTITY_NAME;
  const db = await openDatabase(options.database ?? DEFAULT_IDENTITY_DATABASE);
  try {
    const tx = db.transaction(STORE, 'readwrite');
    const store = tx.objectStore(STORE);
    const had = (await request(store.getKey(name))) !== undefined;
    store.delete(name);
    await done(tx);
    return had;
  } finally {
    db.close();
  }
}

async function read(db: IDBDatabase, name: string): Promise<StoredIdentity | undefined> {
  const tx = db.transaction(STORE, 'readonly');
  return (await request(tx.objectStore(STORE).get(name))) as StoredIdentity | undefined;
}

async function readOrWrite(db: IDBDatabase, name: string, fresh: StoredIdentity): Promise<StoredIdentity> {
  const tx = db.transaction(STORE, 'readwrite');
  const store = tx.objectStore(STORE);
  const existing = (await request(store.get(name))) as StoredIdentity | undefined;
  if (existing === undefined) store.put(fresh, name);
  await done(tx);
  return existing ?? fresh;
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(storageError('a transaction was aborted', tx.error));
    tx.onerror = () => reject(storageError('a transaction failed', tx.error));
  });
}

/**
 * A stored record is used only if its private key really belongs to its public key: both ends of an
 * X25519 exchange with a throwaway key must agree. A mismatch means the record was tampered with.
 */
async function checkStored(stored: StoredIdentity): Promise<Identity> {
  if (typeof stored !== 'object' || stored === null || typeof stored.publicKey !== 'string' || !(stored.privateKey instanceof CryptoKey)) {
    throw storageError('the stored record is not an identity');
  }
  try {
    const probe = await generateKeyPair();
    const subtle = globalThis.crypto.subtle;
    const storedPublic = await subtle.importKey('raw', parsePublicKey(stored.publicKey, 'the stored public key') as Uint8Array<ArrayBuffer>, { name: 'X25519' }, false, []);
    const probePublic = await subtle.importKey('raw', parsePublicKey(probe.publicKey) as Uint8Array<ArrayBuffer>, { name: 'X25519' }, false, []);
    const ours = new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: probePublic }, stored.privateKey, 256));
    const theirs = new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: storedPublic }, probe.privateKey as CryptoKey, 256));
    if (!bytesEqual(ours, theirs)) throw new Error('the stored private key does not belong to the stored public key');
  } catch (err) {
    throw storageError('the stored identity is unusable', err);
  }
  return { publicKey: stored.publicKey, privateKey: stored.privateKey, fingerprint: await fingerprint(stored.publicKey) };
}
