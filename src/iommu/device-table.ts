/**
 * The device table and its cache (spec: "Device Table", DTE bits 255:0;
 * docs/spec-readings.md reg 1.2 and reg 3).
 *
 * lookup(deviceId) fetches the 32-byte DTE at DevTabBase + DeviceID x 32 as one read,
 * decodes and validates it, and keeps it in the DTE cache until INVALIDATE_DEVTAB_ENTRY or
 * INVALIDATE_IOMMU_ALL (invalidate / invalidateAll). Outcomes: OK; DEV_TAB_HARDWARE_ERROR
 * when the entry lies outside memory; ILLEGAL_DEV_TABLE_ENTRY when the DeviceID is beyond
 * the programmed table size (a named reading), when V = 1 and a reserved bit (or a field of
 * an absent feature) is set, or for an illegal combination (GLX = 11b, GuestPagingMode
 * reserved, GV = 1 with a zero GCR3 root, IoCtl = 11b, HAD = 10b, interrupt part when IV = 1).
 */
import type { MemoryPort } from "../memory/memory-port.js";
import {
  DTE_DWORDS, DTE_RESERVED_INTERRUPT, DTE_RESERVED_TRANSLATION, decodeDte, dteFeatureMask, emptyDte, type DteFields,
} from "../spec/dte.js";
import { MMIO_DEVICE_TABLE_BASE } from "../spec/registers.js";
import { TagStore, type CacheGeometry } from "./caches/tag-store.js";
import { PasidKey, Perm } from "./caches/iotlb.js";
import type { MmioRegisters } from "./mmio-registers.js";
import type { FeatureOptions, QuirkOptions } from "./options.js";

/** A decoded, validated DTE as the translation path uses it. */
export class Dte {
  /** The DTE cache slot this entry lives in (-1: the scratch entry of an uncached fetch). */
  constructor(readonly slot = -1) {}
  readonly raw = new Uint32Array(DTE_DWORDS);
  readonly f: DteFields = emptyDte();
  deviceId = 0;
  /** ILLEGAL_DEV_TABLE_ENTRY: a reserved bit or illegal combination (with V = 1). */
  illegal = false;
  /** Guest table levels (4 or 5). */
  guestLevels = 4;
  /** DTE.SE reading: a fault was logged since the DTE was fetched. */
  faultLogged = false;
  // ---- what the translator's fast path reads, one load each (set by derive()) ----
  /** A request without PASID takes the host (v1) walk: V, TV, Mode 1..HATS + 4, and not GV with GIoV. */
  hostWalk = false;
  /** A request with PASID may take the guest path: V, TV and GV (GTEn is checked per request). */
  guestWalk = false;
  domain = 0;
  /** The permission bits (Perm of iotlb.ts) the DTE lets through: R if IR, W and Dirty if IW, U and X always. */
  permMask = 0;
  /** TagStore.key(DomainID, PasidKey.Host, 0): the IOTLB tag of the domain's host space without the page size. */
  hostKey = 0;
  /** v1 walk: addresses from here up are beyond the Mode's range (2^(9 Mode + 12)). */
  hostLimit = 0;
  /** v1 walk: the root table as a word index (SPA / 4), or -1 when it lies at or above 8 GiB (int32 word indices). */
  rootWord = -1;
  /** DTE.Mode and DTE.HAD (the v1 walk's levels and A/D updates). */
  mode = 0;
  had = 0;

  /**
   * Recompute everything derived from `raw` (after a fetch or a restore). glxMax: the largest
   * GCR3 table depth walked (EFR.GLXSup); a legal DTE.GLX above it reads as glxMax in `f`
   * (AMD: with GLXSup = 00b GLX is ignored and one GCR3 level is looked up).
   */
  derive(maxHostLevels: number, illegal: (d: Dte) => boolean, glxMax = 2): void {
    const f = decodeDte(this.raw, this.f);
    this.guestLevels = f.GuestPagingMode === 1 ? 5 : 4;
    this.illegal = illegal(this);
    if (f.GLX > glxMax && f.GLX !== 3) f.GLX = glxMax;
    const translating = f.V && f.TV && !this.illegal;
    this.hostWalk = translating && f.Mode >= 1 && f.Mode <= maxHostLevels && !(f.GV && f.GIoV);
    this.guestWalk = translating && f.GV;
    this.domain = f.DomainID;
    this.hostKey = TagStore.key(f.DomainID, PasidKey.Host, 0);
    this.permMask = (f.IR ? Perm.R : 0) | (f.IW ? Perm.W | Perm.Dirty : 0) | Perm.U | Perm.X;
    this.hostLimit = 2 ** (9 * f.Mode + 12);
    this.rootWord = f.HostPageTableRootPtr < 8589934592 ? (f.HostPageTableRootPtr * 0.25) | 0 : -1;
    this.mode = f.Mode;
    this.had = f.HAD;
  }
}

