/**
 * Translation requests and results (docs/ARCHITECTURE.md section 4, `iommu.translate`).
 *
 * An untranslated DMA request from a PCIe function (deviceId = bus << 8 | dev << 3 | fn),
 * optionally with a PASID TLP prefix (pasid, execute, privileged). The result carries the
 * architectural outcome and what the operation touched (caches, memory references, A/D
 * writes); `cycles` is the modelled latency from the timing profile.
 */
export interface TranslationRequest {
  deviceId: number;
  /** Device address (IOVA, GPA or GVA): a non-negative integer below 2^64, number or bigint. */
  address: number | bigint;
  /** Present = the request carries a PASID prefix (0 .. 2^20 - 1). */
  pasid?: number;
  write?: boolean;
  /** Execute Requested (PASID prefix). */
  execute?: boolean;
  /** Privileged Mode Requested (PASID prefix); false = user mode. */
  privileged?: boolean;
}

export type TranslationPath =
  | "none" | "iommu-disabled" | "untranslated" | "pretranslated" | "exclusion" | "mode0" | "host" | "guest" | "nested";

export type FaultReason =
  | "dte-hardware-error" | "illegal-dte" | "translation-disabled" | "reserved-mode" | "pasid-not-allowed"
  | "address-out-of-range" | "non-canonical" | "not-present" | "permission" | "user-supervisor" | "no-execute"
  | "reserved-bit" | "invalid-level" | "invalid-page-size" | "skipped-level-nonzero" | "page-table-hardware-error"
  | "pasid-out-of-range" | "gcr3-not-valid" | "ats-disabled" | "untranslated-only" | "ad-contention";

export class TranslationResult {
  /** The access is allowed (for ATS: a translation with at least one permission was returned). */
  ok = false;
  /** System physical address of `address` (valid when ok). */
  spa = 0;
  /** Bytes the translation covers (a naturally aligned page). */
  pageSize = 0;
  /** Modelled latency in IOMMU clock cycles. */
  cycles = 0;
  /** Permissions granted by the translation. */
  readable = false;
  writable = false;
  executable = false;
  /** User-mode access allowed (guest tables; always true on host paths). */
  user = false;
  /** Why the request was refused (null when ok). */
  fault: FaultReason | null = null;
  /** Code of the event written to the event log for this request (0 = none). */
  event = 0;
  path: TranslationPath = "none";
  iotlbHit = false;
  dteCacheHit = false;
  gcr3CacheHit = false;
  /** Page-directory-cache hits used by the walk. */
  pdeHits = 0;
  /** Every memory reference: DTE, GCR3 table, page tables, A/D writes, event write. */
  memoryReferences = 0;
  /** Page-table reads of the walk alone (guest and host levels; 24 for a cold nested 4x4 walk). */
  walkReferences = 0;
  /** Walk reads whose table line was cached (profile.memoryReferenceLlc each; the others cost memoryReference). */
  tableLineHits = 0;
  /** Atomic A/D updates performed. */
  adUpdates = 0;
  /** Timed mode: cycle at which the request completes. */
  completionCycle = 0;

  /**
   * Fill in an IOTLB hit with a cached DTE (the translator's fast path; perms are the entry's
   * permission bits already masked by the DTE: R 1, W 2, X 4, U 8). Returns this.
   */
  iotlbHitResult(spa: number, pageSize: number, perms: number, path: TranslationPath, cycles: number): this {
    this.ok = true; this.spa = spa; this.pageSize = pageSize;
    this.readable = (perms & 1) !== 0; this.writable = (perms & 2) !== 0; this.executable = (perms & 4) !== 0; this.user = (perms & 8) !== 0;
    this.fault = null; this.event = 0; this.path = path;
    this.iotlbHit = true; this.dteCacheHit = true; this.gcr3CacheHit = false;
    this.pdeHits = 0; this.memoryReferences = 0; this.walkReferences = 0; this.tableLineHits = 0; this.adUpdates = 0; this.completionCycle = 0;
    this.cycles = cycles;
    return this;
  }

  reset(): void {
    this.ok = false; this.spa = 0; this.pageSize = 0; this.cycles = 0;
    this.readable = false; this.writable = false; this.executable = false; this.user = false;
    this.fault = null; this.event = 0; this.path = "none"; this.iotlbHit = false; this.dteCacheHit = false;
    this.gcr3CacheHit = false; this.pdeHits = 0; this.memoryReferences = 0; this.walkReferences = 0; this.tableLineHits = 0; this.adUpdates = 0;
    this.completionCycle = 0;
  }
}

/** One memory access of a translation, in order (access log for tests and traces). */
export interface MemoryAccess {
  kind: "read" | "cas" | "write";
  /** Physical address of the 64-bit entry (or log slot). */
  pa: number;
  /** What was accessed: "dte", "gcr3", "v1-L<n>", "guest-L<n>", "event-log". */
  what: string;
  /** Low word read (read) or written (cas/write). */
  value: number;
}

/** What kind of request a translation serves (a const enum: inlined as literals on the hot path). */
export const enum Kind {
  Untranslated = 0,
  Ats = 1,
  Peek = 2,
  /** PREFETCH_IOMMU_PAGES: a read translation that fills the caches and logs no events. */
  Prefetch = 3,
  /** A translated request (PCIe AT = 10b) from an endpoint's ATC: the address is already an SPA. */
  Translated = 4,
}

/** write / execute / privileged are absent or booleans (a truthy string must not silently read as false). */
export function flagsOk(req: TranslationRequest): boolean {
  const w = req.write, x = req.execute, p = req.privileged;
  return (w === undefined || w === true || w === false) && (x === undefined || x === true || x === false) && (p === undefined || p === true || p === false);
}
