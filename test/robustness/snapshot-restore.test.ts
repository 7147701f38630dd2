/**
 * Snapshots are a declared format (schema/snapshot.schema.json) and restore is a trust
 * boundary: a snapshot is an embedder's file, possibly tampered. Each test is named after a
 * promise of README "Snapshots" and fails without the mechanism it names (a restore that
 * followed the snapshot's keys into live objects broke every one of them).
 */
import { describe, expect, it } from "vitest";
import { buildScenario, scenarioRequests } from "../embedding/scenario.js";
import { AmdIommu, PhysicalMemory } from "../../src/index.js";
import { SnapshotError, checkSnapshot } from "../../src/embedding/iommu-snapshot.js";
import { POW2 } from "../../src/iommu/caches/tag-store.js";
import { MMIO_CONTROL } from "../../src/spec/registers.js";
import { ATS_ITAGS } from "../../src/iommu/command-processor.js";
import { OPTION_LIMITS } from "../../src/iommu/options.js";

type J = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

/** A scenario that has translated (caches warm, statistics non-zero), its snapshot, and a later state. */
function rig() {
  const s = buildScenario();
  const io = s.tb.iommu;
  for (const r of scenarioRequests().slice(0, 20)) io.translate(r);
  const snap = clone(io.snapshot()) as J;
  for (const r of scenarioRequests().slice(20)) io.translate(r);
  io.translateTimed(scenarioRequests()[0]!, 10_000);
  return { s, io, snap, memory: s.tb.memory };
}
const stateOf = (io: AmdIommu) => JSON.stringify(io.snapshot());
const memoryOf = (m: PhysicalMemory) => Buffer.from(new Uint8Array(m.buffer)).toString("base64");

/** restore(bad) must throw a SnapshotError naming `path`, and change nothing: state, memory, registers. */
function refused(bad: unknown, path: string | RegExp) {
  const { io, memory } = rig();
  const before = stateOf(io), mem = memoryOf(memory);
  let err: unknown;
  try { io.restore(bad as never); } catch (e) { err = e; }
  expect(err, "restore accepted a bad snapshot").toBeInstanceOf(SnapshotError);
  if (typeof path === "string") expect((err as SnapshotError).path).toBe(path); else expect((err as SnapshotError).path).toMatch(path);
  expect(stateOf(io)).toBe(before);
  expect(memoryOf(memory)).toBe(mem);
  return err as SnapshotError;
}