export const DTE_OK = 0;
export const DTE_HARDWARE_ERROR = 1;
export const DTE_ILLEGAL = 2;

export class DeviceTable {
  readonly cache: TagStore;
  private readonly slots: Dte[];
  private readonly scratch = new Dte();
  /** Outcome of the last lookup (DTE_OK, DTE_HARDWARE_ERROR, DTE_ILLEGAL). */
  status = DTE_OK;
  /** SPA of the DTE of the last lookup (for DEV_TAB_HARDWARE_ERROR). */
  dteAddress = 0;
  /** The last lookup was served by the cache. */
  hit = false;
  /**
   * The front entry: the DeviceID and slot of the last device served through the cache. A
   * look-up of that device checks the slot's tag and changes no replacement state; any other
   * cached device is found in its set and becomes the most recently used.
   */
  private lastId = -1;
  private lastSlot = -1;
  private readonly maxHostLevels: number;
  private readonly illegalCheck = (d: Dte) => this.isIllegal(d);
  private readonly gatedMasks: { feature: string; mask: Uint32Array }[];

  constructor(
    private readonly regs: MmioRegisters,
    private readonly mem: MemoryPort,
    private readonly features: FeatureOptions,
    private readonly quirks: QuirkOptions,
    geometry: CacheGeometry,
    seed: number,
    private readonly featurePresent: (name: string) => boolean,
  ) {
    this.cache = new TagStore("dteCache", geometry, seed);
    this.maxHostLevels = features.hats + 4;
    this.slots = Array.from({ length: geometry.entries }, (_, i) => new Dte(i));
    this.gatedMasks = ["PPRSup", "GIoSup", "GTSup"].map((f) => ({ feature: f, mask: dteFeatureMask(f) }));
  }

  /** Number of DTEs the programmed Size field covers. */
  tableEntries(): number {
    return ((this.regs.lo(MMIO_DEVICE_TABLE_BASE) & 0x1ff) + 1) * 4096 / 32;
  }

  /** Fetch (or find cached) the DTE of deviceId; check `status` when it returns null. bypassCache: read memory, touch no cache (peek). */
  lookup(deviceId: number, bypassCache = false): Dte | null {
    const set = deviceId & this.cache.setMask;
    const useCache = this.cache.entries > 0 && !bypassCache;
    if (useCache) {
      // one-entry front cache of the last device served (checked against the tag, so an
      // invalidated or evicted way never hits)
      const last = this.lastSlot;
      const s = last >= 0 && this.lastId === deviceId && this.cache.kA[last] === TagStore.key(deviceId, 0, 0)
        ? last : this.cache.find(set, deviceId, 0, 0, 0);
      if (s >= 0) {
        this.cache.stats.hits++;
        this.hit = true;
        const d = this.slots[s]!;
        if (this.lastId !== deviceId) this.frontMoved();
        this.lastId = deviceId; this.lastSlot = s;
        this.status = d.illegal ? DTE_ILLEGAL : DTE_OK;
        return d.illegal ? null : d;
      }
      this.cache.stats.misses++;
    }
    this.hit = false;
    const base = this.regs.base(MMIO_DEVICE_TABLE_BASE);
    const pa = base + deviceId * 32;
    this.dteAddress = pa;
    if (deviceId >= this.tableEntries()) {
      this.status = this.quirks.deviceIdBeyondTable === "illegal-dte" ? DTE_ILLEGAL : DTE_HARDWARE_ERROR;
      return null;
    }
    if (!this.mem.contains(pa, 32)) { this.status = DTE_HARDWARE_ERROR; return null; }
    let d = this.scratch;
    if (useCache) {
      const slot = this.cache.allocate(set, deviceId, 0, 0, 0);
      d = this.slots[slot]!;
      this.frontMoved();
      this.lastId = deviceId; this.lastSlot = slot;
    }
    for (let i = 0; i < DTE_DWORDS; i++) d.raw[i] = this.mem.load32(pa + 4 * i);
    d.deviceId = deviceId;
    d.derive(this.maxHostLevels, this.illegalCheck, this.features.glxSup);
    d.faultLogged = false;
    this.status = d.illegal ? DTE_ILLEGAL : DTE_OK;
    return d.illegal ? null : d;
  }

