/**
 * Invalidation notifiers for embedders that cache translations outside the IOMMU (a device
 * model's own TLB, a JIT, a shadow page table): the model's analogue of QEMU's IOMMU
 * notifiers, driven by the commands of docs/spec-readings.md cmd 4.1.
 *
 *   "unmap"            every cache invalidation the command processor performs:
 *                      INVALIDATE_IOMMU_PAGES (DomainID, GN/PASID, S-decoded range, PDE),
 *                      INVALIDATE_DEVTAB_ENTRY (one DeviceID, whole space) and
 *                      INVALIDATE_IOMMU_ALL (every domain, whole space).
 *   "device-tlb-unmap" INVALIDATE_IOTLB_PAGES: the ATS invalidation sent to a device's ATC.
 *   "map"              a translation the IOMMU walked and may cache (an IOTLB fill), for
 *                      untranslated, ATS and prefetch requests; never for peek.
 *
 * Ranges are the hardware's: naturally aligned power-of-two blocks (S = 1), so a consumer
 * must accept ranges larger than what software meant to drop. `all` = the whole space
 * (start 0, size 2^64). A GN = 0 invalidation also stales every guest translation of the
 * domain that a nested walk built (the safe reading of docs/spec-readings.md cmd 6.9): consumers of
 * nested devices drop all PASIDs of the domain on it.
 *
 * Listeners run synchronously inside the command (or translation) that causes them; they
 * must not call back into the IOMMU's MMIO or translate. No listener = no cost beyond a
 * boolean test.
 */

import type { TranslationRequest, TranslationResult } from "../iommu/translation/request.js";

/** The whole 64-bit space, as a size. */
export const WHOLE_SPACE = 1n << 64n;

export type UnmapCommand = "INVALIDATE_IOMMU_PAGES" | "INVALIDATE_DEVTAB_ENTRY" | "INVALIDATE_IOMMU_ALL";

export interface UnmapEvent {
  type: "unmap";
  command: UnmapCommand;
  /** DomainID whose translations are dropped; null = every domain (IOMMU_ALL) or by device (DEVTAB_ENTRY). */
  domainId: number | null;
  /** INVALIDATE_DEVTAB_ENTRY: the device whose cached DTE (and so every translation it used) is dropped. */
  deviceId: number | null;
  /** GN: true = guest (PASID-tagged) translations of `pasid`; false = the host (GPA / IOVA) space. */
  gn: boolean;
  /** PASID of a GN = 1 invalidation, else null. */
  pasid: number | null;
  /** First byte of the range (naturally aligned). */
  start: bigint;
  /** Bytes in the range; WHOLE_SPACE (2^64) when `all`. */
  size: bigint;
  all: boolean;
  /** Page-directory entries dropped too (PDE = 1; always true for DEVTAB_ENTRY and IOMMU_ALL). */
  pde: boolean;
  /** IOMMU cycle at which the command ran. */
  cycle: number;
}

export interface DeviceTlbUnmapEvent {
  type: "device-tlb-unmap";
  deviceId: number;
  gn: boolean;
  pasid: number | null;
  start: bigint;
  size: bigint;
  all: boolean;
  cycle: number;
}

/** One valid translation of a device: what a MAP event and replay() report. */
export interface Mapping {
  deviceId: number;
  domainId: number;
  /** PASID prefix of the requests this mapping serves; null = requests without a PASID. */
  pasid: number | null;
  /** The translation lives in the guest (PASID-tagged) space, tag `pasid ?? 0` (GIoV requests use PASID 0). */
  gn: boolean;
  /** Built by a nested walk: a GN = 0 invalidation of the domain stales it too. */
  nested: boolean;
  /** First byte of the page (IOVA, GPA or GVA; sign-extended GVAs as 64-bit unsigned). */
  address: bigint;
  pageSize: number;
  /** SPA of the first byte of the page. */
  spa: number;
  readable: boolean;
  writable: boolean;
  executable: boolean;
  /** User-mode requests may use it (always true outside guest tables). */
  user: boolean;
}

export interface MapEvent extends Mapping {
  type: "map";
  /** The request that caused the fill. */
  cause: "untranslated" | "ats" | "prefetch";
  cycle: number;
}

export interface NotifierEvents {
  "unmap": UnmapEvent;
  "device-tlb-unmap": DeviceTlbUnmapEvent;
  "map": MapEvent;
}
export type NotifierKind = keyof NotifierEvents;
export type NotifierListener<K extends NotifierKind> = (event: NotifierEvents[K]) => void;

const KINDS: readonly NotifierKind[] = ["unmap", "device-tlb-unmap", "map"];

export class InvalidationNotifiers {
  private readonly listeners: { [K in NotifierKind]: NotifierListener<K>[] } = { "unmap": [], "device-tlb-unmap": [], "map": [] };
  /** Someone listens to unmap / device-tlb-unmap / map (cheap tests on the command and translation paths). */
  hasUnmap = false;
  hasDeviceTlb = false;
  hasMap = false;

