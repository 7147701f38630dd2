/**
 * The IOMMU translation look-aside buffer (IOTLB).
 *
 * Tags follow the invalidation rules of docs/spec-readings.md cmd 4.1: (DomainID, GN/PASID,
 * virtual page, page size). Host (GN = 0) entries use PASID key -1; guest entries the PASID.
 * Pages of every size coexist: a look-up probes each size currently held (usually one).
 * The payload is the SPA of the page and the permissions granted (R, W, execute allowed,
 * user allowed), whether D is already set in the leaf (a write hitting an entry without it
 * re-walks to set D), and whether the entry came from a nested walk (dropped by a GN = 0
 * invalidation of its domain: the safe reading of docs/spec-readings.md cmd 6.9).
 */
import type { CacheGeometry } from "./tag-store.js";
import { PageTagCache } from "./page-tag-cache.js";

/**
 * Permission and state bits of an entry (a `const enum`: TypeScript inlines the members as
 * literals, where an imported `const` costs a load and a hole check at every use in V8).
 */
export const enum Perm {
  R = 1,
  W = 2,
  /** Execute allowed (NX clear along the path). */
  X = 4,
  /** User-mode access allowed (U/S set along the path). */
  U = 8,
  /** D already set in the leaf entry. */
  Dirty = 16,
  /** Built by a nested (guest + host) walk. */
  Nested = 32,
  /** v1 PTE.U: untranslated access only, never handed out through ATS. */
  NoAts = 64,
}

/** The PASID key of a tag: the PASID for guest (GN = 1) entries, Host for the host space. */
export const enum PasidKey {
  Host = -1,
}

export class Iotlb extends PageTagCache {
  constructor(g: CacheGeometry, seed: number) {
    super("iotlb", g, seed);
  }

  /** Slot of the entry translating (domain, pasidKey, address), or -1. */
  lookup(domain: number, pasidKey: number, aHi: number, aLo: number): number {
    return this.lookupPage(domain, pasidKey, aHi, aLo);
  }

  insert(domain: number, pasidKey: number, aHi: number, aLo: number, log2Size: number, spaBase: number, perms: number): void {
    this.insertPage(domain, pasidKey, aHi, aLo, log2Size, spaBase, perms);
  }

  /**
   * Drop every entry of `domain` whose space matches and whose page overlaps the range
   * [firstPage, firstPage + pages) in 4 KiB page numbers (pages = Infinity for all).
   * gn = false: host entries of the domain, plus nested-built guest entries (safe reading);
   * gn = true: guest entries of (domain, pasid).
   */
  invalidate(domain: number, gn: boolean, pasid: number, firstPage: number, pages: number): number {
    const t = this.tags;
    let dropped = 0;
    const end = firstPage + pages;
    for (let k = t.occupancy - 1; k >= 0; k--) { // the valid entries only (tag-store.ts live)
      const i = t.live[k]!;
      if (t.k0[i] !== domain) continue;
      if (gn) {
        if (t.k1[i] !== pasid) continue;
      } else if (t.k1[i] !== PasidKey.Host) {
        if ((this.perms[i]! & Perm.Nested) === 0) continue;
        this.drop(i); dropped++; continue; // a host change may stale any nested entry of the domain
      }
      if (this.overlaps(i, firstPage, end)) { this.drop(i); dropped++; }
    }
    return dropped;
  }

  /** Every valid entry, for replay, debugging and tests. */
  *entries(): Generator<{ domain: number; pasid: number | null; address: bigint; pageSize: number; spa: number; perms: number }> {
    const t = this.tags;
    for (let i = 0; i < t.entries; i++) {
      if (t.valid[i] !== 1) continue;
      yield { domain: t.k0[i]!, pasid: t.k1[i] === PasidKey.Host ? null : t.k1[i]!, ...this.pageOf(i), spa: this.spa[i]!, perms: this.perms[i]! };
    }
  }

}
