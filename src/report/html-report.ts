/**
 * `npm start -- report`: one self-contained HTML page (inline CSS and SVG, no script, no
 * external resource) for people who would rather look than read:
 *
 *   1. the RFC race under every MMU-notifier policy (the main job's table, safe/unsafe)
 *   2. calibration: each experiment's checks against the published band and its charts
 *   3. a benchmark table, when a `npm run bench -- --json FILE` result is given
 *   4. one guest (PASID) translation drawn level by level: the GCR3 entry and the four
 *      long-mode entries the walker read, the value read and the value left in memory, and
 *      the A/D bits the walk set
 *
 * test/report/html-report.test.ts loads the page in headless chromium and finds no console
 * error and every chart's text inside its picture.
 */
import { IommuTestbench, LongModeTable, Gcr3Table } from "../builders/index.js";
import type { MemoryAccess } from "../iommu/translation/request.js";
import { EXPERIMENTS, type ExperimentReport } from "../experiments/index.js";
import { runAllPolicies, summary, isSafe, type RaceSummary } from "../scenarios/race-scenario.js";
import { NOTIFIER_POLICIES } from "../host/driver/notifier-policy.js";
import { LONG_MODE_FIELDS } from "../spec/page-tables.js";
import { escapeXml, textWidth } from "./svg-chart.js";

export interface ReportOptions {
  /** Smaller experiment sweeps (seconds instead of tens of seconds). */
  quick?: boolean;
  /** Seed of the race and the experiments' workloads (default 1). */
  seed?: number;
  /** A parsed `npm run bench -- --json FILE` result ({ environment, results: [...] }) and its file name. */
  bench?: { file: string; data: unknown };
  /** Package version and commit shown in the header. */
  version?: string;
  /** Called before each part runs (progress display). */
  onStep?: (what: string, done: number, total: number) => void;
}

const esc = escapeXml;
const hex = (v: number | bigint) => "0x" + v.toString(16);

