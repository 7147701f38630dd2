import { describe, expect, it } from "vitest";
import { buildInvalidateIommuPages } from "../../src/spec/commands.js";
import { PID_DEVICES, PID_IOMMU, TID_COMMANDS, TID_WALKER0, deviceTid, type TraceEvent } from "../../src/iommu/timing/trace-recorder.js";
import { DEV, IOVA, timingRig } from "./rig.js";

const names = (evs: TraceEvent[], pid: number) => evs.filter((e) => e.ph === "M" && e.name === "thread_name" && e.pid === pid).map((e) => (e.args as { name: string }).name);

describe("trace in Chrome trace-event JSON", () => {
  it("is off until startTrace and stopTrace without a trace names the mistake", () => {
    const { tb } = timingRig(2);
    expect(tb.iommu.timingModel.trace).toBeNull();
    expect(() => tb.iommu.stopTrace()).toThrow(/startTrace/);
  });

  it("puts walkers, the command processor and each device on tracks of one timeline", () => {
    const { tb } = timingRig(8, { timing: { walkers: 3 } });
    const io = tb.iommu;
    io.startTrace();
    const t0 = io.now;
    io.translateTimed({ deviceId: DEV, address: IOVA }, t0);
    const hit = io.translateTimed({ deviceId: DEV, address: IOVA + 64 }, t0 + 1000);
    const miss = io.translateTimed({ deviceId: DEV, address: IOVA + 4096, write: true }, t0 + 1000);
    tb.sync(buildInvalidateIommuPages({ domainId: 1, address: IOVA }));
    const doc = io.stopTrace();
    const evs = doc.traceEvents;
    expect(names(evs, PID_IOMMU)).toEqual(expect.arrayContaining(["command processor", "walker 0", "walker 1", "walker 2"]));
    // the hit and the write miss issued at the same cycle overlap: the second takes the device's slot track #1
    expect(names(evs, PID_DEVICES)).toEqual(["device 01:00.0", "device 01:00.0 #1"]);
    const us = 1e6 / io.timing.clockHz;
    const tr = evs.filter((e) => e.cat === "translation");
    expect(tr).toHaveLength(3);
    expect(tr.map((e) => e.tid)).toEqual([deviceTid(DEV, 0), deviceTid(DEV, 0), deviceTid(DEV, 1)]);
    expect(tr.every((e) => e.pid === PID_DEVICES)).toBe(true);
    expect(tr[1]!.ts).toBeCloseTo((t0 + 1000) * us, 9);
    expect(tr[1]!.dur).toBeCloseTo((hit.completionCycle - t0 - 1000) * us, 9);
    const walks = evs.filter((e) => e.cat === "walk");
    expect(walks).toHaveLength(2); // the first miss and the write miss; the hit takes no walker
    expect(walks.every((e) => e.pid === PID_IOMMU && e.tid >= TID_WALKER0 && e.tid < TID_WALKER0 + 3)).toBe(true);
    expect(walks[1]!.ts + walks[1]!.dur!).toBeCloseTo(miss.completionCycle * us, 9);
    const cmds = evs.filter((e) => e.cat === "command");
    expect(cmds.map((e) => e.name)).toEqual(["INVALIDATE_IOMMU_PAGES", "COMPLETION_WAIT"]);
    expect(cmds.every((e) => e.tid === TID_COMMANDS)).toBe(true);
    expect(cmds[0]!.ts).toBeGreaterThanOrEqual(tr[2]!.ts); // the doorbell came after the last issue
    const round = JSON.parse(JSON.stringify(doc)) as typeof doc;
    expect(round.traceEvents.length).toBe(evs.length);
    expect(round.otherData.timeUnit).toBe("us (whole ns)");
  });

  it("records nothing after stopTrace", () => {
    const { tb } = timingRig(4);
    const io = tb.iommu;
    io.startTrace();
    io.translateTimed({ deviceId: DEV, address: IOVA }, 10);
    const doc = io.stopTrace();
    const n = doc.traceEvents.length;
    io.translateTimed({ deviceId: DEV, address: IOVA + 4096 }, 2000);
    tb.sync();
    expect(doc.traceEvents.length).toBe(n);
    expect(io.timingModel.trace).toBeNull();
  });

  it("stops at maxEvents and counts what it dropped", () => {
    const { tb } = timingRig(4);
    const io = tb.iommu;
    io.startTrace({ maxEvents: 40 });
    for (let i = 0; i < 30; i++) io.translateTimed({ deviceId: DEV, address: IOVA + (i % 4) * 4096 }, i * 1000);
    const doc = io.stopTrace();
    expect(doc.traceEvents.length).toBe(40);
    expect(doc.otherData.droppedEvents).toBeGreaterThan(0);
    expect(() => io.startTrace({ maxEvents: 0 })).toThrow(/maxEvents/);
  });
});
