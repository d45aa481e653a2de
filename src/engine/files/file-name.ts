/**
 * The name an incoming file gets, from whatever the sender calls it ("../../x", "/etc/passwd",
 * "a\u0000b", "CON", a bidi override): one plain, harmless path segment, on every platform. The
 * receiver sanitises at the offer, so `file-offer`, `acceptFile` and the store all see the same
 * name. Matches src/util/file-names.ts's sanitizeFileName result for result (test/node/files-store.test.ts
 * checks it), without Buffer or node:path.
 */
import { utf8Encode } from '../bytes.js';

/** Longest name we write, in UTF-8 bytes (most file systems allow 255). */
const MAX_NAME_BYTES = 200;
/** Longest extension kept when a long name is shortened. */
const MAX_EXTENSION_CHARS = 20;
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;
// C0/C1 controls, zero-width characters, bidi embeddings/overrides/isolates and the BOM: they
// make a name display as something it is not.
// eslint-disable-next-line no-control-regex
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;

export function sanitizeFileName(name: string): string {
  // Keep only the last segment, whichever separator the sender's OS uses.
  let base = name.split(/[/\\]/).pop() ?? '';
  base = base.replace(INVISIBLE, '');
  base = base.replace(/[<>:"|?*]/g, '_');
  base = base.replace(/^[\s.]+|[\s.]+$/g, '');
  if (base === '') base = 'file';
  if (WINDOWS_RESERVED.test(base)) base = `_${base}`;
  if (utf8Encode(base).length > MAX_NAME_BYTES) {
    const ext = extensionOf(base).slice(0, MAX_EXTENSION_CHARS);
    // Each UTF-16 unit is at least one UTF-8 byte, so nothing past MAX_NAME_BYTES units can stay:
    // cutting there first keeps a hostile megabyte-long name from costing a megabyte of loops.
    let stem = base.slice(0, base.length - ext.length).slice(0, MAX_NAME_BYTES);
    while (utf8Encode(stem + ext).length > MAX_NAME_BYTES) stem = stem.slice(0, -1);
    base = stem + ext;
  }
  return base;
}

/**
 * node:path's extname for one segment that neither starts nor ends with a dot (as above): from
 * the last dot on, or nothing.
 */
function extensionOf(base: string): string {
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot) : '';
}
