/**
 * The benchmark runner (`npm run bench -- [--quick] [--filter TEXT] [--json FILE] [--shared] [--list]`), with V8's
 * inlining limits as importing the model sets them (AMD_IOMMU_MODEL_V8_INLINING=default: V8's own).
 *
 * Imports every bench/*.bench.ts (each exports `cases: BenchCase[]`) and times each case
 * against two baselines measured in the same run:
 *  - native: the C reference (bench/native/iommu_ref.c, compiled here with `cc -O2`) doing the
 *    same work on the same tables (its memory image's hash must equal the model's, and its
 *    answers the model's, or no ratio is given); model and native alternate in rounds of CPU
 *    time (process.cpuUsage / CLOCK_PROCESS_CPUTIME_ID: time waiting for a CPU left out) and
 *    the medians are reported, so a machine loaded by other work affects both alike;
 *  - typed-array reads: `refs` dependent loads per operation over a 16 MiB array (what the
 *    operation's memory references alone cost in JavaScript).
 * Cases without a native twin (invalidation, commands, scenarios) are timed with tinybench.
 * Modelled cycles are cycles of the modelled IOMMU's clock (the timing profile's clockHz,
 * 1 GHz by default: 1 cycle = 1 ns of modelled time), not host time. --json writes the results
 * with the environment (package version, commit, Node, CPU, load average before and after)
 * and an SVG report beside it.
 *
 * Each case runs in a worker thread of its own (a fresh V8 isolate), as JMH forks a JVM per
 * benchmark: code the JIT compiled and the type feedback it gathered for the cases before
 * would otherwise shape the code the next case runs ("profile pollution": a miss measured
 * after hit, PDE-cache and timed cases ran through the same functions is slower than the
 * same miss measured alone). --shared runs every case in this process instead.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { Bench } from "tinybench";
import type { BenchCase, BenchSubject } from "./bench-case.js";
import { NativeProcess, compileNative, imageHash } from "./native-reference.js";
import { barChart, svgDocument } from "../src/report/svg-chart.js";
import { resolveTimingProfile } from "../src/iommu/timing-profile.js";
import { appliedV8Flags } from "../src/embedding/v8-inlining.js"; // (importing it sets V8's inlining limits as the environment says: process-wide, the case workers compile with them too)

export interface BenchResult {
  name: string; group: string; measures: string; opsPerCall: number;
  /** Model host time per operation (median of the rounds' CPU time for native cases, tinybench wall-clock mean otherwise). */
  hostNsPerOp: number; hostRme: number;
  /** Typed-array-read baseline per operation and the model's ratio to it. */
  baselineNsPerOp: number; ratio: number;
  /** Native C reference per operation (median of rounds), the model's ratio to it (median of per-round ratios), or null with nativeNote saying why. */
  nativeNsPerOp: number | null; nativeRatio: number | null; nativeNote: string | null;
  /** Per-round figures of the interleaved measurement (CPU ns/op, and wall-clock ns/op), and the CPU figures' spread (max - min) / median. */
  rounds: { model: number[]; native: number[]; modelWall: number[]; nativeWall: number[] } | null; spread: number | null;
  /** Hash of the memory image both sides built (hex). */
  imageHash: string | null;
  modelledCycles: number | null; memoryReferences: number | null; samples: number;
  /** BenchCase.variantOf (a timed case's functional twin), or null. */
  variantOf: string | null;
}

/** A case's time over its twin's (BenchCase.variantOf), both in the same run. */
export interface VariantRatio {
  name: string; variantOf: string;
  /** model ns over the twin's model ns (medians of rounds measured at different times of the run). */
  direct: number;
  /**
   * nativeRatio over the twin's nativeRatio: each measured against the same native work in
   * interleaved rounds, so a machine that got slower or faster between the two cases cancels
   * out. Null without native ratios.
   */
  throughNative: number | null;
}

/** The ratios of every result whose twin is among the results too. */
export function variantRatios(rs: readonly BenchResult[]): VariantRatio[] {
  const out: VariantRatio[] = [];
  for (const r of rs) {
    if (r.variantOf === null) continue;
    const t = rs.find((x) => x.name === r.variantOf);
    if (t === undefined) continue;
    out.push({
      name: r.name, variantOf: t.name, direct: r.hostNsPerOp / t.hostNsPerOp,
      throughNative: r.nativeRatio !== null && t.nativeRatio !== null ? r.nativeRatio / t.nativeRatio : null,
    });
  }
  return out;
}

