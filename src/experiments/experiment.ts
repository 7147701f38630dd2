/**
 * The shape of a calibration experiment (issue 6, anchors.md section 3): it runs the model,
 * returns a table with the published figure beside the model's, the checks against the
 * published band, and an SVG chart. src/cli/experiment.ts prints the table and writes the
 * JSON and SVG; tests assert the shapes and the checks.
 */
import type { TimingProfile, TimingProfileName } from "../iommu/timing-profile.js";

export interface ExperimentOptions {
  /** Smaller sweeps and fewer requests (tests, CI). */
  quick?: boolean;
  /** Timing profile (name or overrides) for the IOMMU under test. Default "amd-default". */
  timing?: TimingProfileName | (Partial<TimingProfile> & { profile?: TimingProfileName });
  /** Seed of the workload's random addresses. */
  seed?: number;
}

/** One comparison of a model figure against a published band. */
export interface Check {
  what: string;
  model: number;
  low: number;
  high: number;
  /** Anchor rows the band comes from (anchors.md). */
  source: string;
  ok: boolean;
}

export interface ExperimentReport {
  name: string;
  title: string;
  /** What was run, in a sentence or two. */
  method: string;
  columns: string[];
  rows: (string | number)[][];
  checks: Check[];
  /** Standalone SVG document. */
  svg: string;
  /** Raw series for the JSON output. */
  data: Record<string, unknown>;
}

export interface Experiment {
  name: string;
  title: string;
  run(o?: ExperimentOptions): ExperimentReport;
}

export function check(what: string, model: number, low: number, high: number, source: string): Check {
  return { what, model, low, high, source, ok: model >= low && model <= high };
}

/** xorshift32: the workloads' seeded random numbers (no Math.random in src/). */
export class Xorshift32 {
  private s: number;
  constructor(seed: number) { this.s = (seed | 0) || 0x2545f491; }
  next(): number {
    let x = this.s;
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    this.s = x;
    return (x >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  below(n: number): number { return Math.floor(this.next() * n); }
}

export const fmt = (v: number, digits = 1): string => (Number.isInteger(v) ? String(v) : Math.abs(v) < 1 ? v.toPrecision(3) : v.toFixed(digits));

/** The table as aligned text, with the checks below it. */
export function formatReport(r: ExperimentReport): string {
  const rows = r.rows.map((row) => row.map((c) => (typeof c === "number" ? fmt(c) : c)));
  const w = r.columns.map((h, i) => Math.max(h.length, ...rows.map((x) => String(x[i] ?? "").length)));
  const line = (x: string[]) => x.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("  ");
  const out = [`== ${r.name}: ${r.title}`, r.method, "", line(r.columns), w.map((n) => "-".repeat(n)).join("  "), ...rows.map(line), ""];
  for (const c of r.checks) out.push(`${c.ok ? "ok  " : "MISS"} ${c.what}: model ${fmt(c.model, 2)}, published ${fmt(c.low, 2)}..${fmt(c.high, 2)} (${c.source})`);
  return out.join("\n");
}
