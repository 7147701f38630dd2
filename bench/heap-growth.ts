/**
 * Heap growth over many translations (`node --expose-gc dist/bench/heap-growth.js [--count N]`):
 * the hot path must not allocate, so the heap after N translations (functional and timed,
 * hits and misses) must be what it was before, give or take the collector's noise.
 */
import { parseArgs } from "node:util";
import { TranslationResult } from "../src/index.js";
import { DEVICE, hostWorkload } from "../src/experiments/workload.js";

const { values } = parseArgs({ options: { count: { type: "string", default: "10000000" }, help: { type: "boolean", short: "h" } } });
if (values.help) {
  console.log("usage: node --expose-gc dist/bench/heap-growth.js [--count N]   (default 10,000,000 translations)");
  process.exit(0);
}
const count = Number(values.count);
if (!Number.isInteger(count) || count < 1) throw new RangeError(`--count must be a positive integer, got ${values.count}`);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) { console.error("run with node --expose-gc"); process.exit(2); }

const w = hostWorkload({ pages: 4096, iommu: { iotlb: { entries: 64 } } });
const out = new TranslationResult();
const req = { deviceId: DEVICE, address: 0, write: false };
const step = (i: number, t: number) => {
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
console.log(`${count} translations in ${(elapsed / 1000).toFixed(1)} s (${((elapsed * 1e6) / count).toFixed(1)} ns each)`);
console.log(`heapUsed before ${before.heapUsed} after ${after.heapUsed}: growth ${growth} bytes (${(growth / count).toFixed(4)} bytes/translation)`);
console.log(`arrayBuffers before ${before.arrayBuffers} after ${after.arrayBuffers}`);
process.exitCode = growth > 1024 * 1024 ? 1 : 0;
