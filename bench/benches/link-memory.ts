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
import { deferred, withTimeout, type Deferred } from '../lib/async.js';
import { round } from '../lib/stats.js';
import type { BenchContext, BenchModule, BenchResult, ResultRow } from '../lib/types.js';
import { startWorker, type WorkerHandle } from '../lib/worker.js';

const HUB_SERVER = fileURLToPath(new URL('../servers/hub-server.ts', import.meta.url));
const LINK_HOST = fileURLToPath(new URL('../agent/link-host.ts', import.meta.url));
const SUBJECTS = ['raw-nd', 'agent'] as const;
type Subject = (typeof SUBJECTS)[number];
const LINK_TIMEOUT_MS = 30_000;
/** After the GC, before reading RSS: lets native threads finish setting up and freeing. */
const SETTLE_MS = 1_000;

interface Sample {
  links: number;
  rssBytes: number;
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
    measured = await startWorker(LINK_HOST, `links-${subject}-measured`, { nodeArgs: ['--expose-gc'] });
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
      ctx.log(`  ${subject} at ${links} link(s): RSS ${round(s.rssBytes / 1024 / 1024, 1)} MiB, heap ${round(s.heapUsedBytes / 1024 / 1024, 1)} MiB, threads ${s.threads}, fds ${s.fds}`);
    };
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
          await withTimeout(Promise.all([o.measured.promise, o.helper.promise]), LINK_TIMEOUT_MS, `${id} to open`);
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
  let prev = 0;
  for (const n of steps) {
    const id = `${n} link${n === 1 ? '' : 's'}`;
    rows.push(
      metric(id, 'RSS per link', 'KiB', (s) => perLink(s, n, (x) => x.rssBytes, 1024)),
      ...(prev > 0 ? [metric(id, `RSS per link, marginal (${prev}→${n})`, 'KiB', (s) => perLink(s, n, (x) => x.rssBytes, 1024, prev))] : []),
      metric(id, 'JS heap per link', 'KiB', (s) => perLink(s, n, (x) => x.heapUsedBytes, 1024)),
      metric(id, 'external memory per link', 'KiB', (s) => perLink(s, n, (x) => x.externalBytes, 1024)),
      metric(id, 'threads per link', 'count', (s) => perLink(s, n, (x) => x.threads, 1)),
      metric(id, 'fds per link', 'count', (s) => perLink(s, n, (x) => x.fds, 1)),
    );
    prev = n;
  }
  const notes = [
    'raw-nd: the measured process holds one bare node-datachannel PeerConnection + one reliable DataChannel per link (as NATIVE-FACTS.md "d." measured); the far ends live in a helper process; signals forwarded by the bench process.',
    'agent: one agent in the measured process; link k is room links-k shared with helper agent k (helper process), so every link is one PeerConnection with the agent\'s two DataChannels (reliable, unreliable) plus its peer session, reliable-layer and room state; one room per link keeps helper agents from linking to each other.',
    `Per link = (value at L − value at 0 links) / L, read after two forced GCs and ${SETTLE_MS} ms; marginal = (value at L − value at the previous step) / the links added. Both processes start with node-datachannel loaded (and, for agent, connected to the hub) before the 0-link sample.`,
    'RSS includes allocator retention and thread stacks touched so far, so small steps are noisy (a 1-link number can be dominated by the first PeerConnection\'s one-time costs); trust the 24-link and marginal figures more.',
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
