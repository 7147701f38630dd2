/**
 * Public surface of the AMD IOMMU v2 model (docs/ARCHITECTURE.md section 4). Nothing else.
 */
export { PhysicalMemory, type PhysicalMemoryOptions } from "./memory/physical-memory.js";
export type { MemoryPort } from "./memory/memory-port.js";
export { AmdIommu } from "./iommu/amd-iommu.js";
export type { AmdIommuOptions, FeatureOptions, QuirkOptions, InterruptSource } from "./iommu/options.js";
export { DEFAULT_FEATURES, DEFAULT_QUIRKS } from "./iommu/options.js";
export { TranslationResult, type TranslationRequest, type FaultReason, type TranslationPath, type MemoryAccess } from "./iommu/translation/request.js";
export { InterruptRemapResult, type InterruptRequest, type InterruptFault, type InterruptPath, type InterruptStats } from "./iommu/interrupts/interrupt-request.js";
export type { EndpointPort, AtsInvalidation, PrgResponse } from "./iommu/endpoint-port.js";
export type { TraceDocument, TraceEvent, TraceOptions } from "./iommu/timing/trace-recorder.js";
export { TIMING_PROFILE_NAMES, type TimingProfile, type TimingProfileName } from "./iommu/timing-profile.js";
export * as spec from "./spec/index.js";
export * as builders from "./builders/index.js";
export type { PageRequest, PageRequestOutcome, PprStats } from "./iommu/ppr-log.js";
export { PcieEndpoint, type PcieEndpointOptions, type EndpointStats } from "./device/pcie-endpoint.js";
export { DmaEngine, DmaResult, type DmaRequest, type DmaStatus, type StalledAccess } from "./device/dma-engine.js";
export { AtsDeviceTlb, ATC_R, ATC_W, ATC_X, ATC_U, ATC_NO_PASID, type AtcGeometry, type AtcStats } from "./device/ats-device-tlb.js";
export { PageRequestInterface, PRG_FREE, PRG_WAITING, PRG_ANSWERED, type PriOptions, type PageRequestPage } from "./device/page-request-interface.js";
export type { UpstreamPort } from "./device/upstream-port.js";
export {
  InvalidationNotifiers, unmapCovers, WHOLE_SPACE, type Mapping, type MapEvent, type UnmapEvent, type DeviceTlbUnmapEvent,
  type NotifierEvents, type NotifierKind, type NotifierListener, type UnmapCommand,
} from "./embedding/invalidation-notifiers.js";
export type { ReplayIterator, ReplayOptions } from "./embedding/mapping-replay.js";
export { SteppedTranslation, type MemoryRequest, type SteppedOptions } from "./embedding/stepped-translation.js";
export { CallbackMemoryPort, type CallbackMemoryOptions } from "./embedding/callback-memory-port.js";
export { SNAPSHOT_FORMAT, SNAPSHOT_VERSION, type IommuSnapshot } from "./embedding/iommu-snapshot.js";
// (importing the package raises V8's inlining limits unless AMD_IOMMU_MODEL_V8_INLINING=default: src/embedding/v8-inlining.ts)
export { raiseInliningBudget, appliedV8Flags, INLINING_FLAGS, INLINING_ENV } from "./embedding/v8-inlining.js";
export * as host from "./host/index.js";
export * as scenarios from "./scenarios/index.js";
export * as shared from "./shared/index.js";
