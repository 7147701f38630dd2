/**
 * The translation conformance suites run again with the device's DTE already cached,
 * front-cached and made the translator's fast-path device before every request, so that each request the translator's fast path can
 * serve (IOTLB hits, host v1 walks with plain loads) takes it: the suites then check the fast
 * path against the spec conditions the general path is checked against. The DTE fetch is
 * done through the device table as a first request would do it; results that count the DTE
 * fetch (dteCacheHit, memoryReferences) are therefore those of a cached DTE. Addresses are
 * passed as numbers where they fit (the fast path takes no bigint).
 */
import { TRANSLATE_MODES, withNumberAddress } from "./harness.js";
import type { AmdIommu, TranslationRequest } from "../../src/index.js";

for (const k of Object.keys(TRANSLATE_MODES)) delete TRANSLATE_MODES[k];
TRANSLATE_MODES["DTE cached"] = (iommu: AmdIommu, req: TranslationRequest) => {
  const front = iommu.translator as unknown as { frontDte: unknown; frontVersion: number };
  if (!("frontDte" in front) || !("frontVersion" in front)) throw new Error("warm-DTE conformance: Translator.frontDte / frontVersion not found (renamed? update this harness)");
  if (typeof req.deviceId === "number" && Number.isInteger(req.deviceId) && req.deviceId >= 0 && req.deviceId <= 0xffff) {
    const d = iommu.deviceTable.lookup(req.deviceId);
    // and made the fast path's device, as the general path does after its look-up (Translator.general):
    // the first request of a device then takes fastHit / fastWalk too, not only the later ones
    if (d !== null && d.slot >= 0) { front.frontDte = d; front.frontVersion = iommu.deviceTable.cache.version; }
  }
  return iommu.translate(withNumberAddress(req)); // numbers: the fast path serves guest requests too
};
await import("./host-path.conformance.test.js");
await import("./guest-path.conformance.test.js");
