/**
 * Experiment 5 (anchors section 3.7, rows A5/A6, A10, B12-B16): the cost of invalidating N
 * pages as N single-page INVALIDATE_IOMMU_PAGES, as one ranged command (S = 1), or as one
 * all-pages flush, each followed by COMPLETION_WAIT, from the doorbell to the semaphore
 * store, with a full IOTLB. The host view adds Linux's completion polling (udelay(1) per
 * check, A13). Published: one-page and whole-TLB invalidations cost about the same end to
 * end (4.2 vs 4.4 us with a GPU ATC, A5/A6); invalidate + wait seen by the host 0.8-2 us
 * without a device ATC (B12, B15, B16); per-page notification costs N times a ranged one.
 * Last, the flush cost of the RFC scenario (src/scenarios) per notifier policy on its munmap
 * workload: host cycles spent flushing and commands issued.
 */
import type { EndpointPort } from "../iommu/endpoint-port.js";
import { TranslationResult } from "../iommu/translation/request.js";
import { buildCompletionWait, buildInvalidateIommuPages, buildInvalidateIotlbPages, encodeInvalidationRange, ALL_PAGES_ADDRESS } from "../spec/commands.js";
import { barChart, lineChart, svgDocument } from "../report/svg-chart.js";
import { runAllPolicies, type RaceSummary } from "../scenarios/race-scenario.js";
import { check, type Experiment, type ExperimentOptions, type ExperimentReport } from "./experiment.js";
import { CommandRing, DEVICE, DOMAIN, hostWorkload, type Workload } from "./workload.js";

const COUNTS = [1, 2, 8, 64, 512];

/** Cycles from the doorbell to the end of the trailing COMPLETION_WAIT. */
function cost(w: Workload, ring: CommandRing, cmds: Uint32Array[]): number {
  const io = w.io;
  const out = new TranslationResult();
  let t = io.runUntilIdle();
  for (let p = 0; p < 64; p++) { io.translateTimed({ deviceId: DEVICE, address: w.address(p) }, t, out); t = out.completionCycle; } // a full IOTLB
  io.advanceTo(io.timingModel.inFlightUntil + 1);
  ring.alignToLine();
  const start = io.now;
  const all = [...cmds, buildCompletionWait({ store: true, address: w.tb.semaphore, data: 1n })];
  // a driver waits for ring space: chunks of what fits, each run before the next is written
  for (let i = 0; i < all.length; i += ring.capacity) { ring.submit(...all.slice(i, i + ring.capacity)); io.runUntilIdle(); }
  return io.now - start;
}

/** Linux polls the completion semaphore once, then after every udelay(1) (A13). */
const hostObserved = (cycles: number, clockHz: number): number => Math.ceil((cycles / clockHz) * 1e6) ;