  /** Register a listener; returns a function that removes it. */
  on<K extends NotifierKind>(kind: K, listener: NotifierListener<K>): () => void {
    if (!KINDS.includes(kind)) throw new RangeError(`notifiers.on: kind must be one of ${KINDS.join(", ")}, got ${String(kind)}`);
    if (typeof listener !== "function") throw new TypeError("notifiers.on: listener must be a function");
    (this.listeners[kind] as NotifierListener<K>[]).push(listener);
    this.refresh();
    return () => this.off(kind, listener);
  }

  /** Remove a listener registered with on(). */
  off<K extends NotifierKind>(kind: K, listener: NotifierListener<K>): void {
    if (!KINDS.includes(kind)) throw new RangeError(`notifiers.off: kind must be one of ${KINDS.join(", ")}, got ${String(kind)}`);
    const list = this.listeners[kind] as NotifierListener<K>[];
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
    this.refresh();
  }

  /** Number of listeners of a kind. */
  count(kind: NotifierKind): number { return this.listeners[kind].length; }

  private refresh(): void {
    this.hasUnmap = this.listeners["unmap"].length > 0;
    this.hasDeviceTlb = this.listeners["device-tlb-unmap"].length > 0;
    this.hasMap = this.listeners["map"].length > 0;
  }

  emit<K extends NotifierKind>(kind: K, event: NotifierEvents[K]): void {
    for (const fn of [...this.listeners[kind]] as NotifierListener<K>[]) fn(event);
  }

  // ---- helpers the IOMMU calls (argument order of InvalidationTarget) ----

  invalidatePages(domain: number, gn: boolean, pasid: number, start: bigint, size: bigint, all: boolean, pde: boolean, cycle: number): void {
    this.emit("unmap", {
      type: "unmap", command: "INVALIDATE_IOMMU_PAGES", domainId: domain, deviceId: null, gn, pasid: gn ? pasid : null,
      start: all ? 0n : start, size: all ? WHOLE_SPACE : size, all, pde, cycle,
    });
  }
  invalidateDevtabEntry(deviceId: number, cycle: number): void {
    this.emit("unmap", {
      type: "unmap", command: "INVALIDATE_DEVTAB_ENTRY", domainId: null, deviceId, gn: false, pasid: null,
      start: 0n, size: WHOLE_SPACE, all: true, pde: true, cycle,
    });
  }
  invalidateAll(cycle: number): void {
    this.emit("unmap", {
      type: "unmap", command: "INVALIDATE_IOMMU_ALL", domainId: null, deviceId: null, gn: false, pasid: null,
      start: 0n, size: WHOLE_SPACE, all: true, pde: true, cycle,
    });
  }
  deviceTlbInvalidation(deviceId: number, gn: boolean, pasid: number, start: bigint, size: bigint, all: boolean, cycle: number): void {
    this.emit("device-tlb-unmap", {
      type: "device-tlb-unmap", deviceId, gn, pasid: gn ? pasid : null,
      start: all ? 0n : start, size: all ? WHOLE_SPACE : size, all, cycle,
    });
  }
}

/**
 * Does an UNMAP event stale this mapping? The IOTLB's matching rule (docs/spec-readings.md cmd 5
 * 4.1): IOMMU_ALL everything; DEVTAB_ENTRY the device; PAGES by DomainID, then GN = 1 the
 * PASID's guest entries overlapping the range, GN = 0 the host entries overlapping it and
 * every nested-built guest entry of the domain.
 */
export function unmapCovers(e: UnmapEvent, m: Mapping): boolean {
  if (e.command === "INVALIDATE_IOMMU_ALL") return true;
  if (e.command === "INVALIDATE_DEVTAB_ENTRY") return e.deviceId === m.deviceId;
  if (e.domainId !== m.domainId) return false;
  const overlaps = e.all || (m.address < e.start + e.size && e.start < m.address + BigInt(m.pageSize));
  if (e.gn) return m.gn && (m.pasid ?? 0) === e.pasid && overlaps;
  return m.gn ? m.nested : overlaps;
}

/** What a MAP event needs of the IOMMU: the DTE the translation used (cached, else read from memory). */
export interface MapSource {
  readonly notifiers: InvalidationNotifiers;
  readonly now: number;
  readonly deviceTable: {
    cached(deviceId: number): { f: { DomainID: number } } | null;
    lookup(deviceId: number, bypassCache?: boolean): { f: { DomainID: number } } | null;
  };
}

/** Emit a MAP event for a translation that walked the tables and succeeded (an IOTLB fill). */
export function notifyMap(io: MapSource, req: TranslationRequest, out: TranslationResult, cause: MapEvent["cause"]): void {
  if (!out.ok || out.iotlbHit || !(out.path === "host" || out.path === "guest" || out.path === "nested")) return;
  const d = io.deviceTable.cached(req.deviceId) ?? io.deviceTable.lookup(req.deviceId, true);
  if (d === null) return;
  const size = out.pageSize;
  const a = BigInt(req.address);
  const address = a - (a % BigInt(size));
  io.notifiers.emit("map", {
    type: "map", deviceId: req.deviceId, domainId: d.f.DomainID, pasid: req.pasid ?? null, gn: out.path !== "host",
    nested: out.path === "nested", address, pageSize: size, spa: out.spa - (out.spa % size),
    readable: out.readable, writable: out.writable, executable: out.executable, user: out.user, cause, cycle: io.now,
  });
}