/** A case whose rounds spread more than this (max - min over the median) was disturbed by other work on the machine. */
const DISTURBED_SPREAD = 0.25;

const HELP = `usage: npm run bench -- [options]
  --quick          CI-sized run (short timing windows, 3 rounds)
  --filter TEXT    only cases whose name contains TEXT
  --json FILE      write results + environment to FILE and an SVG report next to it
  --time MS        timing window per task (tinybench) or per round (native cases) in ms (default 1000 / 150; quick 150 / 40)
  --rounds N       interleaved rounds per native case (default 7, quick 3), after 3 warm-up rounds (quick 1)
  --shared         run every case in this process (default: each case in a worker thread of its own)
  --list           list the cases and what each measures
  -h, --help       this text

V8's inlining limits: raised, as importing the model raises them (src/embedding/v8-inlining.ts);
AMD_IOMMU_MODEL_V8_INLINING=default npm run bench measures with V8's own. The run's text and
JSON name the flags it had.

Columns: model ns/op (host time of the model per operation: for cases with a native twin the
CPU time of rounds, so time spent waiting for a CPU on a busy machine is left out; wall-clock
time with tinybench otherwise); native ns/op (CPU time of the C reference
bench/native/iommu_ref.c doing the same work on the same tables, compiled with cc -O2, run in
rounds interleaved with the model's; "-" with a note when there is no C compiler or the
two memory images or answers differ); x native (model / native, median of per-round ratios);
reads ns/op and x reads (a JavaScript loop of as many dependent typed-array reads as the
operation's memory references); refs/op; modelled cycles per operation (cycles of the
modelled IOMMU clock, 1 GHz by default: not host time). A case whose rounds spread more than
${DISTURBED_SPREAD * 100}% is flagged "disturbed"; the load average before and after the run is printed.`;

/** Plain typed-array reads: `refs` dependent loads per operation over a 16 MiB array (the same-run baseline). */
export function referenceBaseline(refs: number, opsPerCall: number): BenchSubject {
  const words = new Uint32Array(1 << 22);
  for (let i = 0; i < words.length; i++) words[i] = (Math.imul(i + 1, 0x9e3779b1) >>> 10) & (words.length - 1);
  const n = Math.max(1, Math.round(refs));
  let p = 0;
  return {
    opsPerCall,
    run: () => { let x = p; for (let o = 0; o < opsPerCall; o++) for (let r = 0; r < n; r++) x = words[x]!; p = x; },
  };
}

async function loadCases(): Promise<BenchCase[]> {
  const here = dirname(fileURLToPath(import.meta.url));
  const files = readdirSync(here).filter((f) => f.endsWith(".bench.js")).sort();
  const out: BenchCase[] = [];
  for (const f of files) {
    const mod = (await import(pathToFileURL(join(here, f)).href)) as { cases?: BenchCase[] };
    if (!Array.isArray(mod.cases)) throw new Error(`${f} does not export cases: BenchCase[]`);
    out.push(...mod.cases);
  }
  return out;
}

