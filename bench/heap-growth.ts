/**
 * Allocation and heap growth over many translations (`node --expose-gc dist/bench/heap-growth.js
 * [--count N]`). The hot path must not allocate: V8's sampling heap profiler, counting objects
 * the collector has already freed too, estimates the bytes allocated per translation (a
 * double passed to, or returned from, a call V8 did not inline is a heap number: 16 bytes a
 * call), and the heap after N translations must be what it was before, give or take the
 * collector's noise. The translations rotate over six devices' workloads: v1 (host), guest
 * (PASID, 4-level long mode) and nested (4x4), each at an address whose low word is small and
 * at one whose low word is above 2^31 (a number V8 cannot keep as a small integer), functional
 * and timed, hits and misses, reads and writes; then timed translations alone are sampled too (in
 * the mix, timed walks are 1 in 8 translations). Either above 0.5 bytes per translation exits 1.
 */
import { Session } from "node:inspector/promises";
import { parseArgs } from "node:util";
import { TranslationResult } from "../src/index.js";
import { DEVICE, GVA_BASE, IOVA_BASE, hostWorkload, nestedWorkload, type Workload } from "../src/experiments/workload.js";
import { guestWorkload, workloadFor } from "./sva-workload.js";

const { values } = parseArgs({ options: { count: { type: "string", default: "10000000" }, help: { type: "boolean", short: "h" } } });
if (values.help) {
  console.log("usage: node --expose-gc dist/bench/heap-growth.js [--count N]   (default 10,000,000 translations)");
  process.exit(0);
}
const count = Number(values.count);
if (!Number.isInteger(count) || count < 1) throw new RangeError(`--count must be a positive integer, got ${values.count}`);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) { console.error("run with node --expose-gc"); process.exit(2); }

const caches = { iotlb: { entries: 64, ways: 4 }, pdeCache: { entries: 64, ways: 4 } };
const HIGH_LOW_WORD = 0xc000_0000; // page 0's address has bits 31 and 30 set in its low word
const ws: Workload[] = [
  workloadFor({ kind: "v1", pages: 4096, span: 4096, iotlb: [64, 4], pde: [64, 4] }),
  workloadFor({ kind: "guest", pages: 4096, span: 4096, iotlb: [64, 4], pde: [64, 4] }),
  workloadFor({ kind: "nested", pages: 4096, span: 4096, iotlb: [64, 4], pde: [64, 4] }),
  hostWorkload({ pages: 4096, iommu: caches, base: IOVA_BASE + HIGH_LOW_WORD }),
  guestWorkload({ pages: 4096, levels: 4, giov: false, fresh: false, iommu: caches, base: GVA_BASE + HIGH_LOW_WORD }),
  nestedWorkload({ pages: 4096, iommu: caches, base: GVA_BASE + HIGH_LOW_WORD }),
];
const out = new TranslationResult();
const reqs = ws.map((w) => (w.pasid === undefined ? { deviceId: DEVICE, address: 0, write: false } : { deviceId: DEVICE, address: 0, pasid: w.pasid, write: false }));
/** Request i's device (returned: a small integer) and its address and direction in reqs: 3/4 hits, 1/4 scattered misses, 1 in 8 writes. */
const prepare = (i: number): number => {
  const k = i % ws.length;
  const req = reqs[k]!;
  req.address = ws[k]!.address((i * 2654435761) % (i % 4 === 0 ? 4096 : 32), 8);
  req.write = (i & 7) === 0;
  return k;
};
const step = (i: number, t: number) => {
  const k = prepare(i);
  if ((i & 1) === 0) ws[k]!.io.translateInto(reqs[k]!, out); else ws[k]!.io.translateTimed(reqs[k]!, t, out);
};
/**
 * step() in timed mode only (in the mix above, timed walks are 1 in 8 translations), at issue
 * cycles above 2^31, as in any simulation past 2.1 s of a 1 GHz clock: V8 keeps such a number as
 * a double. The cycle is TIMED_BASE plus `t` (a small integer) computed here, as a simulator's
 * loop would, so that the harness hands no double to a call of its own.
 */
