/**
 * link-memory: what one P2P link costs a process, at 1/8/24 links, as NATIVE-FACTS.md measured for
 * bare PeerConnections (RSS, JS heap, threads, file descriptors per link, after a full GC).
 *
 * The measured process (agent/link-host.ts, --expose-gc) holds one end of every link; a helper
 * process holds the other ends, so nothing of the far side is counted. raw-nd: one bare
 * node-datachannel PeerConnection with one reliable DataChannel per link, signals forwarded by the
 * bench process. agent: ONE agent in the measured process; each link is a room shared with one
 * helper agent (one room per link, so helper agents never link to each other), i.e. a PeerConnection
 * with the agent's two DataChannels plus the agent's per-peer state. Per link = (value at L links −
 * value at 0) / L; "marginal" = the step from the previous L.
 */
import { fileURLToPath } from 'node:url';
import { startServerChild, type ServerChild } from '../lib/child.js';
import { deferred, sleep, withTimeout, type Deferred } from '../lib/async.js';
import { round } from '../lib/stats.js';
import type { BenchContext, BenchModule, BenchResult, ResultRow } from '../lib/types.js';
import { startWorker, type WorkerHandle } from '../lib/worker.js';

const HUB_SERVER = fileURLToPath(new URL('../servers/hub-server.ts', import.meta.url));
const LINK_HOST = fileURLToPath(new URL('../agent/link-host.ts', import.meta.url));
const SUBJECTS = ['raw-nd', 'agent'] as const;
type Subject = (typeof SUBJECTS)[number];
const LINK_TIMEOUT_MS = 30_000;
const BASELINE_WAIT_MS = 5_000;
/**
 * V8 grows the young generation under allocation bursts (connect, join) and its memory reducer
 * shrinks it again seconds later, moving RSS by ~16 MiB in either direction at random; a fixed
 * size keeps that out of the per-link numbers.
 */
const FIXED_YOUNG_GEN = ['--min-semi-space-size=8', '--max-semi-space-size=8'];
/**
 * glibc raises its trim and mmap thresholds after large frees (up to 32 MiB), so freed memory can
 * stay in RSS until some later free trims it: fixed thresholds make RSS follow what is in use.
 */
const STEADY_MALLOC_ENV = { MALLOC_TRIM_THRESHOLD_: '131072', MALLOC_MMAP_THRESHOLD_: '131072' };
/** After the GC, before reading RSS: lets native threads finish setting up and freeing. */
const SETTLE_MS = 1_000;

interface Sample {
  links: number;
  rssBytes: number;
  heapTotalBytes: number;
  /** Resident part of the V8 heap (v8.getHeapStatistics().total_physical_size). */
  heapPhysicalBytes: number;
  heapUsedBytes: number;
  externalBytes: number;
  arrayBuffersBytes: number;
  threads: number | null;
  fds: number | null;
  gc: boolean;
}

interface SubjectRun {
  samples: Sample[];
  error?: string;
}

