/**
 * e2ee-crypto: what one E2EE frame costs — seal then open of one DATA payload — with the engine's
 * one copy (src/engine/crypto) on Node's synchronous AEAD (src/node nodeAead, what the Node agent
 * passes) and on WebCrypto's (webCryptoAead, what browsers use), against the pre-engine
 * src/crypto (node:crypto, synchronous). Payloads of 64 B (chat, control) and 32 KiB (a full chunk).
 *
 * Two ways per subject: one frame at a time (seal, open, next: the cost a frame adds to RTT), and
 * 64 frames in flight (seals started back to back, then opens: what an async AEAD can overlap on
 * libuv's thread pool; the synchronous ones just run them in turn). Subjects alternate within each
 * round and the median over rounds is reported. Loads dist/ like the other benches.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { machineBusyMs, selfCpuMs } from '../lib/cpu.js';
import { round, summarize } from '../lib/stats.js';
import type { BenchContext, BenchModule, BenchResult, ResultRow } from '../lib/types.js';
import type * as EngineCrypto from '../../src/engine/crypto/index.js';
import type * as NodePlatform from '../../src/node/index.js';

/**
 * The pre-engine E2EE (src/crypto, deleted once the engine replaced it), as far as this bench calls
 * it: loaded from `--previous <dist>` (a build of commit 9560670 or earlier), else left out.
 */
interface OldCrypto {
  generateIdentity(): unknown;
  E2eeSession: new (identity: unknown) => { capabilities(): unknown; cipherFor(req: unknown): { sealData(h: unknown, p: Uint8Array): Uint8Array; openData(f: unknown): Uint8Array } };
  peerE2eeKeys(capabilities: unknown): unknown;
}

const SUBJECTS = ['engine-nodeAead', 'engine-webCrypto', 'src-crypto'] as const;
type Subject = (typeof SUBJECTS)[number];
const LABELS: Record<Subject, string> = {
  'engine-nodeAead': 'src/engine/crypto with src/node nodeAead (node:crypto createCipheriv, synchronous): the Node agent',
  'engine-webCrypto': 'src/engine/crypto with webCryptoAead (crypto.subtle AES-GCM, asynchronous): browsers',
  'src-crypto': 'pre-engine src/crypto (node:crypto, synchronous): today\'s agent',
};

const SIZES = [
  { id: '64B', bytes: 64, frames: 2000 },
  { id: '32KiB', bytes: 32 * 1024, frames: 400 },
] as const;
const IN_FLIGHT = 64;
const FLAGS = 2 | 8; // Text | Encrypted