function table(head: string[], rows: (string | number)[][], cls: (row: number) => string = () => ""): string {
  const verdict = (v: string) => v === "safe" || v === "in band" || v === "met (fitted)" ? ` class="ok"` : v === "UNSAFE" || v === "MISS" ? ` class="bad"` : "";
  const cell = (v: string | number) => typeof v === "number" ? `<td class="num">${esc(fmtNum(v))}</td>` : `<td${verdict(v)}>${esc(v)}</td>`;
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${
    rows.map((r, i) => `<tr${cls(i) ? ` class="${cls(i)}"` : ""}>${r.map(cell).join("")}</tr>`).join("")}</tbody></table>`;
}

function fmtNum(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toPrecision(3);
}

// ---- 1. the race --------------------------------------------------------------------------

function raceSection(seed: number): string {
  const rows: RaceSummary[] = runAllPolicies({ seed }).map(summary);
  const era = new Map(NOTIFIER_POLICIES.map((p) => [p.name, p.era]));
  const body = rows.map((r) => [r.policy, isSafe(r) ? "safe" : "UNSAFE", r.staleAccesses, r.stalePermissionAccesses, r.deviceFaults, r.pageRequests, r.commands, r.flushCycles, r.deviceStallCycles, era.get(r.policy) ?? ""]);
  return `<section id="race"><h2>1. The RFC race under every notifier policy</h2>
<p>A process changes its page tables (munmap, mprotect, migration, copy-on-write, reclaim, MADV_DONTNEED, exit) while two devices (one with ATS + PRI) keep doing DMA into it through the IOMMU; workload <code>mixed</code>, seed ${seed}. <b>stale</b> = DMAs into a frame freed or handed to another owner after their translation was made; <b>stale-perm</b> = DMA writes through a write permission the host had removed. Cycles are of the 1 GHz model clock (1 cycle = 1 ns). Same run as <code>npm start -- --seed ${seed}</code>.</p>
${table(["policy", "verdict", "stale", "stale-perm", "faults", "PPRs", "commands", "flush cycles", "stall cycles", "era"], body, (i) => isSafe(rows[i]!) ? "ok" : "bad")}
</section>`;
}

// ---- 2. calibration -----------------------------------------------------------------------

function experimentSection(r: ExperimentReport, i: number): string {
  const checks = r.checks.map((c) => [c.point, c.model, `${fmtNum(c.published.low)} .. ${fmtNum(c.published.high)}`, c.published.source, c.kind, c.pass ? (c.kind === "fitted" ? "met (fitted)" : "in band") : "MISS"]);
  const svg = r.svg.replace(/^<\?xml[^>]*>\s*/, "");
  return `<article id="exp-${esc(r.name)}"><h3>2.${i + 1} ${esc(r.title)}</h3>
<p class="method">${esc(r.method)}</p>
${table(["check", "model", "published band", "source", "kind", "result"], checks, (k) => r.checks[k]!.pass ? "ok" : "bad")}
<div class="chart">${svg}</div>
<details><summary>table of the run (${r.rows.length} rows)</summary>${table(r.columns, r.rows)}</details>
</article>`;
}

// ---- 3. benchmark -------------------------------------------------------------------------

/** Section 3: the table of a benchmark result (every scalar column of its results), or why there is none. */
export function benchSection(b: ReportOptions["bench"]): string {
  if (b === undefined) {
    return `<section id="bench"><h2>3. Benchmark</h2><p>No benchmark result given. Run <code>npm run bench -- --json bench.json</code> and then <code>npm start -- report --bench bench.json</code> to add its table here.</p></section>`;
  }
  const d = b.data as { environment?: Record<string, unknown>; results?: unknown } | unknown[];
  const results = Array.isArray(d) ? d : Array.isArray((d as { results?: unknown }).results) ? (d as { results: unknown[] }).results : null;
  if (results === null || results.some((r) => r === null || typeof r !== "object")) {
    return `<section id="bench"><h2>3. Benchmark</h2><p class="bad">${esc(b.file)}: not a benchmark result (expected { results: [ {...}, ... ] }).</p></section>`;
  }
  const rows = results as Record<string, unknown>[];
  const keys: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!keys.includes(k) && (typeof r[k] !== "object" || r[k] === null)) keys.push(k);
  const cells = rows.map((r) => keys.map((k) => { const v = r[k]; return typeof v === "number" ? v : v === null || v === undefined ? "" : String(v); }));
  const env = !Array.isArray(d) && d !== null && typeof d === "object" && (d as { environment?: unknown }).environment !== null && typeof (d as { environment?: unknown }).environment === "object"
    ? table(["environment", "value"], Object.entries((d as { environment: Record<string, unknown> }).environment).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : String(v)])) : "";
  return `<section id="bench"><h2>3. Benchmark (${esc(b.file)})</h2>
<p>Host time per operation of each case and its baseline, as <code>npm run bench</code> wrote them (every column of the file).</p>
${table(keys, cells)}${env}</section>`;
}

// ---- 4. one walk, level by level ----------------------------------------------------------

interface Level { name: string; table: number; index: number; entry: number; read: bigint; after: bigint; casDone: boolean }

const GVA = 0x7f12_3456_7000n;

/** A write by device 02:00.0 with PASID 1 through fresh guest tables (A and D clear): the walk and what it left. */
export function guestWalk(): { levels: Level[]; spa: number; cycles: number; gcr3: { entry: number; value: bigint } } {
  const tb = new IommuTestbench();
  const guest = new LongModeTable(tb.memory, tb.pages, 4);
  guest.map(GVA, 0x80_0000, { writable: true });
  const gcr3 = new Gcr3Table(tb.memory, tb.pages, 0);
  gcr3.set(1, guest.root);
  tb.deviceTable.set(0x0200, { V: true, TV: true, Mode: 0, IR: true, IW: true, DomainID: 2, GV: true, GLX: 0, GCR3TableRootPtr: gcr3.root });
  tb.sync();
  const log: MemoryAccess[] = [];
  tb.iommu.traceMemoryAccesses(log);
  const r = tb.iommu.translate({ deviceId: 0x0200, address: GVA + 0x10n, pasid: 1, write: true });
  tb.iommu.traceMemoryAccesses(null);
  const names = ["PML4E", "PDPTE", "PDE", "PTE"];
  const shifts = [39n, 30n, 21n, 12n];
  const reads = log.filter((a) => a.kind === "read" && a.what.startsWith("guest"));
  const g = log.find((a) => a.what === "gcr3")!;
  const levels = reads.map((a, i): Level => {
    const index = Number((GVA >> shifts[i]!) & 511n);
    const after = tb.memory.read64(a.pa);
    const read = (after & ~0xffff_ffffn) | BigInt(a.value >>> 0);
    return { name: names[i]!, table: a.pa - index * 8, index, entry: a.pa, read, after, casDone: log.some((c) => c.kind === "cas" && c.pa === a.pa) };
  });
  return { levels, spa: r.spa, cycles: r.cycles, gcr3: { entry: g.pa, value: tb.memory.read64(g.pa) } };
}

const BITS = LONG_MODE_FIELDS.filter((f) => f.lo === f.hi && f.lo <= 7).sort((a, b) => a.lo - b.lo);

function walkSvg(w: ReturnType<typeof guestWalk>): string {
  const boxW = 214, gap = 30, top = 56, boxH = 196, pad = 10;
  const cols = w.levels.length + 2; // GCR3 entry, 4 levels, page
  const width = pad * 2 + cols * boxW + (cols - 1) * gap, height = top + boxH + 16;
  const out: string[] = [`<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(`Guest walk of a write to GVA ${hex(GVA + 0x10n)}, PASID 1, device 02:00.0: entries read and A/D bits set`)}</text>`,
    `<text x="${width / 2}" y="40" text-anchor="middle" font-size="11" fill="#444">${esc("each box: table base and index, the entry's address, the value the walker read and the value it left (bits set by this walk in orange)")}</text>`];
  const MONO = ` font-family="DejaVu Sans Mono, Liberation Mono, monospace"`;
  const line = (x: number, y: number, s: string, size = 11, extra = "") => {
    // monospace glyphs are 0.6 em wide (DejaVu Sans Mono 0.602); proportional text by textWidth
    const w = extra.includes("monospace") ? Math.ceil(s.length * 0.61 * size) : textWidth(s, size);
    if (w > boxW - 14) throw new Error(`walk figure: "${s}" does not fit its box`);
    out.push(`<text x="${x}" y="${y}" font-size="${size}"${extra}>${esc(s)}</text>`);
  };
  const box = (i: number, title: string, rows: string[], bits?: { read: bigint; after: bigint }) => {
    const x = pad + i * (boxW + gap);
    out.push(`<rect x="${x}" y="${top}" width="${boxW}" height="${boxH}" rx="6" fill="#f4f8fc" stroke="#1f77b4"/>`);
    line(x + 8, top + 18, title, 12, ` font-weight="bold"`);
    rows.forEach((r, k) => line(x + 8, top + 38 + k * 16, r, 10.5, MONO));
    if (bits !== undefined) {
      BITS.forEach((f, k) => {
        const bx = x + 8 + k * 24, by = top + boxH - 44;
        const was = (bits.read >> BigInt(f.lo)) & 1n, now = (bits.after >> BigInt(f.lo)) & 1n;
        const fill = now === 0n ? "white" : was === 0n ? "#ff9f40" : "#9ecae1";
        out.push(`<rect x="${bx}" y="${by}" width="22" height="20" fill="${fill}" stroke="#555"><title>${esc(`${f.name} (bit ${f.lo}): ${f.doc ?? ""} -- read ${was}, now ${now}`)}</title></rect>`,
          `<text x="${bx + 11}" y="${by + 14}" text-anchor="middle" font-size="9">${esc(f.name)}</text>`);
      });
      out.push(`<text x="${x + 8}" y="${top + boxH - 10}" font-size="9.5" fill="#444">${esc("blue: was set; orange: set by the walk")}</text>`);
    }
    if (i > 0) out.push(`<path d="M${x - gap + 4} ${top + boxH / 2}H${x - 6}" stroke="#333" stroke-width="1.6"/><path d="M${x - 6} ${top + boxH / 2 - 5}L${x} ${top + boxH / 2}L${x - 6} ${top + boxH / 2 + 5}Z" fill="#333"/>`);
  };
  box(0, "GCR3 table entry", [`PASID 1 (GLX = 0: one level)`, `at ${hex(w.gcr3.entry)}`, `value ${hex(w.gcr3.value)}`, `= guest CR3: the PML4`]);
  w.levels.forEach((l, i) => box(i + 1, `${l.name} (level ${4 - i})`, [
    `table ${hex(l.table)}`, `index ${l.index} (GVA bits)`, `entry at ${hex(l.entry)}`, `read  ${hex(l.read)}`, `after ${hex(l.after)}`,
    l.casDone ? "A/D set by a 32-bit CAS" : "no A/D write",
  ], { read: l.read, after: l.after }));
  box(cols - 1, "4 KiB page", [`SPA ${hex(w.spa)}`, `= PTE.Address + 0x10`, `modelled cycles ${w.cycles}`]);
  // scales down to the page's width (viewBox), text and all
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" style="max-width:100%;height:auto" font-family="Arial, Helvetica, sans-serif">${out.join("")}</svg>`;
}

