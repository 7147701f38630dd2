/**
 * The benchmark runner (`npm run bench -- [--quick] [--filter TEXT] [--json FILE] [--shared]`).
 *
 * Imports every bench/*.bench.ts (each exports `cases: BenchCase[]`), times each case and its
 * same-run baseline (plain typed-array reads doing the same number of memory references per
 * operation) with tinybench, and prints host ns/op, baseline ns/op, their ratio and the
 * modelled IOMMU cycles per operation. --json writes the results with the environment (Node
 * version, CPU model) and an SVG report (host time and modelled cycles per case) beside it.
 *
 * Each case runs in a worker thread of its own (a fresh V8 isolate), as JMH forks a JVM per
 * benchmark: code the JIT compiled and the type feedback it gathered for the cases before
 * would otherwise shape the code the next case runs ("profile pollution": a miss measured
 * after hit, PDE-cache and timed cases ran through the same functions is slower than the
 * same miss measured alone). --shared runs every case in this process instead.
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { Bench } from "tinybench";
import type { BenchCase, BenchSubject } from "./bench-case.js";
import { barChart, svgDocument } from "../src/report/svg-chart.js";

export interface BenchResult {
  name: string; group: string; opsPerCall: number;
  hostNsPerOp: number; hostRme: number; baselineNsPerOp: number; ratio: number;
  modelledCycles: number | null; memoryReferences: number | null; samples: number;
}

const HELP = `usage: npm run bench -- [options]
  --quick          CI-sized run (short timing windows)
  --filter TEXT    only cases whose name contains TEXT
  --json FILE      write results + environment to FILE and an SVG report next to it
  --time MS        timing window per task in ms (default 1000, quick 150)
  --shared         run every case in this process (default: each case in a worker thread of its own)
  -h, --help       this text`;

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

/** Time one case and its baseline with tinybench (in whatever isolate this runs in). */
async function measure(c: BenchCase, time: number): Promise<BenchResult> {
  const subject = c.setup();
  const ops = subject.opsPerCall ?? 1;
  const refs = subject.memoryReferences ? subject.memoryReferences() : null;
  const base = c.baseline ? c.baseline() : referenceBaseline(refs ?? 1, ops);
  const bench = new Bench({ time, warmupTime: Math.min(200, time / 2) });
  bench.add(c.name, subject.run);
  bench.add(`${c.name} [baseline]`, base.run);
  await bench.run();
  const s = perOpNs(bench.tasks[0]!, ops);
  const b = perOpNs(bench.tasks[1]!, base.opsPerCall ?? 1);
  return {
    name: c.name, group: c.group, opsPerCall: ops, hostNsPerOp: s.ns, hostRme: s.rme, baselineNsPerOp: b.ns, ratio: s.ns / b.ns,
    modelledCycles: subject.modelledCycles ? subject.modelledCycles() : null,
    memoryReferences: subject.memoryReferences ? subject.memoryReferences() : null, samples: s.samples,
  };
}

/** measure() in a worker thread of its own: a fresh isolate, so no other case's compiled code or type feedback. */
function measureIsolated(name: string, time: number): Promise<BenchResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: { name, time } });
    let result: BenchResult | null = null;
    w.once("message", (m: { result?: BenchResult; error?: string }) => {
      if (m.error !== undefined) reject(new Error(`${name}: ${m.error}`)); else result = m.result ?? null;
    });
    w.once("error", reject);
    w.once("exit", (code) => (result !== null ? resolve(result) : reject(new Error(`${name}: the worker exited with code ${code} and no result`))));
  });
}

