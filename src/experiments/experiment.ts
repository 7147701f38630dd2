/**
 * The shape of a calibration experiment (docs/calibration.md, "Experiments"): it runs the
 * model, returns a table with the published figure beside the model's, the checks against
 * the published bands, each marked fitted (a parameter was chosen with that anchor) or
 * predicted (held out), and an SVG chart. src/cli/experiment.ts prints the table and writes
 * the JSON and SVG; tests assert the shapes and that every check can fail.
 */
import type { AmdIommu } from "../iommu/amd-iommu.js";
import type { TimingProfile, TimingProfileName } from "../iommu/timing-profile.js";

export interface ExperimentOptions {
  /** Smaller sweeps and fewer requests (tests, CI). */
  quick?: boolean;
  /** Timing profile (name or overrides) for the IOMMU under test. Default "amd-default". */
  timing?: TimingProfileName | (Partial<TimingProfile> & { profile?: TimingProfileName });
  /** Seed of the workload's random addresses. */
  seed?: number;
  /**
   * Called with each IOMMU the experiment builds, before the experiment drives it, and a label
   * naming that part of the experiment (`experiment NAME --trace FILE` starts a trace on it).
   */
  trace?: (iommu: AmdIommu, part: string) => void;
}

/**
 * Fitted: a model parameter was chosen so that this figure lands in the band (the row shows
 * the fit worked; it validates nothing). Predicted: no parameter was chosen with this anchor
 * (held out): the row is a test of the model and can fail.
 */
export type CheckKind = "fitted" | "predicted";

/** One row of the calibration: a raw model figure beside a published band. */
export interface Check {
  /** The experiment's name (set by the experiment). */
  experiment: string;
  /** What is compared, with its unit. */
  point: string;
  /** The model's figure, raw (never rounded). */
  model: number;
  /** The published band and where it comes from (row ids of docs/calibration.md, Intel or AMD stated there). */
  published: { low: number; high: number; source: string };
  kind: CheckKind;
  /** Fitted rows: the parameter chosen with this anchor. */
  parameter?: string;
  /** model lies in [low, high]. */
  pass: boolean;
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

/** The comparison itself: in the band or not (no rounding; NaN fails). */
export function inBand(model: number, low: number, high: number): boolean {
  return model >= low && model <= high;
}

/** A predicted row: no parameter was fitted to `source`. */
export function predicted(experiment: string, point: string, model: number, low: number, high: number, source: string): Check {
  return { experiment, point, model, published: { low, high, source }, kind: "predicted", pass: inBand(model, low, high) };
}

/** A fitted row: `parameter` was chosen so that this point lands in the band of `source`. */
export function fitted(experiment: string, point: string, model: number, low: number, high: number, source: string, parameter: string): Check {
  return { experiment, point, model, published: { low, high, source }, kind: "fitted", parameter, pass: inBand(model, low, high) };
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

/** A figure for the text table: integers as they are, others with 4 significant digits below 1 and `digits` decimals above. */
export const fmt = (v: number, digits = 1): string => (Number.isInteger(v) ? String(v) : Math.abs(v) < 1 ? v.toPrecision(4) : v.toFixed(digits));

/** One check as a line: PASS / MISS, kind, raw model figure (full precision), band and source. */
export function formatCheck(c: Check): string {
  const kind = c.kind === "fitted" ? `fitted (${c.parameter ?? "?"})` : "predicted";
  return `${c.pass ? "pass" : "MISS"} ${kind}: ${c.point}: model ${String(c.model)}, published ${String(c.published.low)}..${String(c.published.high)} (${c.published.source})`;
}

/** The table as aligned text, with the checks below it. */
export function formatReport(r: ExperimentReport): string {
  const rows = r.rows.map((row) => row.map((c) => (typeof c === "number" ? fmt(c) : c)));
  const w = r.columns.map((h, i) => Math.max(h.length, ...rows.map((x) => String(x[i] ?? "").length)));
  const line = (x: string[]) => x.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("  ");
  const out = [`== ${r.name}: ${r.title}`, r.method, "", line(r.columns), w.map((n) => "-".repeat(n)).join("  "), ...rows.map(line), ""];
  for (const c of r.checks) out.push(formatCheck(c));
  return out.join("\n");
}
