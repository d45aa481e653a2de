/**
 * msgpack-relay: relay through the hub with the MessagePack hub protocol vs JSON (issue 13). The hub
 * does not speak MessagePack yet, so this bench only says so: its table has the rows it will have,
 * empty, and the note "not available yet". To wire it: negotiate `messagepack` in the handshake
 * (e.g. the official client with @microsoft/signalr-protocol-msgpack, or a raw client sending
 * `{"protocol":"messagepack","version":1}`), run hub-relay's pair and fan-out scenarios
 * (relay/scenarios.ts) once per protocol against the same hub, and fill these rows.
 */
import type { BenchContext, BenchModule, BenchResult, ResultRow } from '../lib/types.js';

const SUBJECTS = ['messagepack', 'json'] as const;
const NOT_AVAILABLE = 'not available yet: the hub does not speak the MessagePack hub protocol';

async function run(ctx: BenchContext): Promise<BenchResult> {
  ctx.log(`msgpack-relay: ${NOT_AVAILABLE}`);
  const empty = (scenario: string, metric: string, unit: string, higherIsBetter: boolean): ResultRow => ({
    scenario,
    metric,
    unit,
    higherIsBetter,
    values: Object.fromEntries(SUBJECTS.map((s) => [s, null])),
  });
  return {
    name: 'msgpack-relay',
    title: `MessagePack vs JSON relay through the hub — ${NOT_AVAILABLE}`,
    subjects: [...SUBJECTS],
    baseline: 'json',
    rows: [
      empty('pair-16KiB', 'payload', 'MB/s', true),
      empty('pair-16KiB', 'server CPU', 'µs/msg', false),
      empty('pair-1KiB', 'messages', '/s', true),
      empty('pair-1KiB', 'latency p99', 'ms', false),
      empty('fanout-50x1KiB', 'deliveries', '/s', true),
    ],
    raw: { available: false, reason: NOT_AVAILABLE },
    notes: [`MessagePack vs JSON relay: ${NOT_AVAILABLE}. Placeholder bench: wire it in bench/benches/msgpack-relay.ts once the hub negotiates "messagepack".`],
  };
}

export const msgpackRelayBench: BenchModule = {
  name: 'msgpack-relay',
  description: 'MessagePack vs JSON relay through the hub (placeholder: prints "not available yet" until the hub speaks MessagePack)',
  run,
};
