/**
 * The translation conformance suites (test/conformance), run again with every request issued
 * through timed mode: translateTimed must give the architectural results translate() gives.
 */
import { TRANSLATE_MODES } from "../conformance/harness.js";
import type { AmdIommu, TranslationRequest } from "../../src/index.js";

for (const k of Object.keys(TRANSLATE_MODES)) delete TRANSLATE_MODES[k];
let t = 0;
TRANSLATE_MODES.timed = (iommu: AmdIommu, req: TranslationRequest) => {
  t = Math.max(t, iommu.now) + 17; // requests issued on a moving clock
  return iommu.translateTimed(req, t);
};
await import("../conformance/host-path.conformance.test.js");
await import("../conformance/guest-path.conformance.test.js");
