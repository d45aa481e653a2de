/**
 * Owner-only files for E2EE state (the identity key, the known-peers store): created 0600 in a
 * directory created 0700, written atomically, and checked on every read so a key another user could
 * read or rewrite is refused rather than silently used.
 *
 * Why refuse instead of fixing permissions (as OpenSSH does for "UNPROTECTED PRIVATE KEY FILE"): a
 * private key that was readable by others may already be copied, so the user must decide whether to
 * `chmod 600` it or to start over with a new identity. Quietly tightening the mode would hide that.
 *
 * POSIX only: on Windows, modes and uids do not describe access, so the checks are skipped.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { chmod, link, lstat, mkdir, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ErrorCode, RtcAgentError } from '../errors.js';

const POSIX = process.platform !== 'win32';

/** Which permission bits make a file unsafe: any group/other access for secrets, write access for the rest. */
export type FileSecrecy = 'secret' | 'integrity';

function keyFileError(message: string, file: string, cause?: unknown): RtcAgentError {
  return new RtcAgentError(ErrorCode.KEY_FILE, message, { details: { file }, ...(cause === undefined ? {} : { cause }) });
}

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

/**
 * Reads `file` if it exists (undefined if not), refusing a file that is not regular, not owned by
 * this user, or open to others beyond `secrecy` allows. fstat on the open handle, so the checked
 * file is the one read.
 */
export async function readPrivateFile(file: string, secrecy: FileSecrecy): Promise<string | undefined> {
  let handle: FileHandle;
  try {
    // O_NOFOLLOW: a symlink planted where the key should be is refused, not followed.
    handle = await open(file, fsConstants.O_RDONLY | (POSIX ? fsConstants.O_NOFOLLOW : 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw keyFileError(`${file} is a symbolic link; point the setting at the real file`, file, err);
    throw keyFileError(`cannot read ${file}: ${(err as Error).message}`, file, err);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw keyFileError(`${file} is not a regular file`, file);
    if (POSIX) {
      const uid = process.getuid?.();
      if (uid !== undefined && st.uid !== uid) {
        throw keyFileError(`${file} is owned by uid ${st.uid}, not by this user (uid ${uid}); refusing to use it`, file);
      }
      const bad = secrecy === 'secret' ? st.mode & 0o077 : st.mode & 0o022;
      if (bad !== 0) {
        const what = secrecy === 'secret' ? 'readable or writable by other users' : 'writable by other users';
        const hint =
          secrecy === 'secret'
            ? `; run \`chmod 600 ${file}\` if nobody else could have copied it, or delete it to get a new identity (peers will see a changed fingerprint)`
            : `; run \`chmod 600 ${file}\` and check its entries`;
        throw keyFileError(`${file} is ${what} (mode ${octal(st.mode)})${hint}`, file);
      }
    }
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/** Creates the parent directory 0700 if missing; refuses a world-writable parent without the sticky bit. */
async function ensureDir(dir: string, file: string): Promise<void> {
  const created = await mkdir(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode is filtered by the umask; set it exactly on the directory we made.
  if (created !== undefined && POSIX) await chmod(dir, 0o700);
  if (POSIX) {
    const st = await stat(dir);
    if ((st.mode & 0o002) !== 0 && (st.mode & 0o1000) === 0) {
      throw keyFileError(`${dir} is writable by every user (mode ${octal(st.mode)}), so ${basename(file)} there could be replaced`, file);
    }
  }
}

async function writeTemp(file: string, content: string): Promise<string> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(tmp, 'wx', 0o600);
  try {
    if (POSIX) await handle.chmod(0o600); // umask can only remove bits, but be exact
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } catch (err) {
    await handle.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  return tmp;
}

/**
 * Creates `file` (0600) with `content` only if it does not exist yet, atomically: a concurrent
 * creator either wins or loses whole (hard link of a fully written temp file). Returns false when
 * the file already existed.
 */
export async function createPrivateFileExclusive(file: string, content: string): Promise<boolean> {
  await ensureDir(dirname(file), file);
  const tmp = await writeTemp(file, content);
  try {
    await link(tmp, file);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
      // No hard links on this file system: fall back to an exclusive create (not crash-atomic).
      try {
        const h = await open(file, 'wx', 0o600);
        try {
          await h.writeFile(content, 'utf8');
          await h.sync();
        } finally {
          await h.close();
        }
        return true;
      } catch (err2) {
        if ((err2 as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw keyFileError(`cannot create ${file}: ${(err2 as Error).message}`, file, err2);
      }
    }
    throw keyFileError(`cannot create ${file}: ${(err as Error).message}`, file, err);
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/** Replaces `file` (0600) with `content` atomically (temp file + rename). */
export async function writePrivateFile(file: string, content: string): Promise<void> {
  await ensureDir(dirname(file), file);
  const existing = await lstat(file).catch(() => undefined);
  if (existing?.isSymbolicLink()) throw keyFileError(`${file} is a symbolic link; point the setting at the real file`, file);
  const tmp = await writeTemp(file, content);
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw keyFileError(`cannot write ${file}: ${(err as Error).message}`, file, err);
  }
}

/** Parses a key file's JSON, turning syntax errors into a KEY_FILE error that names the file. */
export function parseKeyFileJson(file: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw keyFileError(`${file} is not valid JSON: ${(err as Error).message}`, file, err);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw keyFileError(`${file} does not hold a JSON object`, file);
  return value as Record<string, unknown>;
}

export { keyFileError };
