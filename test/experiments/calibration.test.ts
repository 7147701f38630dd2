/**
 * The calibration experiments reproduce the published shapes (anchors.md section 3) and each
 * default lands inside the band the anchors give.
 */
import { describe, expect, it } from "vitest";
import { iotlbReach } from "../../src/experiments/iotlb-reach.js";
import { hitRate } from "../../src/experiments/hit-rate.js";
import { walkers, missThroughput } from "../../src/experiments/walkers.js";
import { invalidationCost } from "../../src/experiments/invalidation-cost.js";
import { refsPerWalk } from "../../src/experiments/refs-per-walk.js";
import { pprLatency } from "../../src/experiments/ppr-latency.js";
import { resolveTimingProfile } from "../../src/iommu/timing-profile.js";
import type { ExperimentReport } from "../../src/experiments/experiment.js";

const failed = (r: ExperimentReport) => r.checks.filter((c) => !c.ok).map((c) => `${c.what}: ${c.model} not in ${c.low}..${c.high}`);

describe("experiment iotlb-reach: the IOTLB reach knee", () => {
  const r = iotlbReach.run({ quick: true });
  const kib = r.data.windowsKiB as number[];
  const l4 = r.data.latency4k as number[], l2 = r.data.latency2m as number[];
  it("every default lands in its published band", () => { expect(failed(r)).toEqual([]); });
  it("4 KiB pages: flat while the window fits the IOTLB (64 x 4 KiB), then a step of a few hundred ns", () => {
    const reach = 64 * 4;
    const inside = l4.filter((_, i) => kib[i]! <= reach), outside = l4.filter((_, i) => kib[i]! >= 4 * reach);
    expect(Math.max(...inside) - Math.min(...inside)).toBeLessThan(1);
    expect(Math.min(...outside) - l4[0]!).toBeGreaterThan(150);
    expect(Math.max(...outside) - l4[0]!).toBeLessThan(400);
  });
  it("4 KiB pages: latency never falls as the window grows", () => {
    for (let i = 1; i < l4.length; i++) expect(l4[i]!).toBeGreaterThanOrEqual(l4[i - 1]! - 2);
  });
  it("2 MiB pages: flat to 64 MiB", () => { expect(Math.max(...l2) - Math.min(...l2)).toBeLessThan(1); });
  it("writes a table with the published figure and an SVG chart", () => {
    expect(r.columns).toContain("published added (ns, B4)");
    expect(r.svg).toMatch(/^<\?xml[\s\S]*<svg[\s\S]*polyline/);
  });
});

describe("experiment hit-rate: added latency is a line in the hit rate", () => {
  const r = hitRate.run({ quick: true });
  const warm = r.data.pdeWarm as [number, number][], cold = r.data.noPde as [number, number][];
  it("every default lands in its published band", () => { expect(failed(r)).toEqual([]); });
  it("latency falls as the hit rate rises, and faster without page-directory caches", () => {
    for (let i = 1; i < warm.length; i++) expect(warm[i]![1]).toBeLessThanOrEqual(warm[i - 1]![1] + 2);
    expect(cold[0]![1] - cold[cold.length - 1]![1]).toBeGreaterThan(warm[0]![1] - warm[warm.length - 1]![1]);
  });
});

describe("experiment walkers: miss throughput saturates with the walkers", () => {
  const r = walkers.run({ quick: true });
  const sweep = r.data.walkerSweep as [number, number][], offered = r.data.offeredLoad as [number, number][];
  it("every default lands in its published band", () => { expect(failed(r)).toEqual([]); });
  it("throughput grows with the number of walkers", () => {
    for (let i = 1; i < sweep.length; i++) expect(sweep[i]![1]).toBeGreaterThan(sweep[i - 1]![1]);
  });
  it("below the ceiling the offered rate is served; above it, throughput stays at the ceiling", () => {
    const ceiling = r.data.ceiling as number;
    for (const [off, got] of offered) expect(got).toBeCloseTo(Math.min(off, ceiling), 0);
  });
  it("one walker serves one walk at a time: its throughput is the inverse of a PDE-warm walk", () => {
    const one = missThroughput(undefined, 1, 1, 2000, 9).perSecond;
    expect(one).toBeGreaterThan(1e9 / 300);
    expect(one).toBeLessThan(1e9 / 200);
  });
});

describe("experiment invalidation-cost", () => {
  const r = invalidationCost.run({ quick: true });
  it("every default lands in its published band", () => { expect(failed(r)).toEqual([]); });
  it("per-page commands cost N times one; a ranged command and a full flush cost about one", () => {
    const per = r.data.perPage as [number, number][], rng = r.data.ranged as [number, number][], full = r.data.full as [number, number][];
    const total = (s: [number, number][], i: number) => s[i]![0] * s[i]![1];
    const last = per.length - 1;
    expect(total(per, last) / total(per, 0)).toBeGreaterThan(per[last]![0] / 4);
    expect(total(rng, last) / total(rng, 0)).toBeLessThan(1.5);
    expect(total(full, last) / total(full, 0)).toBeLessThan(1.5);
  });
  it("the RFC scenario's flush cost is reported per policy: none spends nothing, secondary-tlbs less than invalidate-range", () => {
    const pol = new Map((r.data.policies as { policy: string; flushCycles: number; commands: number }[]).map((x) => [x.policy, x]));
    expect([...pol.keys()]).toEqual(["none", "start-end", "empty-table", "invalidate-range", "invalidate-range-fast-mode", "secondary-tlbs"]);
    expect(pol.get("none")!.flushCycles).toBe(0);
    expect(pol.get("secondary-tlbs")!.flushCycles).toBeLessThan(pol.get("invalidate-range")!.flushCycles);
    expect(r.svg).toContain("notifier policy");
  });
});

describe("experiment refs-per-walk", () => {
  const r = refsPerWalk.run({ quick: true });
  it("4, 5 and 24 references cold; about 2 streaming with warm page-directory caches", () => {
    expect(failed(r)).toEqual([]);
    expect((r.data.fourLevel as { refs: number }).refs).toBe(4);
    expect((r.data.nested as { refs: number }).refs).toBe(24);
  });
});

describe("experiment ppr-latency: fault latency against outstanding faults", () => {
  const r = pprLatency.run({ quick: true });
  const runs = r.data.runs as { n: number; meanCycles: number; maxCycles: number }[];
  it("every default lands in its published band (about 5 us alone, towards 140 us under many)", () => { expect(failed(r)).toEqual([]); });
  it("mean latency rises with the number of outstanding faults (one serializing host worker)", () => {
    for (let i = 1; i < runs.length; i++) expect(runs[i]!.meanCycles).toBeGreaterThan(runs[i - 1]!.meanCycles);
    const p = resolveTimingProfile(undefined);
    const last = runs[runs.length - 1]!;
    const serial = (last.n - 1) * (p.hostPprDispatch + p.hostFaultMinor); // the last fault waits for every other one
    expect((last.maxCycles - runs[0]!.maxCycles) / serial).toBeGreaterThan(0.98);
    expect((last.maxCycles - runs[0]!.maxCycles) / serial).toBeLessThan(1.02);
  });
});
