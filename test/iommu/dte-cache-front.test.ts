/**
 * The DTE cache seen from the translator's fast path (docs/spec-readings.md reg 3.1, the
 * DTE cache of the model): a request the fast path serves must leave the DTE cache exactly as
 * the general path's look-up does, including its replacement (LRU) state, when other blocks
 * (the PPR log's page requests, INVALIDATE_IOMMU_PAGES prefetches) look DTEs up between
 * translations. Twins are driven with number addresses (fast path) and bigint addresses
 * (general path only).
 */
import { describe, expect, it } from "vitest";
import { IommuTestbench, V1PageTable } from "../../src/builders/index.js";

const X = 0x10, Y = 0x20, Z = 0x30;

function twin() {
  const tb = new IommuTestbench({ bytes: 4 * 1024 * 1024, deviceTableEntries: 256, ringLen: 8, iommu: { dteCache: { entries: 2, ways: 2 } } });
  const t = new V1PageTable(tb.memory, tb.pages, 4);
  t.map(0x40_0000, 0x20_0000, { size: 4096, readable: true, writable: true });
  for (const [dev, dom] of [[X, 1], [Y, 2], [Z, 3]] as const) {
    tb.deviceTable.set(dev, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: t.root, IR: true, IW: true, DomainID: dom });
  }
  return tb;
}

describe("DTE cache: the fast path's hit is the general path's hit", () => {
  it("a hit after another device's page request updates the LRU order: the other device's DTE is the one evicted", () => {
    const fast = twin(), slow = twin();
    const hits: boolean[][] = [[], []];
    [fast, slow].forEach((tb, i) => {
      const addr = (a: number) => (i === 0 ? a : BigInt(a));
      const tr = (deviceId: number) => hits[i]!.push(tb.iommu.translate({ deviceId, address: addr(0x40_0000) }).dteCacheHit);
      tr(Y); tr(X); tr(X);
      // the PPR log looks Y's DTE up (a DTE-cache hit that makes Y the most recent)
      tb.iommu.pageRequest({ deviceId: Y, address: 0x40_0000n, prgIndex: 1, last: true, read: true, write: false });
      tr(X); // a hit that makes X the most recent again
      tr(Z); // evicts the least recent: Y
      tr(X);
      tr(Y);
    });
    expect(hits[1]).toEqual([false, false, true, true, false, true, false]);
    expect(hits[0]).toEqual(hits[1]);
    expect(fast.iommu.stats()).toEqual(slow.iommu.stats());
  });
});