export const invalidationCost: Experiment = {
  name: "invalidation-cost",
  title: "Invalidation cost per page: per-page commands, one ranged command, a full flush",
  run(o: ExperimentOptions = {}): ExperimentReport {
    const timing = o.timing === undefined ? {} : { timing: o.timing };
    const w = hostWorkload({ pages: 4096, iommu: { ...timing } });
    const io = w.io;
    const p = io.timing;
    const ring = new CommandRing(w.tb);
    const us = (c: number) => (c / p.clockHz) * 1e6;
    const page = (i: number) => buildInvalidateIommuPages({ domainId: DOMAIN, pde: true, address: w.address(i) });
    const rows: (string | number)[][] = [];
    const perPage: [number, number][] = [], ranged: [number, number][] = [], full: [number, number][] = [];
    for (const n of o.quick ? [1, 8, 512] : COUNTS) {
      const a = cost(w, ring, Array.from({ length: n }, (_, i) => page(i)));
      const r = encodeInvalidationRange(BigInt(w.address(0)), BigInt(n * 4096));
      const b = cost(w, ring, [buildInvalidateIommuPages({ domainId: DOMAIN, pde: true, s: r.s, address: r.address })]);
      const c = cost(w, ring, [buildInvalidateIommuPages({ domainId: DOMAIN, pde: true, s: true, address: ALL_PAGES_ADDRESS })]);
      perPage.push([n, us(a) / n]); ranged.push([n, us(b) / n]); full.push([n, us(c) / n]);
      rows.push([n, us(a), us(b), us(c), us(a) / n, us(b) / n, us(c) / n]);
    }
    // one page with a device ATC behind it: INVALIDATE_IOTLB_PAGES, answered after the profile's device time
    const ep: EndpointPort = { atsInvalidate: () => p.atsInvalidationDevice, prgResponse: () => {} };
    io.attachEndpoint(DEVICE, ep);
    const atc = cost(w, ring, [page(0), buildInvalidateIotlbPages({ deviceId: DEVICE, address: w.address(0) })]);
    const one = rows[0]!;
    const checks = [
      check("page + COMPLETION_WAIT seen by the host (1 us polling), us", hostObserved(Number(one[1]) * p.clockHz / 1e6, p.clockHz), 0.8, 2, "B12, B15, B16"),
      check("page + device ATC + COMPLETION_WAIT seen by the host, us", hostObserved(atc, p.clockHz), 1, 4.4, "A5/A6, anchors section 2"),
      check("full flush / single page cost", Number(one[3]) / Number(one[1]), 0.9, 1.5, "A5/A6 (4.4 vs 4.2 us)"),
      check("ranged command over 512 pages / single page", ranged[ranged.length - 1]![1] * 512 / Number(one[2]), 0.9, 1.5, "A10, anchors 3.7 (ranged ~1x)"),
      check("per-page commands, cost of 512 pages / cost of one", perPage[perPage.length - 1]![1] * 512 / perPage[0]![1], 128, 1024, "anchors 3.7 (~N x)"),
    ];
    rows.push(["1 + ATC", us(atc), "", "", us(atc), "", ""]);
    // the RFC scenario: flush cost per notifier policy (munmap workload, both device kinds)
    const policies: RaceSummary[] = runAllPolicies({ workload: "munmap", seed: o.seed ?? 1, operations: o.quick ? 8 : 24 });
    for (const r of policies) rows.push([`policy ${r.policy}`, us(r.flushCycles), `${r.commands} commands`, "", "", "", ""]);
    const byName = new Map(policies.map((r) => [r.policy, r]));
    checks.push(check("secondary-tlbs / invalidate-range host flush cycles (one wait per CPU flush, no second flush at range end)",
      byName.get("secondary-tlbs")!.flushCycles / Math.max(1, byName.get("invalidate-range")!.flushCycles), 0, 1, "ARCHITECTURE.md section 7, cmd digest 5.d"));
    const svg = svgDocument([lineChart({
      title: "Invalidation cost per page (doorbell to COMPLETION_WAIT store)", xLabel: "pages invalidated (log)", yLabel: "us per page (log)", logX: true, logY: true,
      series: [{ name: "one command per page", points: perPage }, { name: "one ranged command", points: ranged }, { name: "full flush", points: full }],
    }), barChart({
      title: "RFC scenario, munmap: host flush time per notifier policy", categories: policies.map((r) => r.policy),
      series: [{ name: "flush us", values: policies.map((r) => us(r.flushCycles)) }], yLabel: "us", width: 720, height: 420,
    })]);
    return {
      name: this.name, title: this.title,
      method: "64-entry IOTLB filled before each run; commands written to the ring with one doorbell; cost = end of the trailing COMPLETION_WAIT minus the doorbell cycle. Host view: polled at 1 us. Policies: the RFC scenario's munmap workload, flush cycles on the host clock.",
      columns: ["pages", "per-page total (us)", "ranged total (us)", "full flush (us)", "per-page /page", "ranged /page", "full /page"], rows, checks, svg,
      data: { perPage, ranged, full, atcCycles: atc, policies },
    };
  },
};
