/** Measure bench/commands.bench.ts with tinybench (node dist/bench/commands.measure.js). */
import { Bench } from "tinybench";
import { cases } from "./commands.bench.js";

const bench = new Bench({ time: Number(process.env.BENCH_MS ?? 1500), warmupTime: 300 });
const ops = new Map<string, number>();
for (const c of cases) {
  const s = c.setup();
  ops.set(c.name, s.opsPerCall ?? 1);
  bench.add(c.name, s.run);
}
await bench.run();
for (const t of bench.tasks) {
  const r = t.result as unknown as { latency: { mean: number; p99?: number }; throughput: { mean: number } };
  const n = ops.get(t.name)!;
  const perOpNs = (r.latency.mean * 1e6) / n;
  console.log(`${t.name}: ${perOpNs.toFixed(1)} ns/op, ${(1e9 / perOpNs / 1e6).toFixed(3)} M ops/s`);
}
