/**
 * The translation conformance suites (test/conformance), run again with every request issued
 * as a stepped translation whose memory requests are answered one by one from the rig's
 * memory: the stepped form must give the architectural results translate() gives (results,
 * events, A/D bits, cache behaviour on repeated requests).
 */
import { TRANSLATE_MODES } from "../conformance/harness.js";
import type { AmdIommu, TranslationRequest } from "../../src/index.js";

for (const k of Object.keys(TRANSLATE_MODES)) delete TRANSLATE_MODES[k];
TRANSLATE_MODES.stepped = (iommu: AmdIommu, req: TranslationRequest) => {
  const st = iommu.translateStepped(req);
  const mem = iommu.memory;
  for (let r = st.next(); r !== null; r = st.next()) {
    if (r.kind === "read") st.complete(Array.from({ length: r.bytes / 4 }, (_, i) => mem.load32(r.pa + 4 * i)));
    else if (r.kind === "cas") st.complete(mem.cas32(r.pa, r.expected, r.value));
    else { mem.store32(r.pa, r.value); st.complete(); }
  }
  if (!st.done) throw new Error("stepped translation did not finish");
  return st.result;
};
await import("../conformance/host-path.conformance.test.js");
await import("../conformance/guest-path.conformance.test.js");
