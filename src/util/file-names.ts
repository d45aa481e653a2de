/**
 * Turning a name a remote peer chose into a safe file name inside a directory we chose: whatever
 * the sender calls the file ("../../x", "/etc/passwd", "a\u0000b", "CON"), the result is one plain
 * path segment, and the final path is checked to stay inside the directory.
 */
import { resolve, sep, extname } from 'node:path';

/** Longest name we write, in UTF-8 bytes (most file systems allow 255). */
const MAX_NAME_BYTES = 200;
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;

export function sanitizeFileName(name: string): string {
  // Keep only the last segment, whichever separator the sender's OS uses.
  let base = name.split(/[/\\]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  base = base.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, '');
  base = base.replace(/[<>:"|?*]/g, '_');
  base = base.replace(/^[\s.]+|[\s.]+$/g, '');
  if (base === '') base = 'file';
  if (WINDOWS_RESERVED.test(base)) base = `_${base}`;
  if (Buffer.byteLength(base) > MAX_NAME_BYTES) {
    const ext = extname(base).slice(0, 20);
    let stem = base.slice(0, base.length - ext.length);
    while (Buffer.byteLength(stem + ext) > MAX_NAME_BYTES) stem = stem.slice(0, -1);
    base = stem + ext;
  }
  return base;
}

/** `name`, `name (1)`, `name (2)`… keeping the extension: the n-th candidate for a free name. */
export function numberedName(name: string, n: number): string {
  if (n === 0) return name;
  const ext = extname(name);
  return `${name.slice(0, name.length - ext.length)} (${n})${ext}`;
}

/** The absolute path of `name` in `dir`; throws if it would land outside `dir`. */
export function pathInside(dir: string, name: string): string {
  const root = resolve(dir);
  const full = resolve(root, name);
  if (!full.startsWith(root + sep)) throw new Error(`refusing a file name that leaves the download directory: ${JSON.stringify(name)}`);
  return full;
}
