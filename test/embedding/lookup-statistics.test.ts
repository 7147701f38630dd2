/**
 * Cache statistics count what the hardware does: one DTE-cache look-up and one IOTLB
 * look-up per untranslated request, whichever internal path (the IOTLB-hit fast path or the
 * general one) serves it. Snapshots and stepped translations compare these counters, so a
 * request must not count twice or not at all.
 */
import { expect, it } from "vitest";
import { buildScenario, HOST, GUEST, GVA } from "./scenario.js";
import type { TranslationRequest } from "../../src/index.js";

function delta(io: ReturnType<typeof buildScenario>["tb"]["iommu"], req: TranslationRequest) {
  const b = io.stats();
  io.translate(req);
  const a = io.stats();
  return { iotlbHits: a.iotlb.hits - b.iotlb.hits, iotlbMisses: a.iotlb.misses - b.iotlb.misses, dteHits: a.dteCache.hits - b.dteCache.hits, dteMisses: a.dteCache.misses - b.dteCache.misses };
}

it("a request from the device served last counts one DTE hit and one IOTLB hit or miss, on every path", () => {
  const s = buildScenario();
  const io = s.tb.iommu;
  io.translate({ deviceId: HOST, address: 0x1000_0000 });
  expect(delta(io, { deviceId: HOST, address: 0x1000_0008 })).toEqual({ iotlbHits: 1, iotlbMisses: 0, dteHits: 1, dteMisses: 0 });          // IOTLB hit
  expect(delta(io, { deviceId: HOST, address: 0x2000_0000 })).toEqual({ iotlbHits: 0, iotlbMisses: 1, dteHits: 1, dteMisses: 0 });          // IOTLB miss, walk
  expect(delta(io, { deviceId: HOST, address: 0x1000_0000, write: true })).toEqual({ iotlbHits: 1, iotlbMisses: 0, dteHits: 1, dteMisses: 0 }); // hit without D: re-walk
  io.translate({ deviceId: GUEST, address: GVA, pasid: 1 });
  expect(delta(io, { deviceId: GUEST, address: GVA + 0x20_0000n, pasid: 1 })).toEqual({ iotlbHits: 0, iotlbMisses: 1, dteHits: 1, dteMisses: 0 });
  expect(delta(io, { deviceId: GUEST, address: GVA + 0x1000n, pasid: 1 })).toEqual({ iotlbHits: 0, iotlbMisses: 1, dteHits: 1, dteMisses: 0 });
});
