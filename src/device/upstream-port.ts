/**
 * What a PCIe function sees of the IOMMU above it (the upstream side of the PCIe link):
 * untranslated requests, ATS Translation Requests, PRI Page Requests, and the memory that
 * translated requests reach. AmdIommu implements it; an embedder can put its own model (a
 * switch, a trace recorder) in between. The counterpart of src/iommu/endpoint-port.ts.
 */
import type { MemoryPort } from "../memory/memory-port.js";
import type { EndpointPort } from "../iommu/endpoint-port.js";
import type { PageRequest, PageRequestOutcome } from "../iommu/ppr-log.js";
import type { TimingProfile } from "../iommu/timing-profile.js";
import type { TranslationRequest, TranslationResult } from "../iommu/translation/request.js";

export interface UpstreamPort {
  /** System memory behind the IOMMU (translated requests go straight to it). */
  readonly memory: MemoryPort;
  /** Latencies used to price the function's own steps (ATS round trip, memory reference). */
  readonly timing: Readonly<TimingProfile>;
  /** An untranslated request (AT = 00b), translated and checked by the IOMMU. */
  translateInto(request: TranslationRequest, out: TranslationResult): TranslationResult;
  /** An ATS Translation Request (AT = 01b): permissions and size, no event for a missing page. */
  translateAts(request: TranslationRequest, out: TranslationResult): TranslationResult;
  /** A translated request (AT = 10b) with an SPA from the ATC: the IOMMU checks that DTE.I allows it. */
  translatedRequest(request: TranslationRequest, out: TranslationResult): TranslationResult;
  /** A PRI Page Request message. */
  pageRequest(request: PageRequest): PageRequestOutcome;
  /** Where the IOMMU sends ATS Invalidate Requests and PRG Responses for a DeviceID. */
  attachEndpoint(deviceId: number, port: EndpointPort): void;
}