  /** The checks of section 3.4 (only when V = 1; interrupt part only when IV = 1). */
  isIllegal(d: Dte): boolean {
    const f = d.f;
    const raw = d.raw;
    if (f.V) {
      for (let w = 0; w < 4; w++) if ((raw[w]! & DTE_RESERVED_TRANSLATION[w]!) !== 0) return true;
      for (const g of this.gatedMasks) {
        if (this.featurePresent(g.feature)) continue;
        for (let w = 0; w < 4; w++) if ((raw[w]! & g.mask[w]!) !== 0) return true;
      }
      // GLX = 11b is reserved; a GLX above EFR.GLXSup is read as GLXSup (AMD's GLXSup description), or illegal (quirks.glxAboveSupport)
      if (f.GLX === 3 || (f.GLX > this.features.glxSup && this.quirks.glxAboveSupport === "illegal-dte")) return true;
      if (f.GV && f.GCR3TableRootPtr === 0) return true;
      if (f.GuestPagingMode > 1 || (f.GuestPagingMode === 1 && this.features.gats < 1)) return true;
      if (f.IoCtl === 3) return true;
      if (f.HAD === 2) return true;
      if ((f.HAD & 1) && !this.features.hostAccessed) return true;
      if (f.HAD === 3 && !this.features.hostDirty) return true;
      if (this.quirks.reservedMode === "illegal-dte" && f.TV && (f.Mode === 7 || f.Mode > this.features.hats + 4)) return true;
    }
    if (f.IV) {
      for (let w = 4; w < 8; w++) if ((raw[w]! & DTE_RESERVED_INTERRUPT[w]!) !== 0) return true;
      if (f.IntCtl === 3 || f.IntTabLen > 11) return true;
    }
    return false;
  }

  /**
   * The front entry moves to another device: the cache's version changes, as when a way is
   * refilled (so a holder of the version, the translator's fast path, knows its device may no
   * longer be served through the front entry without a replacement-state update).
   */
  private frontMoved(): void { this.cache.version++; }

  /** INVALIDATE_DEVTAB_ENTRY: drop the cached DTE of deviceId. */
  invalidate(deviceId: number): void {
    if (this.cache.entries === 0) return;
    const s = this.cache.find(deviceId & this.cache.setMask, deviceId, 0, 0, 0);
    if (s >= 0) this.cache.invalidateSlot(s);
  }

  invalidateAll(): void { this.cache.invalidateAll(); }

  /** The cached DTE of a device, if any (debugging, peek). */
  cached(deviceId: number): Dte | null {
    if (this.cache.entries === 0) return null;
    for (let i = 0; i < this.cache.entries; i++) if (this.cache.valid[i] === 1 && this.cache.k0[i] === deviceId) return this.slots[i]!;
    return null;
  }

  snapshot() {
    return { tags: this.cache.snapshot(), slots: this.slots.map((d) => ({ raw: [...d.raw], deviceId: d.deviceId, faultLogged: d.faultLogged })) };
  }
  restore(s: ReturnType<DeviceTable["snapshot"]>): void {
    this.cache.restore(s.tags);
    s.slots.forEach((x, i) => {
      const d = this.slots[i]!;
      d.raw.set(x.raw); d.deviceId = x.deviceId; d.derive(this.maxHostLevels, this.illegalCheck, this.features.glxSup); d.faultLogged = x.faultLogged;
    });
  }
}
