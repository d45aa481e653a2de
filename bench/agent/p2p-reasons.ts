/**
 * Why P2P attempts failed, as the agent itself says: an attempt that fails while the relay carries
 * the traffic changes no path (no path-changed event), but the agent logs "P2P link closed" at
 * info level with the reason. This logger counts those lines (digits folded, so reasons group)
 * and drops everything else.
 */
import { pino } from 'pino';
import type { Logger } from './dist.js';

export function p2pReasonLogger(onReason: (reason: string) => void): Logger {
  return pino(
    { level: 'info' },
    {
      write(line: string) {
        if (!line.includes('P2P link closed')) return;
        try {
          const rec = JSON.parse(line) as { msg?: string; reason?: string; wasOpen?: boolean };
          if (rec.msg !== 'P2P link closed' || rec.reason === undefined) return;
          onReason(`${rec.wasOpen ? 'failed after opening' : 'did not open'}: ${rec.reason.replace(/\d+/g, 'N').slice(0, 100)}`);
        } catch {
          // not a JSON line; nothing to count
        }
      },
    },
  );
}
