/**
 * Written traces keep the Trace Event Format rules Perfetto's importer checks
 * (test/timing/trace-format.ts lists them): overlapping work on slot tracks, whole-ns
 * timestamps, monotonic time, nesting per track, flows from a translation to its walk and to
 * the invalidation command that removed its IOTLB entry.
 */
import { describe, expect, it } from "vitest";
import { buildInvalidateIommuAll, buildInvalidateIommuPages } from "../../src/spec/commands.js";
import { PID_DEVICES, PID_IOMMU, TID_COMMANDS, deviceTid, type TraceEvent } from "../../src/iommu/timing/trace-recorder.js";
import { DEV, IOVA, timingRig } from "./rig.js";
import { checkTrace } from "./trace-format.js";

/** 32 misses issued together on one device (three walkers: many in flight), hits, two invalidations. */
function busyTrace(clockHz?: number) {
  const { tb } = timingRig(64, { timing: { walkers: 3, ...(clockHz === undefined ? {} : { clockHz }) } });
  const io = tb.iommu;
  io.startTrace();
  const t0 = io.now + 7;
  for (let i = 0; i < 32; i++) io.translateTimed({ deviceId: DEV, address: IOVA + i * 4096 }, t0 + (i % 3));
  const later = io.translationsInFlightUntil() + 13;
  for (let i = 0; i < 8; i++) io.translateTimed({ deviceId: DEV, address: IOVA + i * 4096 + 8 }, later + i);
  io.advanceTo(later + 100);
  tb.sync(buildInvalidateIommuPages({ domainId: 1, address: IOVA + 2 * 4096 }));
  io.translate({ deviceId: DEV, address: IOVA + 40 * 4096 }); // an untimed call (laid at the IOMMU clock)
  io.advanceTo(io.now + 1000);
  tb.sync(buildInvalidateIommuAll());
  return io.stopTrace();
}