/** Seal and open of one DATA payload, however the subject returns them. */
interface Pair {
  seal(seq: number, plaintext: Uint8Array): Uint8Array | Promise<Uint8Array>;
  open(seq: number, sealed: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

const header = (seq: number) => ({ flags: FLAGS, epoch: 1, seq, timestamp: 1_700_000_000_000 });

async function load(previousDist: string | null): Promise<{ engine: typeof EngineCrypto; node: typeof NodePlatform; old: OldCrypto | null }> {
  const at = (p: string): string => new URL(`../../dist/${p}`, import.meta.url).href;
  let mods: { engine: typeof EngineCrypto; node: typeof NodePlatform };
  try {
    mods = {
      engine: (await import(at('engine/crypto/index.js'))) as typeof EngineCrypto,
      node: (await import(at('node/index.js'))) as typeof NodePlatform,
    };
  } catch (err) {
    throw new Error(`cannot load dist/engine/crypto or dist/node (run npm run build): ${String(err)}`);
  }
  let old: OldCrypto | null = null;
  if (previousDist !== null) {
    try {
      old = (await import(pathToFileURL(join(previousDist, 'crypto', 'index.js')).href)) as OldCrypto;
    } catch {
      old = null;
    }
  }
  return { ...mods, old };
}

async function makePairs(mods: Awaited<ReturnType<typeof load>>): Promise<Partial<Record<Subject, Pair>>> {
  const { engine, node, old } = mods;
  const enginePair = async (aead: EngineCrypto.Aead): Promise<Pair> => {
    const a = await engine.E2eeSession.create(await engine.generateIdentity(), { aead });
    const b = await engine.E2eeSession.create(await engine.generateIdentity(), { aead });
    const ab = await a.cipherFor({ room: 'bench', selfId: 'a', peerId: 'b', peerKeys: engine.peerE2eeKeys(b.capabilities())! });
    const ba = await b.cipherFor({ room: 'bench', selfId: 'b', peerId: 'a', peerKeys: engine.peerE2eeKeys(a.capabilities())! });
    return { seal: (seq, p) => ab.sealData(header(seq), p), open: (seq, s) => ba.openData({ ...header(seq), payload: s }) };
  };
  const pairs: Partial<Record<Subject, Pair>> = {
    'engine-nodeAead': await enginePair(node.nodeAead),
    'engine-webCrypto': await enginePair(engine.webCryptoAead),
  };
  if (old) {
    const a = new old.E2eeSession(old.generateIdentity());
    const b = new old.E2eeSession(old.generateIdentity());
    const ab = a.cipherFor({ room: 'bench', selfId: 'a', peerId: 'b', peerKeys: old.peerE2eeKeys(b.capabilities()) });
    const ba = b.cipherFor({ room: 'bench', selfId: 'b', peerId: 'a', peerKeys: old.peerE2eeKeys(a.capabilities()) });
    pairs['src-crypto'] = { seal: (seq, p) => ab.sealData(header(seq), p), open: (seq, s) => ba.openData({ ...header(seq), payload: s }) };
  }
  return pairs;
}

interface Round {
  /** µs per frame for seal alone, open alone, and seal+open one frame at a time. */
  sealUs: number;
  openUs: number;
  sequentialUs: number;
  /** µs per frame with IN_FLIGHT seals, then their opens, started back to back. */
  pipelinedUs: number;
}

/** One round of `frames` frames, one at a time, then the same count IN_FLIGHT at a time. */
async function runRound(pair: Pair, nextSeq: () => number, plaintext: Uint8Array, frames: number): Promise<Round> {
  let sealMs = 0;
  let openMs = 0;
  // No await on a synchronous subject's bytes: the agent calls those directly, and an await would
  // add a microtask hop to every frame of theirs.
  const t0 = performance.now();
  for (let i = 0; i < frames; i++) {
    const seq = nextSeq();
    const s0 = performance.now();
    const sealing = pair.seal(seq, plaintext);
    const sealed = sealing instanceof Promise ? await sealing : sealing;
    const s1 = performance.now();
    const opening = pair.open(seq, sealed);
    const opened = opening instanceof Promise ? await opening : opening;
    openMs += performance.now() - s1;
    sealMs += s1 - s0;
    if (opened.length !== plaintext.length) throw new Error(`opened ${opened.length} bytes, sealed ${plaintext.length}`);
  }
  const sequentialMs = performance.now() - t0;
  const t1 = performance.now();
  for (let done = 0; done < frames; done += IN_FLIGHT) {
    const n = Math.min(IN_FLIGHT, frames - done);
    const seqs = Array.from({ length: n }, nextSeq);
    const sealed = await Promise.all(seqs.map((seq) => pair.seal(seq, plaintext)));
    const opened = await Promise.all(seqs.map((seq, i) => pair.open(seq, sealed[i] as Uint8Array)));
    if (opened.some((o) => o.length !== plaintext.length)) throw new Error('a pipelined frame opened to the wrong length');
  }
  const pipelinedMs = performance.now() - t1;
  const us = (ms: number): number => (ms * 1000) / frames;
  return { sealUs: us(sealMs), openUs: us(openMs), sequentialUs: us(sequentialMs), pipelinedUs: us(pipelinedMs) };
}

export const e2eeCryptoBench: BenchModule = {
  name: 'e2ee-crypto',
  description: 'E2EE seal+open per frame, 64 B and 32 KiB: engine with nodeAead vs engine with WebCrypto vs pre-engine src/crypto',
  async run(ctx: BenchContext): Promise<BenchResult> {
    const mods = await load(ctx.previousDist);
    const pairs = await makePairs(mods);
    const active = SUBJECTS.filter((s) => pairs[s] !== undefined);
    const rounds = ctx.quick ? 3 : 12;
    const seqs: Record<Subject, number> = { 'engine-nodeAead': 0, 'engine-webCrypto': 0, 'src-crypto': 0 };
    const raw: Record<string, Record<Subject, Round[]>> = {};
    const cpu0 = { self: selfCpuMs(), machine: machineBusyMs(), at: performance.now() };
    for (const size of SIZES) {
      const id = `data-${size.id}`;
      if (ctx.scenarios.length > 0 && !ctx.scenarios.includes(id)) continue;
      const plaintext = new Uint8Array(size.bytes).map((_, i) => (i * 7 + 3) & 0xff);
      const frames = ctx.quick ? Math.ceil(size.frames / 4) : size.frames;
      const bySubject: Record<Subject, Round[]> = { 'engine-nodeAead': [], 'engine-webCrypto': [], 'src-crypto': [] };
      // One warm-up round per subject (JIT, key schedules), not recorded.
      for (const s of active) await runRound(pairs[s] as Pair, () => ++seqs[s], plaintext, Math.min(frames, 200));
      for (let r = 0; r < rounds; r++) {
        // Rotate the order so no subject always runs first (or right after a GC-heavy one).
        const order = active.map((_, i) => active[(i + r) % active.length] as Subject);
        for (const s of order) bySubject[s].push(await runRound(pairs[s] as Pair, () => ++seqs[s], plaintext, frames));
      }
      raw[id] = bySubject;
      ctx.log(`${id}: ${active.map((s) => `${s} ${round(summarize(bySubject[s].map((x) => x.sequentialUs)).p50, 1)} µs`).join(' | ')}`);
    }
    const wallMs = performance.now() - cpu0.at;
    const machine1 = machineBusyMs();
    const otherPct = cpu0.machine === null || machine1 === null ? null : round((100 * (machine1 - cpu0.machine - (selfCpuMs() - cpu0.self))) / wallMs, 0);

    const rows: ResultRow[] = [];
    for (const [id, bySubject] of Object.entries(raw)) {
      const metric = (name: string, pick: (r: Round) => number): ResultRow => ({
        scenario: id,
        metric: name,
        unit: 'µs/frame',
        higherIsBetter: false,
        values: Object.fromEntries(active.map((s) => [s, round(summarize(bySubject[s].map(pick)).p50, 2)])),
      });
      rows.push(
        metric('seal+open, one at a time', (r) => r.sequentialUs),
        metric('  seal', (r) => r.sealUs),
        metric('  open', (r) => r.openUs),
        metric(`seal+open, ${IN_FLIGHT} in flight`, (r) => r.pipelinedUs),
      );
    }
    if (otherPct !== null) {
      rows.push({ scenario: 'machine', metric: 'other procs CPU', unit: '% core', higherIsBetter: false, informational: true, values: Object.fromEntries(active.map((s) => [s, otherPct])) });
    }
    return {
      name: 'e2ee-crypto',
      title: 'E2EE cost per DATA frame (seal + open), median of rounds',
      subjects: [...active],
      baseline: mods.old ? 'src-crypto' : 'engine-nodeAead',
      ratios: mods.old
        ? [
            { of: 'engine-nodeAead', to: 'src-crypto' },
            { of: 'engine-webCrypto', to: 'src-crypto' },
          ]
        : [{ of: 'engine-webCrypto', to: 'engine-nodeAead' }],
      rows,
      raw: { rounds, inFlight: IN_FLIGHT, sizes: SIZES, results: raw },
      notes: [
        ...active.map((s) => `${s}: ${LABELS[s]}`),
        ...(mods.old ? [] : ['pre-engine src/crypto: not measured (pass --previous <dist of commit 9560670> to add it)']),
        `${rounds} rounds per scenario after one warm-up, subjects rotating; one round = ${SIZES.map((s) => `${ctx.quick ? Math.ceil(s.frames / 4) : s.frames} × ${s.id}`).join(', ')} frames one at a time, then as many ${IN_FLIGHT} in flight.`,
        'Both sides of the pair live in this process; the per-frame cost is the sender\'s seal plus the receiver\'s open.',
        ...(otherPct !== null && otherPct > 20 ? [`other processes used ${otherPct}% of a core during the run: numbers are noisy`] : []),
      ],
    };
  },
};
