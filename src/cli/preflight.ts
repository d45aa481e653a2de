/** Checks made before anything connects, so bad input exits 2 at once and names the argument. */
import { access, constants, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ErrorCode, RtcAgentError } from '../errors.js';

/** The file exists, is a regular file and is readable; returns its absolute path. */
export async function checkReadableFile(path: string, argument: string): Promise<string> {
  const full = resolve(path);
  const fail = (why: string): never => {
    throw new RtcAgentError(ErrorCode.CONFIG, `${argument} ${path}: ${why}`, { details: { argument } });
  };
  let info;
  try {
    info = await stat(full);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') fail('no such file');
    if (code === 'EACCES') fail('permission denied');
    fail((err as Error).message);
  }
  if (info!.isDirectory()) fail('is a directory (send a file, e.g. a tar of it)');
  if (!info!.isFile()) fail('is not a regular file');
  try {
    await access(full, constants.R_OK);
  } catch {
    fail('not readable (permission denied)');
  }
  return full;
}