function perOpNs(t: Bench["tasks"][number], ops: number): { ns: number; rme: number; samples: number } {
  const r = t.result;
  if (r.state === "errored") throw r.error;
  if (r.state !== "completed" && r.state !== "aborted-with-statistics") throw new Error(`${t.name}: ${r.state}`);
  return { ns: (r.latency.mean * 1e6) / ops, rme: r.latency.rme, samples: r.latency.samplesCount };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** CPU time of this process in ns (user + system). */
function cpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

/**
 * Run the subject for about ms milliseconds of CPU time; CPU and wall-clock ns per operation.
 * CPU time leaves out the time the thread waited for a CPU, which on a machine shared with
 * other work is most of the wall-clock time (the native side measures its CPU time too).
 */
function modelRound(sub: BenchSubject, ms: number): { cpu: number; wall: number } {
  const ops = sub.opsPerCall ?? 1;
  let n = 0;
  const w0 = process.hrtime.bigint();
  const t0 = cpuNs();
  const limit = ms * 1e6;
  let t = t0;
  do { sub.run(); n += ops; t = cpuNs(); } while (t - t0 < limit);
  return { cpu: (t - t0) / n, wall: Number(process.hrtime.bigint() - w0) / n };
}

export interface MeasureOptions { time: number; roundMs: number; rounds: number; warmupRounds: number }

/** Time one case and its baselines (in whatever isolate this runs in). */
async function measure(c: BenchCase, o: MeasureOptions): Promise<BenchResult> {
  const subject = c.setup();
  const ops = subject.opsPerCall ?? 1;
  if (c.native === undefined) {
    const refs = subject.memoryReferences ? subject.memoryReferences() : null;
    const base = c.baseline ? c.baseline() : referenceBaseline(refs ?? 1, ops);
    const bench = new Bench({ time: o.time, warmupTime: Math.min(200, o.time / 2) });
    bench.add(c.name, subject.run);
    bench.add(`${c.name} [baseline]`, base.run);
    await bench.run();
    const s = perOpNs(bench.tasks[0]!, ops);
    const b = perOpNs(bench.tasks[1]!, base.opsPerCall ?? 1);
    return {
      name: c.name, group: c.group, measures: c.measures, opsPerCall: ops, hostNsPerOp: s.ns, hostRme: s.rme, baselineNsPerOp: b.ns, ratio: s.ns / b.ns,
      nativeNsPerOp: null, nativeRatio: null, nativeNote: "no native twin", rounds: null, spread: null, imageHash: null,
      modelledCycles: subject.modelledCycles ? subject.modelledCycles() : null,
      memoryReferences: subject.memoryReferences ? subject.memoryReferences() : null, samples: s.samples, variantOf: c.variantOf ?? null,
    };
  }
  // ---- a case with a native twin: same image, same answers, then interleaved rounds ----
  const L = subject.layout;
  if (L === undefined || subject.verify === undefined) throw new Error(`${c.name}: a native case's subject needs layout and verify`);
  const hash = imageHash(L.u32, L.dteAddress, L.tableStart, L.tableEnd);
  const hex = (h: number) => h.toString(16).padStart(8, "0");
  let note: string | null = null;
  let proc: NativeProcess | null = null;
  const comp = compileNative();
  if (!comp.ok) note = comp.note;
  else {
    proc = new NativeProcess(comp.binary, c.native, L);
    const img = await proc.image();
    if (img.hash !== hash || img.tableEnd !== L.tableEnd) {
      note = `memory images differ (model ${hex(hash)} end ${L.tableEnd}, native ${hex(img.hash)} end ${img.tableEnd}): not compared`;
    } else {
      const n = Math.min(c.native.span, 8192);
      const mine = subject.verify(n), theirs = await proc.verify(n);
      if (mine !== theirs) note = `answers differ over the first ${n} requests (model ${hex(mine)}, native ${hex(theirs)}): not compared`;
    }
    if (note !== null) { proc.close(); proc = null; }
  }
  const refs0 = subject.memoryReferences ? subject.memoryReferences() : null;
  const base = c.baseline ? c.baseline() : null;
  // warm-up rounds of each (JIT tiers, caches), then the measured rounds, interleaved: three
  // (one when quick), since with V8's inlining limits raised the optimizing compiles of the
  // large translation functions take longer and run on other threads, whose CPU time
  // process.cpuUsage() counts (with one warm-up round, rounds 1-3 were the slow ones in 25 of
  // the 37 rounds over 25 % above their case's median, three runs at e1f484b)
  for (let w = 0; w < o.warmupRounds; w++) {
    modelRound(subject, o.roundMs);
    if (proc !== null) await proc.round(o.roundMs);
  }
  const model: number[] = [], native: number[] = [], ratios: number[] = [], modelWall: number[] = [], nativeWall: number[] = [];
  for (let r = 0; r < o.rounds; r++) {
    const m = modelRound(subject, o.roundMs);
    model.push(m.cpu); modelWall.push(m.wall);
    if (proc !== null) { const nv = await proc.round(o.roundMs); native.push(nv.cpu); nativeWall.push(nv.wall); ratios.push(m.cpu / nv.cpu); }
  }
  if (proc !== null) proc.close();
  const refs = subject.memoryReferences ? subject.memoryReferences() : refs0;
  const reads = base ?? referenceBaseline(refs ?? 1, ops);
  modelRound(reads, o.roundMs / 2);
  const readNs = median([modelRound(reads, o.roundMs / 2).cpu, modelRound(reads, o.roundMs / 2).cpu, modelRound(reads, o.roundMs / 2).cpu]);
  const mMed = median(model);
  const spreadOf = (xs: number[]) => (xs.length === 0 ? 0 : (Math.max(...xs) - Math.min(...xs)) / median(xs));
  const mean = model.reduce((a, b) => a + b, 0) / model.length;
  const sd = Math.sqrt(model.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, model.length - 1));
  return {
    name: c.name, group: c.group, measures: c.measures, opsPerCall: ops, hostNsPerOp: mMed, hostRme: (100 * 1.96 * sd) / Math.sqrt(model.length) / mean,
    baselineNsPerOp: readNs, ratio: mMed / readNs,
    nativeNsPerOp: native.length > 0 ? median(native) : null, nativeRatio: ratios.length > 0 ? median(ratios) : null, nativeNote: note,
    rounds: { model, native, modelWall, nativeWall }, spread: Math.max(spreadOf(model), spreadOf(native)), imageHash: hex(hash),
    modelledCycles: subject.modelledCycles ? subject.modelledCycles() : null, memoryReferences: refs, samples: model.length, variantOf: c.variantOf ?? null,
  };
}