function walkSection(): string {
  const w = guestWalk();
  const rows = w.levels.map((l) => [l.name, hex(l.entry), hex(l.read), hex(l.after), BITS.filter((f) => ((l.after >> BigInt(f.lo)) & 1n) === 1n && ((l.read >> BigInt(f.lo)) & 1n) === 0n).map((f) => f.name).join(", ") || "none"]);
  return `<section id="walk"><h2>4. One guest (PASID) translation, level by level</h2>
<p>Device 02:00.0 (DeviceID 0x0200) writes to guest virtual address ${hex(GVA + 0x10n)} with PASID 1. Its DTE has GV = 1 and points at a one-level GCR3 table; PASID 1's entry holds the guest CR3, the root of a 4-level long-mode table built fresh (A and D clear). The walker reads one entry per level and then sets A in every entry and D in the leaf with 32-bit compare-exchanges on the low words (the shared-mode rule for page-table entries).</p>
<div class="chart">${walkSvg(w)}</div>
${table(["entry", "address", "read", "after the walk", "bits set by the walk"], rows)}
</section>`;
}

// ---- the page -----------------------------------------------------------------------------

const CSS = `body{font-family:Arial,Helvetica,sans-serif;margin:0 auto;max-width:1320px;padding:0 24px 48px;color:#222;line-height:1.45}
h1{font-size:24px;margin:24px 0 4px}h2{font-size:19px;margin:36px 0 8px;border-bottom:2px solid #1f77b4;padding-bottom:4px}h3{font-size:16px;margin:28px 0 6px}
nav a{margin-right:14px}code{background:#f2f2f2;padding:1px 4px;border-radius:3px}
table{border-collapse:collapse;margin:8px 0 12px;font-size:13px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#eef3f8}
td.num{text-align:right;font-variant-numeric:tabular-nums}td.ok{color:#1a7a1a}td.bad{color:#b00020;font-weight:bold}tr.bad{background:#fff4f4}
p.bad{color:#b00020}.chart{overflow-x:auto;margin:8px 0}.method{color:#444}details{margin:4px 0 16px}summary{cursor:pointer;color:#1f77b4}`;

