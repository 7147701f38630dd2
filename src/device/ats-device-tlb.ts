/**
 * The ATS device TLB of a PCIe function, the Address Translation Cache (ATC) (PCIe ATS;
 * docs/spec-readings.md cmd 4.4 and 5.e).
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
import type { ReplacementPolicy } from "../iommu/caches/tag-store.js";
import { PageTagCache } from "../iommu/caches/page-tag-cache.js";

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

export class AtsDeviceTlb extends PageTagCache {
  /** "every-pasid": an invalidation without a PASID drops matching entries of every space. */
  untaggedScope: "every-pasid" | "untagged-only" = "every-pasid";
  private invalidateRequests = 0;

  constructor(g: AtcGeometry) {
    if (g === null || typeof g !== "object") throw new TypeError("AtsDeviceTlb: geometry must be an object like { entries: 32 }");
    const seed = g.seed ?? 1;
    if (!Number.isInteger(seed)) throw new TypeError(`AtsDeviceTlb: geometry.seed must be an integer, got ${String(seed)}`);
    super("ats", { entries: g.entries, ...(g.ways !== undefined ? { ways: g.ways } : {}), ...(g.replacement ? { replacement: g.replacement } : {}) }, seed);
  }

  get capacity(): number { return this.tags.entries; }
  /** Sets (entries / ways): what an invalidation of a range walks. */
  get sets(): number { return this.tags.sets; }
  get occupancy(): number { return this.tags.occupancy; }
  /** Hits, misses, fills, evictions, invalidated entries and ATS Invalidate Requests received. */
  get stats(): AtcStats { return { ...this.tags.stats, invalidateRequests: this.invalidateRequests }; }

  /** Slot of the entry translating (pasidKey, address), or -1. */
  lookup(pasidKey: number, aHi: number, aLo: number): number {
    return this.lookupPage(0, pasidKey, aHi, aLo);
  }

  /** Fill from a translation completion: page of 2^log2 bytes at spaBase with ATC_* perms. */
  insert(pasidKey: number, aHi: number, aLo: number, log2: number, spaBase: number, perms: number): void {
    this.insertPage(0, pasidKey, aHi, aLo, log2, spaBase, perms);
  }

  /**
   * An ATS Invalidate Request: drop the entries of the space (gn: that PASID) overlapping
   * [firstPage, firstPage + pages) in 4 KiB page numbers (pages = Infinity for all).
   * Returns the number of entries dropped.
   */
  invalidate(gn: boolean, pasid: number, firstPage: number, pages: number): number {
    const t = this.tags;
    this.invalidateRequests++;
    const end = firstPage + pages;
    const onlyUntagged = !gn && this.untaggedScope === "untagged-only";
    let n = 0;
    for (let i = 0; i < t.entries; i++) {
      if (t.valid[i] !== 1) continue;
      if (gn ? t.k1[i] !== pasid : onlyUntagged && t.k1[i] !== ATC_NO_PASID) continue;
      if (this.overlaps(i, firstPage, end)) { this.drop(i); n++; }
    }
    return n;
  }

  /** Every valid entry (tests, debugging). */
  *entries(): Generator<{ pasid: number | null; address: bigint; pageSize: number; spa: number; perms: number }> {
    const t = this.tags;
    for (let i = 0; i < t.entries; i++) {
      if (t.valid[i] !== 1) continue;
      yield { pasid: t.k1[i] === ATC_NO_PASID ? null : t.k1[i]!, ...this.pageOf(i), spa: this.spa[i]!, perms: this.perms[i]! };
    }
  }
}