const TIMED_BASE = 8_000_000_000;
const timedStep = (i: number, t: number) => {
  const k = prepare(i);
  const io = ws[k]!.io;
  io.timedIssue[0] = TIMED_BASE + t;
  io.translateTimedAt(reqs[k]!, out);
};
for (let i = 0; i < 600_000; i++) step(i, i * 10); // warm up the JIT and the caches
for (let i = 0; i < 300_000; i++) timedStep(i, 300_000_000 + i * 10);
gc(); gc();
// heap growth: N translations, collections before and after
const before = process.memoryUsage();
const t0 = performance.now();
let last = 0;
for (let i = 0; i < count; i++) {
  step(i, 6_000_000 + i * 10);
  if (i - last >= 1_000_000) { last = i; process.stderr.write(`  ${(i / 1e6).toFixed(0)} M translations\n`); }
}
const elapsed = performance.now() - t0;
gc(); gc();
const after = process.memoryUsage();
const growth = after.heapUsed - before.heapUsed;
// allocation: another N / 10 translations under V8's sampling heap profiler (one sample per
// 256 bytes on average), counting the objects a scavenge or a full collection freed too (a
// separate run: the profiler's own samples take heap)
const sampled = Math.max(1, Math.floor(count / 10));
interface SampleNode { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: SampleNode[] }
/** Bytes allocated (sampled) over n calls of fn, and the five largest sites. */
async function sampleAllocation(fn: (i: number, t: number) => void, n: number, t0: number): Promise<{ perTranslation: number; allocated: number; sites: [string, number][] }> {
  const session = new Session();
  session.connect();
  await session.post("HeapProfiler.startSampling", { samplingInterval: 256, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true });
  for (let i = 0; i < n; i++) fn(i, t0 + i * 10);
  const { profile } = await session.post("HeapProfiler.stopSampling");
  session.disconnect();
  const sites = new Map<string, number>();
  let allocated = 0;
  const visit = (node: SampleNode, at: string) => {
    const f = node.callFrame;
    const here = f.url === "" ? at : `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*\/dist\//, "")}:${f.lineNumber + 1}`;
    if (node.selfSize > 0) { allocated += node.selfSize; sites.set(here, (sites.get(here) ?? 0) + node.selfSize); }
    for (const c of node.children) visit(c, here);
  };
  visit(profile.head as SampleNode, "(root)");
  return { perTranslation: allocated / n, allocated, sites: [...sites].sort((a, b) => b[1] - a[1]).slice(0, 5) };
}
const mixed = await sampleAllocation(step, sampled, 200_000_000);
const timed = await sampleAllocation(timedStep, sampled, 400_000_000);
const perTranslation = mixed.perTranslation;
console.log(`${count} translations (v1, guest and nested, low and high address words, in turn) in ${(elapsed / 1000).toFixed(1)} s (${((elapsed * 1e6) / count).toFixed(1)} ns each)`);
console.log(`allocated over ${sampled} more (sampled): ${mixed.allocated} bytes, ${perTranslation.toFixed(4)} bytes/translation`);
for (const [site, bytes] of mixed.sites) console.log(`  ${bytes} bytes at ${site}`);
console.log(`timed only, over ${sampled} more (sampled): ${timed.allocated} bytes, ${timed.perTranslation.toFixed(4)} bytes/translation`);
for (const [site, bytes] of timed.sites) console.log(`  ${bytes} bytes at ${site}`);
console.log(`heapUsed before ${before.heapUsed} after ${after.heapUsed}: growth ${growth} bytes (${(growth / count).toFixed(4)} bytes/translation)`);
console.log(`arrayBuffers before ${before.arrayBuffers} after ${after.arrayBuffers}`);
// (a translation path that allocates makes 16 bytes or more per call; the profiler's own
// bookkeeping and the JIT's late tier-ups stay far below one byte per translation)
const failures = [
  growth > 1024 * 1024 ? "the heap grew by more than 1 MiB" : "",
  perTranslation > 0.5 ? "the mixed translations allocate" : "",
  timed.perTranslation > 0.5 ? "timed translations allocate" : "",
].filter((f) => f !== "");
for (const f of failures) console.log(`FAIL: ${f} (README "Allocation")`);
process.exitCode = failures.length > 0 ? 1 : 0;
