/**
 * The file-system half of receiving a file under a name a peer chose: a free numbered variant, and
 * the final path checked to stay inside the download directory. (Making the name one plain, safe
 * path segment is the engine's: src/engine/files/file-name.ts.)
 */
import { resolve, sep, extname } from 'node:path';

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