export async function runBenchmarks(o: { quick: boolean; filter?: string; timeMs?: number; shared?: boolean; log?: (s: string) => void }): Promise<BenchResult[]> {
  const log = o.log ?? ((s: string) => process.stderr.write(s + "\n"));
  const all = await loadCases();
  const cases = all.filter((c) => o.filter === undefined || c.name.includes(o.filter));
  const time = o.timeMs ?? (o.quick ? 150 : 1000);
  const results: BenchResult[] = [];
  let i = 0;
  for (const c of cases) {
    i++;
    const started = performance.now();
    log(`[${i}/${cases.length}] ${c.name} ...`);
    const res = o.shared ? await measure(c, time) : await measureIsolated(c.name, time);
    results.push(res);
    log(`      ${res.hostNsPerOp.toFixed(1)} ns/op (baseline ${res.baselineNsPerOp.toFixed(1)}) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  return results;
}

export function formatTable(rs: BenchResult[]): string {
  const head = ["case", "host ns/op", "±%", "baseline ns/op", "ratio", "refs/op", "modelled cycles"];
  const rows = rs.map((r) => [r.name, r.hostNsPerOp.toFixed(1), r.hostRme.toFixed(1), r.baselineNsPerOp.toFixed(1), r.ratio.toFixed(2),
    r.memoryReferences === null ? "-" : r.memoryReferences.toFixed(2), r.modelledCycles === null ? "-" : r.modelledCycles.toFixed(1)]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("  ");
  return [line(head), w.map((n) => "-".repeat(n)).join("  "), ...rows.map(line)].join("\n");
}

export function environment(quick: boolean) {
  const c = cpus();
  return {
    node: process.version, v8: process.versions.v8, platform: process.platform, arch: process.arch,
    cpuModel: c[0]?.model ?? "unknown", cpus: c.length, totalMemoryBytes: totalmem(), quick, date: new Date().toISOString(),
  };
}

export function reportSvg(rs: BenchResult[], env: ReturnType<typeof environment>): string {
  const cats = rs.map((r) => r.name);
  return svgDocument([
    barChart({ title: `Host time per operation (${env.node}, ${env.cpuModel})`, categories: cats, yLabel: "ns / op (log)", logY: true,
      series: [{ name: "model", values: rs.map((r) => r.hostNsPerOp) }, { name: "baseline", values: rs.map((r) => r.baselineNsPerOp) }] }),
    barChart({ title: "Modelled IOMMU cycles per operation", categories: cats, yLabel: "cycles (log)", logY: true,
      series: [{ name: "modelled cycles", values: rs.map((r) => r.modelledCycles) }] }),
  ]);
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: "boolean" }, filter: { type: "string" }, json: { type: "string" }, time: { type: "string" }, shared: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) { console.log(HELP); return 0; }
  const timeMs = values.time === undefined ? undefined : Number(values.time);
  if (timeMs !== undefined && !(timeMs > 0)) throw new RangeError(`--time must be a positive number of ms, got ${values.time}`);
  const quick = values.quick === true;
  const results = await runBenchmarks({ quick, filter: values.filter, timeMs, shared: values.shared === true });
  if (results.length === 0) { console.error(`no benchmark case matches --filter ${values.filter ?? ""}`); return 1; }
  console.log(formatTable(results));
  if (values.json !== undefined) {
    const env = environment(quick);
    mkdirSync(dirname(values.json), { recursive: true });
    writeFileSync(values.json, JSON.stringify({ environment: env, results }, null, 2) + "\n");
    const svg = values.json.replace(/\.json$/i, "") + ".svg";
    writeFileSync(svg, reportSvg(results, env));
    console.log(`\nwrote ${values.json} and ${svg}`);
  }
  return 0;
}

if (!isMainThread && parentPort !== null) {
  // a worker of measureIsolated(): one case, its result posted back
  const { name, time } = workerData as { name: string; time: number };
  const port = parentPort;
  loadCases().then(async (all) => {
    const c = all.find((x) => x.name === name);
    if (c === undefined) throw new Error(`no case named ${name}`);
    port.postMessage({ result: await measure(c, time) });
  }).catch((e: unknown) => port.postMessage({ error: e instanceof Error ? e.stack ?? e.message : String(e) }));
} else if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => { console.error(e instanceof Error ? e.message : String(e)); process.exitCode = 2; });
}
