/**
 * The ATS device TLB of a PCIe function, the Address Translation Cache (ATC) (PCIe ATS;
 * commands-events-ppr.md 4.4 and 5.e).
 *
 * Filled from ATS Translation Completions (iommu.translateAts): each entry is tagged with
 * (PASID or "no PASID", page number, page size) and holds the SPA of the page and the
 * permissions the completion granted (R, W, execute, user). Pages of different sizes
 * coexist; a look-up probes each size present. Capacity, associativity and replacement
 * (LRU, FIFO, or random from a seed) are the function's own. An ATS Invalidate Request
 * drops every entry overlapping its range in its space: with a PASID, that PASID only;
 * without one, every entry of the function by default (`untaggedScope: "every-pasid"`, the
 * safe reading used when software changes a DTE) or only the entries fetched without a
 * PASID (`"untagged-only"`). No allocation on look-up, fill or invalidation.
 */
import { TagStore, type ReplacementPolicy } from "../iommu/caches/tag-store.js";

export const ATC_R = 1;
export const ATC_W = 2;
/** Execute allowed. */
export const ATC_X = 4;
/** User (unprivileged) access allowed. */
export const ATC_U = 8;

/** PASID key of translations fetched without a PASID prefix. */
export const ATC_NO_PASID = -1;

export interface AtcGeometry {
  /** Entries; 0 = no ATC (every access asks the IOMMU). */
  entries: number;
  /** Ways per set (default: fully associative up to 8). */
  ways?: number;
  replacement?: ReplacementPolicy;
  /** Seed of "random" replacement. */
  seed?: number;
}

export interface AtcStats { hits: number; misses: number; fills: number; evictions: number; invalidations: number; invalidateRequests: number }

export class AtsDeviceTlb {
  readonly tags: TagStore;
  readonly spa: Float64Array;
  readonly perms: Uint8Array;
  /** "every-pasid": an invalidation without a PASID drops matching entries of every space. */
  untaggedScope: "every-pasid" | "untagged-only" = "every-pasid";
  private readonly sizeCount = new Int32Array(64);
  private readonly active = new Int32Array(64);
  private activeCount = 0;
  /** log2 page size of the last hit. */
  hitLog2 = 12;
  readonly stats: AtcStats = { hits: 0, misses: 0, fills: 0, evictions: 0, invalidations: 0, invalidateRequests: 0 };

  constructor(g: AtcGeometry) {
    if (g === null || typeof g !== "object") throw new TypeError("AtsDeviceTlb: geometry must be an object like { entries: 32 }");
    const seed = g.seed ?? 1;
    if (!Number.isInteger(seed)) throw new TypeError(`AtsDeviceTlb: geometry.seed must be an integer, got ${String(seed)}`);
    this.tags = new TagStore("ats", { entries: g.entries, ...(g.ways !== undefined ? { ways: g.ways } : {}), ...(g.replacement ? { replacement: g.replacement } : {}) }, seed);
    this.spa = new Float64Array(g.entries);
    this.perms = new Uint8Array(g.entries);
  }

  get enabled(): boolean { return this.tags.entries > 0; }
  get capacity(): number { return this.tags.entries; }
  get occupancy(): number { return this.tags.occupancy; }

  private static vpn(aHi: number, aLo: number, k: number): number {
    return k < 32 ? aHi * 2 ** (32 - k) + (aLo >>> k) : aHi >>> (k - 32);
  }
  private setOf(aHi: number, aLo: number, k: number, pasidKey: number): number {
    const x = (k < 32 ? (aLo >>> k) | (aHi << (32 - k)) : aHi >>> (k - 32)) ^ (pasidKey * 0x9e37);
    return (x ^ (x >>> 7)) & this.tags.setMask;
  }

  /** Slot of the entry translating (pasidKey, address), or -1. */
  lookup(pasidKey: number, aHi: number, aLo: number): number {
    const t = this.tags;
    for (let i = 0; i < this.activeCount; i++) {
      const k = this.active[i]!;
      const s = t.find(this.setOf(aHi, aLo, k, pasidKey), 0, pasidKey, k, AtsDeviceTlb.vpn(aHi, aLo, k));
      if (s >= 0) { this.hitLog2 = k; this.stats.hits++; return s; }
    }
    this.stats.misses++;
    return -1;
  }

  /** Fill from a translation completion: page of 2^log2 bytes at spaBase with ATC_* perms. */
  insert(pasidKey: number, aHi: number, aLo: number, log2: number, spaBase: number, perms: number): void {
    const t = this.tags;
    if (t.entries === 0) return;
    const slot = t.allocate(this.setOf(aHi, aLo, log2, pasidKey), 0, pasidKey, log2, AtsDeviceTlb.vpn(aHi, aLo, log2));
    if (t.lastAllocKind === 2) { this.stats.evictions++; this.dropSize(t.evictedK2); this.addSize(log2); }
    else if (t.lastAllocKind === 1) this.addSize(log2);
    this.stats.fills++;
    this.spa[slot] = spaBase;
    this.perms[slot] = perms;
  }

  private addSize(k: number): void {
    if (this.sizeCount[k]!++ !== 0) return;
    let i = this.activeCount++;
    while (i > 0 && this.active[i - 1]! > k) { this.active[i] = this.active[i - 1]!; i--; }
    this.active[i] = k;
  }
  private dropSize(k: number): void {
    if (--this.sizeCount[k]! !== 0) return;
    let j = 0;
    for (let i = 0; i < this.activeCount; i++) if (this.active[i] !== k) this.active[j++] = this.active[i]!;
    this.activeCount = j;
  }
  private drop(slot: number): void {
    this.dropSize(this.tags.k2[slot]!);
    this.tags.invalidateSlot(slot);
    this.stats.invalidations++;
  }

  /**
   * An ATS Invalidate Request: drop the entries of the space (gn: that PASID) overlapping
   * [firstPage, firstPage + pages) in 4 KiB page numbers (pages = Infinity for all).
   * Returns the number of entries dropped.
   */
  invalidate(gn: boolean, pasid: number, firstPage: number, pages: number): number {
    const t = this.tags;
    this.stats.invalidateRequests++;
    const end = firstPage + pages;
    const onlyUntagged = !gn && this.untaggedScope === "untagged-only";
    let n = 0;
    for (let i = 0; i < t.entries; i++) {
      if (t.valid[i] !== 1) continue;
      if (gn ? t.k1[i] !== pasid : onlyUntagged && t.k1[i] !== ATC_NO_PASID) continue;
      const scale = 2 ** (t.k2[i]! - 12);
      const start = t.k3[i]! * scale;
      if (start < end && firstPage < start + scale) { this.drop(i); n++; }
    }
    return n;
  }

  invalidateAll(): void {
    for (let i = 0; i < this.tags.entries; i++) if (this.tags.valid[i] === 1) this.drop(i);
  }

  /** Every valid entry (tests, debugging). */
  *entries(): Generator<{ pasid: number | null; address: bigint; pageSize: number; spa: number; perms: number }> {
    const t = this.tags;
    for (let i = 0; i < t.entries; i++) {
      if (t.valid[i] !== 1) continue;
      const k = t.k2[i]!;
      yield { pasid: t.k1[i] === ATC_NO_PASID ? null : t.k1[i]!, address: BigInt(t.k3[i]!) << BigInt(k), pageSize: 2 ** k, spa: this.spa[i]!, perms: this.perms[i]! };
    }
  }
}
