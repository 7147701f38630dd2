/**
 * The pipe's `trace` op: start, drive the IOMMU, stop; the answer is a trace document that
 * keeps the Trace Event Format rules (test/timing/trace-format.ts). Misuse is an error answer
 * naming the field.
 */
import { describe, expect, it } from "vitest";
import { CosimSession } from "../../src/embedding/cosim-session.js";
import { checkTrace } from "../timing/trace-format.js";

describe("pipe op trace", () => {
  it("start, timed and untimed translations stop: the answer is a valid trace", () => {
    const s = new CosimSession(() => {});
    expect(s.request({ op: "add-memory", base: 0, bytes: 1 << 24 }).ok).toBe(true);
    expect(s.request({ op: "create-iommu", iommu: "0" }).ok).toBe(true);
    expect(s.request({ op: "trace", iommu: "0", action: "start", maxEvents: 1000 })).toMatchObject({ ok: true });
    for (let i = 0; i < 4; i++) expect(s.request({ op: "translate", iommu: "0", deviceId: 0x100, address: "0x1000", cycle: 100 + i }).ok).toBe(true);
    expect(s.request({ op: "translate", iommu: "0", deviceId: 0x100, address: "0x2000" }).ok).toBe(true);
    const a = s.request({ op: "trace", iommu: "0", action: "stop" }) as { ok: boolean; trace: { traceEvents: { cat?: string }[] } };
    expect(a.ok).toBe(true);
    expect(a.trace.traceEvents.filter((e) => e.cat === "translation")).toHaveLength(5);
    expect(checkTrace(JSON.stringify(a.trace)).errors).toEqual([]);
  });

  it("stop without start, start twice and maxEvents on stop are error answers naming the field", () => {
    const s = new CosimSession(() => {});
    s.request({ op: "add-memory", base: 0, bytes: 1 << 22 });
    s.request({ op: "create-iommu", iommu: "0" });
    expect(s.request({ op: "trace", iommu: "0", action: "stop" })).toMatchObject({ ok: false, field: "action" });
    expect(s.request({ op: "trace", iommu: "0", action: "start" }).ok).toBe(true);
    expect(s.request({ op: "trace", iommu: "0", action: "start" })).toMatchObject({ ok: false, field: "action" });
    expect(s.request({ op: "trace", iommu: "0", action: "stop", maxEvents: 5 })).toMatchObject({ ok: false, field: "maxEvents" });
    expect(s.request({ op: "trace", iommu: "0", action: "pause" })).toMatchObject({ ok: false });
    expect(s.request({ op: "trace", iommu: "0", action: "start", maxEvents: 10_000_000 })).toMatchObject({ ok: false });
  });
});
