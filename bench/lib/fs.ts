/** File-system helpers shared by benches. */
import { rm } from 'node:fs/promises';

/**
 * Removes a bench's temp directory. An agent can still be writing its known-peers file just after
 * close() (trust on first use saves in the background), which makes a plain recursive rm fail with
 * ENOTEMPTY; retry a few times, and never fail a bench over its temp files.
 */
export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }).catch((err: unknown) => process.stderr.write(`[bench] could not remove ${dir}: ${String(err)}\n`));
}