describe("trace event format (what Perfetto's importer checks)", () => {
  it("keeps every rule with 32 translations in flight on one device, at 1 GHz and at 1.5 GHz", () => {
    for (const hz of [undefined, 1.5e9]) {
      const doc = busyTrace(hz);
      const text = JSON.stringify(doc);
      const c = checkTrace(text);
      expect(c.errors).toEqual([]);
      expect(c.counts.complete).toBeGreaterThan(40);
      // the overlapping translations went onto several slot tracks of the one device
      const devTracks = new Set(doc.traceEvents.filter((e) => e.cat === "translation").map((e) => e.tid));
      expect(devTracks.size).toBeGreaterThan(5);
      expect(devTracks.has(deviceTid(DEV, 0))).toBe(true);
    }
  });

  it("writes whole nanoseconds: ts * 1000 is an integer and prints with at most three decimals", () => {
    const doc = busyTrace(1.5e9); // 2/3 ns per cycle: cycle counts are not whole ns
    for (const e of doc.traceEvents.filter((x) => x.ph !== "M")) {
      expect(Number.isInteger(Math.round(e.ts * 1000))).toBe(true);
      expect(String(e.ts)).toMatch(/^\d+(\.\d{1,3})?$/);
      if (e.dur !== undefined) expect(String(e.dur)).toMatch(/^\d+(\.\d{1,3})?$/);
    }
    expect("displayTimeUnit" in doc).toBe(false);
  });

  it("binds each walked translation to its walk with a flow (bind_id, out on the translation, in on the walk)", () => {
    const doc = busyTrace();
    const tr = doc.traceEvents.filter((e) => e.cat === "translation" && e.bind_id !== undefined);
    const walks = doc.traceEvents.filter((e) => e.cat === "walk");
    expect(tr.length).toBe(32);
    expect(walks.length).toBe(32);
    for (const t of tr) {
      expect(t.flow_out).toBe(true);
      const w = walks.find((x) => x.bind_id === t.bind_id)!;
      expect(w.flow_in).toBe(true);
      expect(w.args!.address).toBe(t.args!.address);
      expect(w.ts).toBeGreaterThanOrEqual(t.ts);
    }
  });

  it("draws a flow from each translation whose IOTLB entry an invalidation command removed to that command", () => {
    const doc = busyTrace();
    const starts = doc.traceEvents.filter((e) => e.ph === "s");
    const ends = doc.traceEvents.filter((e) => e.ph === "f");
    expect(starts.length).toBe(ends.length);
    const cmds = doc.traceEvents.filter((e) => e.cat === "command" && e.tid === TID_COMMANDS && e.pid === PID_IOMMU);
    const inside = (p: TraceEvent, x: TraceEvent) => x.ts < p.ts && p.ts < x.ts + x.dur!;
    const target = (f: TraceEvent) => cmds.find((c) => inside(f, c))!.name;
    const byCmd = new Map<string, number>();
    for (const f of ends) byCmd.set(target(f), (byCmd.get(target(f)) ?? 0) + 1);
    // INVALIDATE_IOMMU_PAGES of one page removes the one entry of page 2; INVALIDATE_IOMMU_ALL the other 31 walks
    // and the untimed translation of page 40
    expect(byCmd.get("INVALIDATE_IOMMU_PAGES")).toBe(1);
    expect(byCmd.get("INVALIDATE_IOMMU_ALL")).toBe(32);
    const page2 = starts.find((s) => ends.find((f) => f.id === s.id && target(f) === "INVALIDATE_IOMMU_PAGES"))!;
    const src = doc.traceEvents.find((e) => e.cat === "translation" && e.tid === page2.tid && inside(page2, e))!;
    expect(src.args!.address).toBe("0x" + (IOVA + 2 * 4096).toString(16));
    expect(src.pid).toBe(PID_DEVICES);
  });

  it("a flow also starts from a translation still in flight when the invalidation ran (its fill happened at issue)", () => {
    const { tb } = timingRig(64, { timing: { walkers: 3 } });
    const io = tb.iommu;
    io.startTrace();
    for (let i = 0; i < 32; i++) io.translateTimed({ deviceId: DEV, address: IOVA + i * 4096 }, io.now + 7 + (i % 3));
    tb.sync(buildInvalidateIommuAll()); // runs while most walks are still queued
    const doc = io.stopTrace();
    expect(checkTrace(JSON.stringify(doc)).errors).toEqual([]);
    expect(doc.traceEvents.filter((e) => e.ph === "f")).toHaveLength(32);
  });

  it("records untimed calls too (args.timed = false), laid end to end per device from the IOMMU clock", () => {
    const doc = busyTrace();
    const untimed = doc.traceEvents.filter((e) => e.cat === "translation" && e.args!.timed === false);
    expect(untimed).toHaveLength(1);
    expect(untimed[0]!.args!.address).toBe("0x" + (IOVA + 40 * 4096).toString(16));
  });

  it("the checker fails the old form: overlapping complete events on one track, float-noise timestamps, displayTimeUnit", () => {
    const ev = (ts: number, dur: number) => ({ name: "t", ph: "X", pid: 2, tid: 257, ts, dur });
    const bad = JSON.stringify({ traceEvents: [ev(1, 2), ev(2, 2)] });
    expect(checkTrace(bad).errors.join()).toMatch(/without nesting/);
    const noisy = `{"traceEvents":[{"name":"t","ph":"X","pid":2,"tid":257,"ts":1.6420000000000001,"dur":1}]}`;
    expect(checkTrace(noisy).errors.join()).toMatch(/not whole ns/);
    expect(checkTrace(JSON.stringify({ traceEvents: [], displayTimeUnit: "ns" })).errors.join()).toMatch(/displayTimeUnit/);
    const backwards = JSON.stringify({ traceEvents: [ev(5, 1), ev(1, 1)] });
    expect(checkTrace(backwards).errors.join()).toMatch(/not monotonic/);
    const nested = JSON.stringify({ traceEvents: [ev(1, 5), ev(2, 1), ev(6, 0)] });
    expect(checkTrace(nested).errors).toEqual([]);
  });
});
