/**
 * Shapes shared by every bench module. run.ts only knows these, so a new bench (P2P, E2EE,
 * ASP.NET hub, TURN, ...) is one more module that returns a BenchResult.
 */

/** One line of the comparison table: a metric measured once per subject (e.g. hub, ws). */
export interface ResultRow {
  scenario: string;
  metric: string;
  unit: string;
  /** Decides how a ratio reads: for throughput >1 is good, for latency <1 is good. */
  higherIsBetter: boolean;
  /** Context only (e.g. CPU load): printed without a ratio, since a ratio would read as a score. */
  informational?: boolean;
  /** Subject name → value; null when that subject could not be measured (it failed or was skipped). */
  values: Record<string, number | null>;
}

export interface BenchResult {
  /** Also the file name of the JSON written to bench/results/<name>.json. */
  name: string;
  title: string;
  /** Table columns in order; the first is the thing under test. */
  subjects: string[];
  /** Subject the main ratio divides by (must be one of `subjects`); ratio = subjects[0] / baseline. */
  baseline: string;
  /** Ratio columns to show, default [{ of: subjects[0], to: baseline }]. */
  ratios?: { of: string; to: string }[];
  rows: ResultRow[];
  /** Everything measured, in whatever shape the bench likes; goes to the JSON untouched. */
  raw: unknown;
  /** Method notes and problems seen; printed under the table and saved. */
  notes: string[];
  /** Longer text blocks printed after the table (e.g. CPU profile summaries); also saved. */
  details?: string[];
}

/** What run.ts hands every bench: shared command-line switches and a progress logger. */
export interface BenchContext {
  /** `--quick`: fewer rounds and shorter phases, for smoke runs. */
  quick: boolean;
  /** `--cpu-prof`: directory where server children should write V8 CPU profiles, else null. */
  cpuProfileDir: string | null;
  /**
   * `--previous <dist dir>`: another build of rtc-agent (e.g. the last commit before a rewrite,
   * built in a temp dir) that benches which support it measure side by side with today's; else null.
   */
  previousDist: string | null;
  /** `--scenario <id>` (repeatable): run only these scenarios of each bench; empty = all. */
  scenarios: string[];
  /** `--rounds <n>`: interleaved rounds per subject for benches that take it (agent-paths, agent-vs-raw), else null (their default). */
  rounds: number | null;
  /** Progress lines (stderr), so stdout holds only the tables. */
  log(line: string): void;
}

export interface BenchModule {
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<BenchResult>;
}