/** measure() in a worker thread of its own: a fresh isolate, so no other case's compiled code or type feedback. */
function measureIsolated(name: string, o: MeasureOptions): Promise<BenchResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: { name, o } });
    let result: BenchResult | null = null;
    w.once("message", (m: { result?: BenchResult; error?: string }) => {
      if (m.error !== undefined) reject(new Error(`${name}: ${m.error}`)); else result = m.result ?? null;
    });
    w.once("error", reject);
    w.once("exit", (code) => (result !== null ? resolve(result) : reject(new Error(`${name}: the worker exited with code ${code} and no result`))));
  });
}

export async function runBenchmarks(o: { quick: boolean; filter?: string; timeMs?: number; rounds?: number; shared?: boolean; log?: (s: string) => void }): Promise<BenchResult[]> {
  const log = o.log ?? ((s: string) => process.stderr.write(s + "\n"));
  const all = await loadCases();
  const cases = all.filter((c) => o.filter === undefined || c.name.includes(o.filter));
  const mo: MeasureOptions = {
    time: o.timeMs ?? (o.quick ? 150 : 1000), roundMs: o.timeMs ?? (o.quick ? 40 : 150), rounds: o.rounds ?? (o.quick ? 3 : 7), warmupRounds: o.quick ? 1 : 3,
  };
  if (cases.some((c) => c.native !== undefined)) {
    const comp = compileNative();
    log(comp.ok ? `native reference: bench/native/iommu_ref.c built with ${comp.compiler} -O2` : `native reference skipped: ${comp.note}`);
  }
  const results: BenchResult[] = [];
  let i = 0;
  for (const c of cases) {
    i++;
    const started = performance.now();
    log(`[${i}/${cases.length}] ${c.name} ...`);
    const res = o.shared ? await measure(c, mo) : await measureIsolated(c.name, mo);
    results.push(res);
    log(`      ${res.hostNsPerOp.toFixed(1)} ns/op` + (res.nativeNsPerOp !== null ? ` (native ${res.nativeNsPerOp.toFixed(1)}, ${res.nativeRatio!.toFixed(2)}x)` : "") +
      ` in ${((performance.now() - started) / 1000).toFixed(1)} s` + (res.nativeNote !== null && res.nativeNote !== "no native twin" ? ` -- ${res.nativeNote}` : ""));
  }
  return results;
}

