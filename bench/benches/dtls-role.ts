/**
 * dtls-role: setup time of a NativeLink pair with the answerer as DTLS server (rtc-agent's
 * answerAsDtlsServer, `a=setup:passive`) vs libdatachannel's default (answerer answers `active`,
 * i.e. DTLS client). With the default, the answerer's ClientHello often reaches an offerer that does
 * not have the answer yet, is dropped, and the handshake waits for OpenSSL's 1 s retransmit
 * (native-notes.md, "DTLS role and the 1 s setup"). This is a measurement of a race inside
 * libdatachannel, so it lives here and not in the test suite; the test
 * (test/native/native-link.test.ts) checks the deterministic part: the answer says passive.
 *
 * Two links in this process wired to each other (no hub), ICE on 127.0.0.1 only, signals handed
 * over after a fixed delay standing in for the hub's latency. Setups of the two subjects alternate.
 */
import { loadDist } from '../agent/dist.js';
import { loadNativeLink, nativeLinkSetup, type LinkSetup } from '../agent/native-link-pair.js';
import { round, summarize, type LatencySummary } from '../lib/stats.js';
import type { BenchContext, BenchModule, BenchResult, ResultRow } from '../lib/types.js';

const SUBJECTS = ['answerer-server', 'lib-default'] as const;
type Subject = (typeof SUBJECTS)[number];
const LABELS: Record<Subject, string> = {
  'answerer-server': 'rtc-agent: the answerer reads the offer as active and answers a=setup:passive (DTLS server)',
  'lib-default': "libdatachannel's default: the answerer answers a=setup:active (DTLS client); NativeLinkOptions.answerAsDtlsServer false",
};

/** Signalling delays: 0 = the next turn (as in-process), 30 ms = a hub on a LAN-ish path. */
const DELAYS_MS = [0, 30] as const;
/** A setup over this is one that waited for a DTLS retransmit (the fast ones take a few signalling hops). */
const SLOW_SETUP_MS = 500;
const SETUP_TIMEOUT_MS = 15_000;

type Setup = LinkSetup;

export const dtlsRoleBench: BenchModule = {
  name: 'dtls-role',
  description: "NativeLink setup time: answerer as DTLS server (rtc-agent) vs libdatachannel's default role, 0 and 30 ms signalling delay",
  async run(ctx: BenchContext): Promise<BenchResult> {
    const dist = await loadDist();
    const status = await dist.native.acquireNative();
    if (!status.available) throw new Error(`node-datachannel unavailable: ${status.reason}`);
    const mod = await loadNativeLink();
    const log = dist.api.silentLogger();
    const setups = ctx.quick ? 8 : 40;
    const raw: Record<string, Record<Subject, Setup[]>> = {};
    try {
      for (const delayMs of DELAYS_MS) {
        const id = `delay-${delayMs}ms`;
        if (ctx.scenarios.length > 0 && !ctx.scenarios.includes(id)) continue;
        const bySubject: Record<Subject, Setup[]> = { 'answerer-server': [], 'lib-default': [] };
        for (let n = 0; n < setups; n++) {
          for (const subject of SUBJECTS) bySubject[subject].push(await nativeLinkSetup(mod, status, log, { answerAsDtlsServer: subject === 'answerer-server', delayMs, sessionId: `bench-${n}`, timeoutMs: SETUP_TIMEOUT_MS }));
        }
        raw[id] = bySubject;
        ctx.log(`${id}: ${SUBJECTS.map((s) => `${s} ${bySubject[s].map((x) => (x.ms === null ? 'fail' : Math.round(x.ms))).join(',')}`).join(' | ')}`);
      }
    } finally {
      dist.native.releaseNative();
    }

    const rows: ResultRow[] = [];
    for (const [id, bySubject] of Object.entries(raw)) {
      const summaries = Object.fromEntries(SUBJECTS.map((s) => [s, summarize(bySubject[s].flatMap((x) => (x.ms === null ? [] : [x.ms])))])) as Record<Subject, LatencySummary>;
      const metric = (name: string, unit: string, pick: (s: Subject) => number | null, informational = false): ResultRow => ({
        scenario: id,
        metric: name,
        unit,
        higherIsBetter: false,
        ...(informational ? { informational } : {}),
        values: Object.fromEntries(SUBJECTS.map((s) => [s, pick(s)])),
      });
      rows.push(
        metric('setup p50', 'ms', (s) => round(summaries[s].p50)),
        metric('setup p90', 'ms', (s) => round(summaries[s].p90)),
        metric('setup max', 'ms', (s) => round(summaries[s].max)),
        metric(`setups over ${SLOW_SETUP_MS} ms`, 'count', (s) => bySubject[s].filter((x) => x.ms !== null && x.ms > SLOW_SETUP_MS).length, true),
        metric('failed setups', 'count', (s) => bySubject[s].filter((x) => x.ms === null).length, true),
      );
    }
    return {
      name: 'dtls-role',
      title: 'NativeLink setup time by the answerer\'s DTLS role',
      subjects: [...SUBJECTS],
      baseline: 'lib-default',
      rows,
      raw: { setupsPerSubject: setups, delaysMs: DELAYS_MS, setups: raw },
      notes: [
        ...SUBJECTS.map((s) => `${s}: ${LABELS[s]}`),
        `${setups} setups per subject and delay, alternating; two NativeLinks in this process, ICE on 127.0.0.1, no hub.`,
        `A setup over ${SLOW_SETUP_MS} ms waited for a DTLS retransmit (about 1 s); the count is the point of the comparison, not the medians.`,
      ],
    };
  },
};