async function measureSubject(ctx: BenchContext, subject: Subject, steps: number[], hub: ServerChild): Promise<SubjectRun> {
  const out: SubjectRun = { samples: [] };
  let measured: WorkerHandle | undefined;
  let helper: WorkerHandle | undefined;
  try {
    measured = await startWorker(LINK_HOST, `links-${subject}-measured`, { nodeArgs: ['--expose-gc', ...FIXED_YOUNG_GEN], env: STEADY_MALLOC_ENV });
    helper = await startWorker(LINK_HOST, `links-${subject}-helper`);
    const m = measured;
    const h = helper;
    const opens = new Map<string, { measured: Deferred<void>; helper: Deferred<void> }>();
    const openOf = (id: string): { measured: Deferred<void>; helper: Deferred<void> } => {
      let o = opens.get(id);
      if (!o) opens.set(id, (o = { measured: deferred<void>(), helper: deferred<void>() }));
      return o;
    };
    if (subject === 'raw-nd') {
      m.onEvent((name, data) => {
        if (name === 'signal') void h.call('rawSignal', data).catch((err: unknown) => ctx.log(`  signal to helper: ${String(err)}`));
        if (name === 'raw-open') openOf((data as { id: string }).id).measured.resolve();
      });
      h.onEvent((name, data) => {
        if (name === 'signal') void m.call('rawSignal', data).catch((err: unknown) => ctx.log(`  signal to measured: ${String(err)}`));
        if (name === 'raw-open') openOf((data as { id: string }).id).helper.resolve();
      });
    } else await m.call('agentConnect', { hubUrl: hub.url, name: 'measured' });
    const sample = async (links: number): Promise<void> => {
      const s = await m.call<Omit<Sample, 'links'>>('measure', { settleMs: SETTLE_MS });
      out.samples.push({ links, ...s });
      ctx.log(`  ${subject} at ${links} link(s): RSS ${round(s.rssBytes / 1024 / 1024, 1)} MiB, heap ${round(s.heapUsedBytes / 1024 / 1024, 1)} used, ${round(s.heapPhysicalBytes / 1024 / 1024, 1)} resident, ${round(s.heapTotalBytes / 1024 / 1024, 1)} committed MiB, external ${round(s.externalBytes / 1024 / 1024, 1)} MiB, threads ${s.threads}, fds ${s.fds}`);
    };
    // Startup garbage (module loading, the hub connection's first requests) is returned to the OS
    // late; give it time so the 0-link sample is not higher than the later ones.
    await sleep(BASELINE_WAIT_MS);
    await sample(0);
    let links = 0;
    for (const target of steps) {
      while (links < target) {
        const k = links++;
        if (subject === 'raw-nd') {
          const id = `link-${k}`;
          const o = openOf(id);
          await h.call('rawCreate', { id, offerer: false });
          await m.call('rawCreate', { id, offerer: true });
          try {
            await withTimeout(Promise.all([o.measured.promise, o.helper.promise]), LINK_TIMEOUT_MS, `${id} to open`);
          } catch (err) {
            const states = await Promise.all([m.call('rawState', { id }), h.call('rawState', { id })]).catch(() => null);
            throw new Error(`${(err as Error).message} (measured end ${JSON.stringify(states?.[0])}, helper end ${JSON.stringify(states?.[1])})`);
          }
        } else {
          await h.call('agentConnect', { hubUrl: hub.url, name: `helper-${k}` });
          const room = `links-${k}`;
          await Promise.all([m.call('agentJoin', { name: 'measured', room, timeoutMs: LINK_TIMEOUT_MS }, LINK_TIMEOUT_MS + 5_000), h.call('agentJoin', { name: `helper-${k}`, room, timeoutMs: LINK_TIMEOUT_MS }, LINK_TIMEOUT_MS + 5_000)]);
        }
      }
      await sample(links);
    }
  } catch (err) {
    out.error = err instanceof Error ? err.message : String(err);
    ctx.log(`  ${subject}: FAILED ${out.error}`);
  } finally {
    await Promise.all([measured?.stop(), helper?.stop()]);
  }
  return out;
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const steps = ctx.quick ? [1, 4] : [1, 8, 24];
  const runs: Partial<Record<Subject, SubjectRun>> = {};
  let hub: ServerChild | undefined;
  try {
    hub = await startServerChild(HUB_SERVER, { args: ['--max-peers', '16'] });
    ctx.log(`hub: ${hub.url} (pid ${hub.pid}); steps ${steps.join('/')} links`);
    for (const s of SUBJECTS) {
      if (ctx.scenarios.length && !ctx.scenarios.includes(s)) continue;
      ctx.log(`${s}:`);
      runs[s] = await measureSubject(ctx, s, steps, hub);
    }
  } finally {
    await hub?.stop();
  }

  const rows: ResultRow[] = [];
  const at = (s: Subject, links: number): Sample | undefined => runs[s]?.samples.find((x) => x.links === links);
  const metric = (scenario: string, name: string, unit: string, value: (s: Subject) => number | null, informational = false): ResultRow => ({
    scenario,
    metric: name,
    unit,
    higherIsBetter: false,
    ...(informational ? { informational } : {}),
    values: Object.fromEntries(SUBJECTS.map((s) => [s, value(s)])),
  });
  const perLink = (s: Subject, links: number, pick: (x: Sample) => number | null, scale: number, from = 0): number | null => {
    const a = at(s, from);
    const b = at(s, links);
    if (!a || !b) return null;
    const va = pick(a);
    const vb = pick(b);
    return va === null || vb === null ? null : round((vb - va) / (links - from) / scale, 2);
  };
  rows.push(
    metric('0 links (baseline)', 'RSS', 'MiB', (s) => (at(s, 0) ? round((at(s, 0) as Sample).rssBytes / 1024 / 1024, 1) : null), true),
    metric('0 links (baseline)', 'JS heap used', 'MiB', (s) => (at(s, 0) ? round((at(s, 0) as Sample).heapUsedBytes / 1024 / 1024, 1) : null), true),
    metric('0 links (baseline)', 'threads', 'count', (s) => at(s, 0)?.threads ?? null, true),
    metric('0 links (baseline)', 'fds', 'count', (s) => at(s, 0)?.fds ?? null, true),
  );
  // RSS moves with V8's resident heap, which the GC grows and shrinks on its own schedule; native
  // memory (RSS − resident V8 heap) plus live JS heap is what the links hold.
  const nativeOf = (x: Sample): number => x.rssBytes - x.heapPhysicalBytes;
  const heldOf = (x: Sample): number => nativeOf(x) + x.heapUsedBytes;
  // The first link pays one-time costs (libdatachannel's thread pool) and absorbs whatever the
  // process still had to settle; later steps are counted from the 1-link sample.
  for (const n of steps) {
    const id = `${n} link${n === 1 ? '' : 's'}`;
    const from = n === 1 ? 0 : 1;
    const label = n === 1 ? 'first link' : `per link after the first (1→${n})`;
    rows.push(
      metric(id, `${label}: native + JS heap`, 'KiB', (s) => perLink(s, n, heldOf, 1024, from)),
      metric(id, '  native (RSS − resident V8 heap)', 'KiB', (s) => perLink(s, n, nativeOf, 1024, from)),
      metric(id, '  JS heap used', 'KiB', (s) => perLink(s, n, (x) => x.heapUsedBytes, 1024, from)),
      metric(id, '  threads', 'count', (s) => perLink(s, n, (x) => x.threads, 1, from)),
      metric(id, '  fds', 'count', (s) => perLink(s, n, (x) => x.fds, 1, from)),
      metric(id, `RSS as read, per link (0→${n})`, 'KiB', (s) => perLink(s, n, (x) => x.rssBytes, 1024), true),
    );
  }
  const notes = [
    'raw-nd: the measured process holds one bare node-datachannel PeerConnection + one reliable DataChannel per link (as NATIVE-FACTS.md "d." measured); the far ends live in a helper process; signals forwarded by the bench process.',
    'agent: one agent in the measured process; link k is room links-k shared with helper agent k (helper process), so every link is one PeerConnection with the agent\'s two DataChannels (reliable, unreliable) plus its peer session, reliable-layer and room state; one room per link keeps helper agents from linking to each other.',
    `first link = value at 1 link − value at 0; per link after the first = (value at L − value at 1) / (L − 1); each value read after forced GCs, ${SETTLE_MS} ms apart, until two RSS readings agree within 256 KiB (at most 6). Both processes start with node-datachannel loaded (and, for agent, connected to the hub) before the 0-link sample.`,
    'memory per link = Δ(RSS − resident V8 heap) + Δ(JS heap used): plain RSS also moves with the V8 heap pages the GC keeps or releases on its own schedule (±10 MiB seen), shown as "RSS as read". The measured process runs with a fixed young generation (--min/--max-semi-space-size=8) and fixed glibc trim/mmap thresholds, so freed memory leaves RSS promptly.',
    'The first link carries one-time costs (libdatachannel starts its thread pool: about 6 threads and 4 MiB in raw-nd) and whatever the process had left to settle, so it is noisy; the per-link figures after the first are the cost of each further link, as NATIVE-FACTS.md reported a marginal figure.',
  ];
  for (const s of SUBJECTS) if (runs[s]?.error) notes.push(`FAILED ${s}: ${runs[s]?.error}`);
  return {
    name: 'link-memory',
    title: 'Memory per P2P link in the process holding one end: bare node-datachannel PeerConnection vs agent link',
    subjects: [...SUBJECTS],
    baseline: 'raw-nd',
    ratios: [{ of: 'agent', to: 'raw-nd' }],
    rows,
    raw: { steps, runs },
    notes,
  };
}

export const linkMemoryBench: BenchModule = {
  name: 'link-memory',
  description: 'memory per P2P link (RSS, JS heap, threads, fds) at 1/8/24 links: bare node-datachannel PeerConnections vs agent links; scenarios raw-nd, agent',
  run,
};