export function formatTable(rs: BenchResult[]): string {
  const head = ["case", "model ns/op", "±%", "native ns/op", "x native", "reads ns/op", "x reads", "refs/op", "modelled cycles", ""];
  const rows = rs.map((r) => [r.name, r.hostNsPerOp.toFixed(1), r.hostRme.toFixed(1),
    r.nativeNsPerOp === null ? "-" : r.nativeNsPerOp.toFixed(1), r.nativeRatio === null ? "-" : r.nativeRatio.toFixed(2),
    r.baselineNsPerOp.toFixed(1), r.ratio.toFixed(2),
    r.memoryReferences === null ? "-" : r.memoryReferences.toFixed(2), r.modelledCycles === null ? "-" : r.modelledCycles.toFixed(1),
    r.spread !== null && r.spread > DISTURBED_SPREAD ? `disturbed (rounds spread ${(r.spread * 100).toFixed(0)}%)` : ""]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 || i === r.length - 1 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("  ").trimEnd();
  const notes = rs.filter((r) => r.nativeNote !== null && r.nativeNote !== "no native twin").map((r) => `  ${r.name}: ${r.nativeNote}`);
  const legend = rs.map((r) => `  ${r.name}: ${r.measures}${r.nativeNote === "no native twin" ? " (no native twin: baseline = typed-array reads only)" : ""}`);
  const vr = variantRatios(rs);
  const variants = vr.length === 0 ? [] : ["", "timed mode over functional, the same work (model ns over model ns; x native over x native, which cancels a machine that changed speed between the two cases):",
    ...vr.map((v) => `  ${v.name} / ${v.variantOf}: ${v.direct.toFixed(3)}${v.throughNative === null ? "" : `; through native ${v.throughNative.toFixed(3)}`}`)];
  return [line(head), w.map((n) => "-".repeat(n)).join("  "), ...rows.map(line), ...variants, ...(notes.length > 0 ? ["", "native notes:", ...notes] : []),
    "", "one operation of each case (native: bench/native/iommu_ref.c doing the same work on the same tables; reads: as many dependent typed-array reads as its memory references):", ...legend].join("\n");
}

function packageInfo(): { version: string; commit: string | null; dirty: boolean | null } {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(d, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "amd-iommu-v2-model") {
        let commit: string | null = null, dirty: boolean | null = null;
        try {
          commit = execFileSync("git", ["rev-parse", "HEAD"], { cwd: d, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
          dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: d, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() !== "";
        } catch { /* not a git checkout */ }
        return { version: pkg.version ?? "unknown", commit, dirty };
      }
    } catch { /* keep looking upward */ }
    d = dirname(d);
  }
  return { version: "unknown", commit: null, dirty: null };
}

export function environment(quick: boolean, loadBefore: number[], loadAfter: number[]) {
  const c = cpus();
  const pkg = packageInfo();
  const clockHz = resolveTimingProfile(undefined).clockHz;
  const loaded = Math.max(loadBefore[0]!, loadAfter[0]!) > c.length * 0.75;
  return {
    package: "amd-iommu-v2-model", version: pkg.version, commit: pkg.commit, uncommittedChanges: pkg.dirty,
    node: process.version, v8: process.versions.v8, platform: process.platform, arch: process.arch,
    // V8 flags of the run: set when the model is imported (AMD_IOMMU_MODEL_V8_INLINING), and given on node's command line
    v8Flags: [...appliedV8Flags()], execArgv: [...process.execArgv],
    cpuModel: c[0]?.model ?? "unknown", cpus: c.length, totalMemoryBytes: totalmem(), quick, date: new Date().toISOString(),
    loadAverageBefore: loadBefore, loadAverageAfter: loadAfter, machineLoaded: loaded,
    modelledClockHz: clockHz,
    columns: {
      hostNsPerOp: "model host time per operation: CPU time, median of interleaved rounds, for native cases; tinybench wall-clock mean otherwise",
      nativeNsPerOp: "the C reference bench/native/iommu_ref.c (cc -O2) doing the same work on the same tables: CPU time, median of rounds",
      nativeRatio: "model / native, median of per-round ratios",
      variants: "a case over its twin (variantOf: a timed case's functional twin): direct = hostNsPerOp over the twin's; throughNative = nativeRatio over the twin's",
      baselineNsPerOp: "a JavaScript loop of memoryReferences dependent typed-array reads per operation", ratio: "model / baselineNsPerOp",
      modelledCycles: `modelled IOMMU cycles per operation at modelledClockHz (${clockHz} Hz), not host time`,
      spread: "(max - min) / median of the rounds; above 0.25 the case was disturbed",
    },
  };
}

export function reportSvg(rs: BenchResult[], env: ReturnType<typeof environment>): string {
  const cats = rs.map((r) => r.name);
  const nat = rs.filter((r) => r.nativeRatio !== null);
  return svgDocument([
    barChart({ title: `Host time per operation (${env.node}, ${env.cpuModel})`, categories: cats, yLabel: "ns / op (log)", logY: true,
      series: [{ name: "model", values: rs.map((r) => r.hostNsPerOp) }, { name: "native C", values: rs.map((r) => r.nativeNsPerOp) },
        { name: "typed-array reads", values: rs.map((r) => r.baselineNsPerOp) }] }),
    ...(nat.length > 0 ? [barChart({ title: "Model time over native C time (same run)", categories: nat.map((r) => r.name), yLabel: "x native",
      series: [{ name: "model / native", values: nat.map((r) => r.nativeRatio) }] })] : []),
    barChart({ title: `Modelled IOMMU cycles per operation (${env.modelledClockHz / 1e9} GHz model clock)`, categories: cats, yLabel: "cycles (log)", logY: true,
      series: [{ name: "modelled cycles", values: rs.map((r) => r.modelledCycles) }] }),
  ]);
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: "boolean" }, filter: { type: "string" }, json: { type: "string" }, time: { type: "string" }, rounds: { type: "string" },
      shared: { type: "boolean" }, list: { type: "boolean" }, help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) { console.log(HELP); return 0; }
  if (values.list) {
    for (const c of await loadCases()) console.log(`${c.name}\n    ${c.measures}${c.native !== undefined ? " [native twin]" : ""}`);
    return 0;
  }
  const timeMs = values.time === undefined ? undefined : Number(values.time);
  if (timeMs !== undefined && !(timeMs > 0)) throw new RangeError(`--time must be a positive number of ms, got ${values.time}`);
  const rounds = values.rounds === undefined ? undefined : Number(values.rounds);
  if (rounds !== undefined && !(Number.isInteger(rounds) && rounds >= 1)) throw new RangeError(`--rounds must be a positive integer, got ${values.rounds}`);
  const quick = values.quick === true;
  const loadBefore = loadavg();
  const results = await runBenchmarks({ quick, filter: values.filter, timeMs, rounds, shared: values.shared === true });
  const loadAfter = loadavg();
  if (results.length === 0) { console.error(`no benchmark case matches --filter ${values.filter ?? ""}`); return 1; }
  const env = environment(quick, loadBefore, loadAfter);
  console.log(formatTable(results));
  console.log(`\n${env.package} ${env.version} commit ${env.commit ?? "unknown"}${env.uncommittedChanges ? " (+ uncommitted changes)" : ""}; Node ${env.node}; ${env.cpus} x ${env.cpuModel}`);
  console.log(`load average (1/5/15 min) before ${loadBefore.map((x) => x.toFixed(2)).join("/")}, after ${loadAfter.map((x) => x.toFixed(2)).join("/")}`);
  const flags = [...env.v8Flags, ...env.execArgv];
  console.log(flags.length > 0 ? `V8 flags: ${flags.join(" ")}` : "V8 flags: none (V8's default inlining limits)");
  const disturbed = results.filter((r) => r.spread !== null && r.spread > DISTURBED_SPREAD).length;
  if (env.machineLoaded || disturbed > 0) {
    console.log(`WARNING: the run was disturbed (${env.machineLoaded ? "load average above 0.75 per CPU" : ""}${env.machineLoaded && disturbed > 0 ? "; " : ""}${disturbed > 0 ? `${disturbed} case(s) with rounds spread over ${DISTURBED_SPREAD * 100}%` : ""}): absolute ns are inflated; the native ratios, measured in interleaved rounds, are the figures to compare.`);
  }
  console.log(`modelled cycles: cycles of the modelled IOMMU clock (${env.modelledClockHz / 1e9} GHz), not host time`);
  if (values.json !== undefined) {
    mkdirSync(dirname(values.json), { recursive: true });
    writeFileSync(values.json, JSON.stringify({ environment: env, results, variants: variantRatios(results) }, null, 2) + "\n");
    const svg = values.json.replace(/\.json$/i, "") + ".svg";
    writeFileSync(svg, reportSvg(results, env));
    console.log(`\nwrote ${values.json} and ${svg}`);
  }
  return 0;
}

if (!isMainThread && parentPort !== null) {
  // a worker of measureIsolated(): one case, its result posted back
  const { name, o } = workerData as { name: string; o: MeasureOptions };
  const port = parentPort;
  loadCases().then(async (all) => {
    const c = all.find((x) => x.name === name);
    if (c === undefined) throw new Error(`no case named ${name}`);
    port.postMessage({ result: await measure(c, o) });
  }).catch((e: unknown) => port.postMessage({ error: e instanceof Error ? e.stack ?? e.message : String(e) }));
} else if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => { console.error(e instanceof Error ? e.message : String(e)); process.exitCode = 2; });
}
