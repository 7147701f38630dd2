/**
 * Public surface of the AMD IOMMU v2 model (ARCHITECTURE.md section 4). Nothing else.
 */
export { PhysicalMemory, type PhysicalMemoryOptions } from "./memory/physical-memory.js";
export type { MemoryPort } from "./memory/memory-port.js";
export { AmdIommu } from "./iommu/amd-iommu.js";
export type { AmdIommuOptions, FeatureOptions, QuirkOptions, InterruptSource } from "./iommu/options.js";
export { DEFAULT_FEATURES, DEFAULT_QUIRKS } from "./iommu/options.js";
export { TranslationResult, type TranslationRequest, type FaultReason, type TranslationPath, type MemoryAccess } from "./iommu/translation/request.js";
export type { EndpointPort, AtsInvalidation, PrgResponse } from "./iommu/endpoint-port.js";
export { TIMING_PROFILE_NAMES, type TimingProfile, type TimingProfileName } from "./iommu/timing-profile.js";
export * as spec from "./spec/index.js";
export * as builders from "./builders/index.js";
