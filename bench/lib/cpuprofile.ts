/**
 * Summarizes a V8 .cpuprofile (from `node --cpu-prof`) into self time per function and per file,
 * so a bench can say where a server's time goes without opening DevTools.
 */
import { readFile } from 'node:fs/promises';

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  selfMs: number;
  /** Percent of busy (non-idle) time. */
  pct: number;
}

export interface ProfileSummary {
  busyMs: number;
  idleMs: number;
  topFunctions: ProfileEntry[];
  topFiles: ProfileEntry[];
}

/** node_modules/<pkg>/... or the path from the project root, so lines stay readable. */
function shortUrl(url: string): string {
  if (url === '') return '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const marks = ['/dist/', '/src/', '/bench/'];
  for (const m of marks) {
    const i = url.lastIndexOf(m);
    if (i >= 0) return url.slice(i + 1);
  }
  return url.replace(/^file:\/\//, '');
}

function top(map: Map<string, number>, busyMs: number, limit: number): ProfileEntry[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, us]) => ({ name, selfMs: Math.round(us / 100) / 10, pct: Math.round((us / 1000 / busyMs) * 1000) / 10 }));
}

export async function summarizeCpuProfile(file: string, limit = 25): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let idleUs = 0;
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    if (frame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    busyUs += us;
    const file = shortUrl(frame.url);
    const fn = `${frame.functionName || '(anonymous)'}  ${file}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    const fileKey = frame.url ? file : frame.functionName;
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + us);
  }
  const busyMs = busyUs / 1000;
  return { busyMs: Math.round(busyMs), idleMs: Math.round(idleUs / 1000), topFunctions: top(byFunction, busyMs, limit), topFiles: top(byFile, busyMs, limit) };
}

export function formatProfileSummary(title: string, s: ProfileSummary): string {
  const lines = [`${title}: busy ${s.busyMs} ms, idle ${s.idleMs} ms`, '  top self time by function:'];
  for (const e of s.topFunctions) lines.push(`    ${e.pct.toFixed(1).padStart(5)}%  ${e.selfMs.toFixed(0).padStart(7)} ms  ${e.name}`);
  lines.push('  top self time by file:');
  for (const e of s.topFiles) lines.push(`    ${e.pct.toFixed(1).padStart(5)}%  ${e.selfMs.toFixed(0).padStart(7)} ms  ${e.name}`);
  return lines.join('\n');
}
