/** Shared output for every bench: the comparison table on stdout and the JSON file in bench/results/. */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResult, ResultRow } from './types.js';

export const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

export function ratioColumns(result: BenchResult): { of: string; to: string }[] {
  return result.ratios ?? (result.subjects[0] === undefined ? [] : [{ of: result.subjects[0], to: result.baseline }]);
}

export function ratioOf(row: ResultRow, of: string, to: string): number | null {
  if (row.informational || of === to) return null;
  const a = row.values[of];
  const b = row.values[to];
  if (a === null || a === undefined || b === null || b === undefined || b === 0) return null;
  return a / b;
}

function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  // Counts (failures, retries, links) read as integers, not 0.000.
  if (Number.isInteger(value)) return Math.abs(value) >= 1000 ? value.toLocaleString('en-US') : String(value);
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(abs >= 1 ? 2 : 3);
}

function formatRatio(ratio: number | null, higherIsBetter: boolean): string {
  if (ratio === null) return '—';
  // The arrow says which direction is good, so 1.30× latency isn't read as a win.
  return `${ratio.toFixed(2)}× ${higherIsBetter ? '↑' : '↓'}`;
}

export function formatTable(result: BenchResult): string {
  const ratios = ratioColumns(result);
  const header = ['scenario', 'metric', ...result.subjects, ...ratios.map((r) => `${r.of}/${r.to}`)];
  const body = result.rows.map((row) => [
    row.scenario,
    `${row.metric} (${row.unit})`,
    ...result.subjects.map((s) => formatNumber(row.values[s])),
    ...ratios.map((r) => formatRatio(ratioOf(row, r.of, r.to), row.higherIsBetter)),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const numeric = (i: number): boolean => i >= 2;
  const line = (cells: string[]): string =>
    cells.map((c, i) => (numeric(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ');
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const out = [`${result.title}`, line(header), rule];
  let lastScenario = '';
  for (const row of body) {
    // Print each scenario name once; the blank cells make groups easy to scan.
    const scenario = row[0] ?? '';
    out.push(line([scenario === lastScenario ? '' : scenario, ...row.slice(1)]));
    lastScenario = scenario;
  }
  out.push('(ratios: ↑ higher is better, ↓ lower is better)');
  for (const note of result.notes) out.push(`- ${note}`);
  for (const block of result.details ?? []) out.push('', block);
  return out.join('\n');
}

export function machineInfo(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    node: process.version,
    v8: process.versions.v8,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpuCount: cpus.length,
    cpus: cpus.map((c) => ({ model: c.model, speedMHz: c.speed })),
    totalMemBytes: os.totalmem(),
    loadavg: os.loadavg(),
  };
}

/** Writes bench/results/<name>.json: rows with ratios, raw data, machine, date and run options. */
export async function writeResultJson(result: BenchResult, runOptions: Record<string, unknown> = {}): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${result.name}.json`);
  const doc = {
    bench: result.name,
    title: result.title,
    date: new Date().toISOString(),
    machine: machineInfo(),
    runOptions,
    subjects: result.subjects,
    baseline: result.baseline,
    rows: result.rows.map((row) => ({
      ...row,
      ratios: Object.fromEntries(
        ratioColumns(result).map((r) => {
          const ratio = ratioOf(row, r.of, r.to);
          return [`${r.of}/${r.to}`, ratio === null ? null : Math.round(ratio * 1e4) / 1e4];
        }),
      ),
    })),
    notes: result.notes,
    details: result.details ?? [],
    raw: result.raw,
  };
  await writeFile(file, `${JSON.stringify(doc, null, 2)}\n`);
  return file;
}
