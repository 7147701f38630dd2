/**
 * Heap growth over many translations (`node --expose-gc dist/bench/heap-growth.js [--count N]`):
 * the hot path must not allocate, so the heap after N translations must be what it was
 * before, give or take the collector's noise. The translations rotate over three devices'
 * workloads, v1 (host), guest (PASID, 4-level long mode) and nested (4x4), functional and
 * timed, hits and misses, reads and writes.
 */
import { parseArgs } from "node:util";
import { TranslationResult } from "../src/index.js";
import { DEVICE, type Workload } from "../src/experiments/workload.js";
import { workloadFor } from "./sva-workload.js";

const { values } = parseArgs({ options: { count: { type: "string", default: "10000000" }, help: { type: "boolean", short: "h" } } });
if (values.help) {
  console.log("usage: node --expose-gc dist/bench/heap-growth.js [--count N]   (default 10,000,000 translations)");
  process.exit(0);
}
const count = Number(values.count);
if (!Number.isInteger(count) || count < 1) throw new RangeError(`--count must be a positive integer, got ${values.count}`);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) { console.error("run with node --expose-gc"); process.exit(2); }

const ws: Workload[] = [
  workloadFor({ kind: "v1", pages: 4096, span: 4096, iotlb: [64, 4], pde: [64, 4] }),
  workloadFor({ kind: "guest", pages: 4096, span: 4096, iotlb: [64, 4], pde: [64, 4] }),
  workloadFor({ kind: "nested", pages: 4096, span: 4096, iotlb: [64, 4], pde: [64, 4] }),
];
const out = new TranslationResult();
const reqs = ws.map((w) => (w.pasid === undefined ? { deviceId: DEVICE, address: 0, write: false } : { deviceId: DEVICE, address: 0, pasid: w.pasid, write: false }));
const step = (i: number, t: number) => {
  const k = i % 3;
  const w = ws[k]!, req = reqs[k]!;
  req.address = w.address((i * 2654435761) % (i % 4 === 0 ? 4096 : 32), 8); // 3/4 hits, 1/4 scattered misses
  req.write = (i & 7) === 0;
  if ((i & 1) === 0) w.io.translateInto(req, out); else w.io.translateTimed(req, t, out);
};
for (let i = 0; i < 200_000; i++) step(i, i * 10); // warm up the JIT and the caches
gc(); gc();
const before = process.memoryUsage();
const t0 = performance.now();
let last = 0;
for (let i = 0; i < count; i++) {
  step(i, 2_000_000 + i * 10);
  if (i - last >= 1_000_000) { last = i; process.stderr.write(`  ${(i / 1e6).toFixed(0)} M translations\n`); }
}
const elapsed = performance.now() - t0;
gc(); gc();
const after = process.memoryUsage();
const growth = after.heapUsed - before.heapUsed;
console.log(`${count} translations (v1, guest and nested in turn) in ${(elapsed / 1000).toFixed(1)} s (${((elapsed * 1e6) / count).toFixed(1)} ns each)`);
console.log(`heapUsed before ${before.heapUsed} after ${after.heapUsed}: growth ${growth} bytes (${(growth / count).toFixed(4)} bytes/translation)`);
console.log(`arrayBuffers before ${before.arrayBuffers} after ${after.arrayBuffers}`);
process.exitCode = growth > 1024 * 1024 ? 1 : 0;