describe("snapshots: the declared format is checked completely before anything changes", { timeout: 120_000 }, () => {
  it("every snapshot() of a busy IOMMU conforms to the declared format and restores to the same state", () => {
    const { io, snap } = rig();
    expect(() => checkSnapshot(io.snapshot())).not.toThrow();
    io.restore(clone(snap) as never);
    expect(JSON.parse(stateOf(io))).toEqual(snap);
  });

  it("a refused restore changes nothing (the IOMMU stays on) and names the first offending path", () => {
    const { snap } = rig();
    const bad = clone(snap);
    bad.registers = [];            // would turn the IOMMU off ...
    bad.timingModel.stats.walks = "many"; // ... but a field near the end is wrong
    const err = refused(bad, "timingModel.stats.walks");
    expect(err.message).toMatch(/^restore: snapshot\.timingModel\.stats\.walks: /);
  });

  it("a string clock, wrong types and non-finite numbers are refused (the next translation cannot throw on them)", () => {
    const { snap } = rig();
    refused({ ...clone(snap), now: "5" }, "now");
    const spa = clone(snap); spa.iotlb.spa[0] = "0x1000"; refused(spa, "iotlb.spa.0");
    const k = clone(snap); k.iotlb.tags.k3[3] = 1.5; refused(k, "iotlb.tags.k3.3");
    const inf = clone(snap); inf.commands.freeAt = "Infinity"; refused(inf, "commands.freeAt");
  });

  it("restore writes only the model's own fields: unknown keys (a path into memory, the translator, shared tables) are refused", () => {
    const { snap } = rig();
    const pow2 = Array.from(POW2);
    const a = clone(snap); a.timingModel.translator = { ctx: { memory: { u32: [1, 2, 3] } } }; refused(a, "timingModel.translator");
    const b = clone(snap); b.memory = { bytes: 1 }; refused(b, "memory");
    const c = clone(snap); c.iotlb.tags.pow2 = [1]; refused(c, "iotlb.tags.pow2");
    const d = clone(snap); d.timingModel.stats.translation.counts = { length: 3 }; refused(d, "timingModel.stats.translation.counts");
    expect(Array.from(POW2)).toEqual(pow2);
  });

  it("one IOMMU's restore cannot change another IOMMU's translations (no shared table is reachable)", () => {
    const one = rig(), two = buildScenario();
    const req = scenarioRequests()[0]!;
    two.tb.iommu.translate(req);
    const before = { ...two.tb.iommu.translate(req) };
    const bad = clone(one.snap); bad.timingModel.walkers = { ...bad.timingModel.walkers, busy: { POW2: [0, 0, 0] } };
    expect(() => one.io.restore(bad as never)).toThrow(SnapshotError);
    expect({ ...two.tb.iommu.translate(req) }).toEqual(before);
  });

  it("__proto__ in a snapshot reaches no prototype", () => {
    const { snap } = rig();
    const text = JSON.stringify(snap).replace('"lastQueue":', '"__proto__":{"polluted":1,"count":5},"lastQueue":');
    const bad = JSON.parse(text) as J;
    expect(Object.keys(bad.timingModel)).toContain("__proto__");
    refused(bad, "timingModel.__proto__");
    expect(({} as J).polluted).toBeUndefined();
    const proto = Object.getPrototypeOf(rig().io.timingModel) as J;
    expect(proto.polluted).toBeUndefined();
  });

  it("counts and sizes are bounded by the options' limits: absurd counters, oversized arrays, too many outstanding invalidations", () => {
    const { snap } = rig();
    const c = clone(snap); c.timingModel.stats.translation.count = 1e300; refused(c, "timingModel.stats.translation.count");
    const b = clone(snap); b.timingModel.stats.translation.lastBucket = 1e9; refused(b, "timingModel.stats.translation.lastBucket");
    const w = clone(snap); w.timingModel.walkers.freeAt = new Array(OPTION_LIMITS.walkers + 1).fill(0); refused(w, "timingModel.walkers.freeAt");
    const p = clone(snap); p.commands.pending = Array.from({ length: ATS_ITAGS + 1 }, () => ({ due: "Infinity", timeoutAt: "Infinity", deviceId: 1, cmdAddr: 0 }));
    refused(p, "commands.pending");
    const t = clone(snap); t.iotlb.tags.valid = new Array(OPTION_LIMITS.cacheEntries + 1).fill(0); refused(t, "iotlb.tags.valid");
    const r = clone(snap); r.registers = [[1 << 20, 1]]; refused(r, "registers.0.0");
  });

  it("what the schema cannot say is checked against this IOMMU: array lengths, occupancy, page sizes, walker count", () => {
    const { snap } = rig();
    const a = clone(snap); a.iotlb.spa.pop(); refused(a, "iotlb.spa");
    const o = clone(snap); o.pdeCache.tags.occupancy += 1; refused(o, "pdeCache.tags.occupancy");
    const i = clone(snap); const slot = (i.iotlb.tags.valid as number[]).indexOf(1); i.iotlb.tags.k2[slot] = 70; refused(i, `iotlb.tags.k2.${slot}`);
    const w = clone(snap); w.timingModel.walkers.walkers = 2; refused(w, "timingModel.walkers.walkers");
    const l = clone(snap); l.deviceTableScalars.lastSlot = 1 << 19; refused(l, "deviceTableScalars.lastSlot");
  });

  it("the interrupt-remapping state is checked against this IOMMU before anything changes: IRTE data and counter arrays of another length", () => {
    const { snap } = rig();
    const d = clone(snap); d.interruptRemapping.irteCache.data.push(0, 0, 0, 0); refused(d, "interruptRemapping.irteCache.data");
    const t = clone(snap); t.interruptRemapping.irteCache.tags.k0.pop(); refused(t, "interruptRemapping.irteCache.tags.k0");
    if (snap.interruptRemapping.perf !== null) {
      const p = clone(snap); p.interruptRemapping.perf.regs.push(0); refused(p, "interruptRemapping.perf.regs");
    }
  });

  it("AmdIommu.restore refuses a tampered snapshot before building anything", () => {
    const { snap, memory } = rig();
    const bad = clone(snap); bad.options.iotbl = { entries: 4 };
    expect(() => AmdIommu.restore(bad as never, { memory })).toThrow(/snapshot\.options\.iotbl: unknown field/);
  });
});
