/**
 * stats().translation.walkRetries counts walks started again because an A/D
 * compare-exchange lost a race (the entry changed between the read and the update).
 */
import { describe, expect, it } from "vitest";
import { AmdIommu, CallbackMemoryPort } from "../../src/index.js";
import { IommuTestbench, V1PageTable } from "../../src/builders/index.js";

const DEV = 0x10, IOVA = 0x4000_0000;

/** An IOMMU over the testbench's memory whose first `lose` compare-exchanges report another agent's value. */
function racing(lose: number) {
  const tb = new IommuTestbench({ bytes: 8 * 1024 * 1024 });
  const v1 = new V1PageTable(tb.memory, tb.pages, 4);
  const data = tb.pages.alloc();
  v1.map(IOVA, data, { accessed: false, dirty: false });
  tb.deviceTable.set(DEV, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: v1.root, IR: true, IW: true, DomainID: 1, HAD: 3 });
  tb.sync();
  const m = tb.memory;
  let left = lose;
  const port = new CallbackMemoryPort({
    bytes: m.bytes, read32: (pa) => m.read32(pa), write32: (pa, v) => m.write32(pa, v),
    cas32: (pa, expected, v) => {
      if (left > 0) { left--; return (expected ^ 0x800) >>> 0; } // someone else's value: the update is not made
      const found = m.read32(pa);
      if (found === expected) m.write32(pa, v);
      return found;
    },
  });
  const io = AmdIommu.restore(tb.iommu.snapshot(), { memory: port });
  return { io, data };
}

describe("walkRetries", () => {
  it("counts each lost A/D compare-exchange; the walk then completes", () => {
    for (const lose of [0, 1, 3]) {
      const { io, data } = racing(lose);
      const r = io.translate({ deviceId: DEV, address: IOVA, write: true });
      expect([r.ok, r.spa], `lose ${lose}`).toEqual([true, data]);
      expect(io.stats().translation.walkRetries, `lose ${lose}`).toBe(lose);
    }
  });

  it("a walk that keeps losing gives up after the retry bound and reports it", () => {
    const { io } = racing(1000);
    const r = io.translate({ deviceId: DEV, address: IOVA, write: true });
    expect(r.fault).toBe("ad-contention");
    expect(io.stats().translation.walkRetries).toBeGreaterThan(10);
  });
});