/** The whole page as one HTML string. */
export function buildReport(o: ReportOptions = {}): string {
  const seed = o.seed ?? 1;
  const total = EXPERIMENTS.length + 2;
  let step = 0;
  const tick = (what: string) => o.onStep?.(what, step++, total);
  tick("race");
  const race = raceSection(seed);
  const exps: string[] = [];
  EXPERIMENTS.forEach((e, i) => {
    tick(`experiment ${e.name}`);
    exps.push(experimentSection(e.run({ quick: o.quick === true, seed }), i));
  });
  tick("walk");
  const walk = walkSection();
  o.onStep?.("done", total, total);
  const title = "AMD IOMMU v2 model: race, calibration, benchmark, one walk";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(title)}</title><style>${CSS}</style></head>
<body><h1>${esc(title)}</h1>
<p>amd-iommu-v2-model ${esc(o.version ?? "")}; ${o.quick === true ? "quick experiment sweeps" : "full experiment sweeps"}; seed ${seed}. Written by <code>npm start -- report</code>: one file, no scripts, no external resources.</p>
<nav><a href="#race">1. race</a><a href="#calibration">2. calibration</a><a href="#bench">3. benchmark</a><a href="#walk">4. one walk</a></nav>
${race}
<section id="calibration"><h2>2. Calibration against published figures</h2>
<p>Each experiment runs the model and sets its figure beside the published band it is checked against (sources: docs/calibration.md). <b>fitted</b> rows met a published figure by choosing a parameter with it (they validate nothing); <b>predicted</b> rows are held out and can fail. Figures are raw; misses are shown, not left out.</p>
${exps.join("\n")}</section>
${benchSection(o.bench)}
${walk}
</body></html>
`;
}
