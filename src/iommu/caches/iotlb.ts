/**
 * The IOMMU translation look-aside buffer (IOTLB).
 *
 * Tags follow the invalidation rules of commands-events-ppr.md 4.1: (DomainID, GN/PASID,
 * virtual page, page size). Host (GN = 0) entries use PASID key -1; guest entries the PASID.
 * Pages of every size coexist: a look-up probes each size currently held (usually one).
 * The payload is the SPA of the page and the permissions granted (R, W, execute allowed,
 * user allowed), whether D is already set in the leaf (a write hitting an entry without it
 * re-walks to set D), and whether the entry came from a nested walk (dropped by a GN = 0
 * invalidation of its domain: the safe reading of digest point 9).
 */
import { POW2, TagStore, type CacheGeometry } from "./tag-store.js";

export const PERM_R = 1;
export const PERM_W = 2;
/** Execute allowed (NX clear along the path). */
export const PERM_X = 4;
/** User-mode access allowed (U/S set along the path). */
export const PERM_U = 8;
/** D already set in the leaf entry. */
export const PERM_DIRTY = 16;
/** Built by a nested (guest + host) walk. */
export const PERM_NESTED = 32;
/** v1 PTE.U: untranslated access only, never handed out through ATS. */
export const PERM_NO_ATS = 64;

export const HOST_PASID_KEY = -1;

export class Iotlb {
  readonly tags: TagStore;
  readonly spa: Float64Array;
  readonly perms: Uint8Array;
  /** How many valid entries hold each log2 page size. */
  private readonly sizeCount = new Int32Array(64);
  /** log2 sizes currently present, ascending. */
  private active: number[] = [];
  /** log2 size of the last hit. */
  hitLog2 = 12;

  constructor(g: CacheGeometry, seed: number) {
    this.tags = new TagStore("iotlb", g, seed);
    this.spa = new Float64Array(g.entries);
    this.perms = new Uint8Array(g.entries);
  }

  get enabled(): boolean { return this.tags.entries > 0; }

  private static vpn(aHi: number, aLo: number, k: number): number {
    return k < 32 ? aHi * POW2[32 - k]! + (aLo >>> k) : aHi >>> (k - 32);
  }
  private setOf(aHi: number, aLo: number, k: number): number {
    const x = k < 32 ? (aLo >>> k) | (aHi << (32 - k)) : aHi >>> (k - 32);
    return (x ^ (x >>> 7)) & this.tags.setMask;
  }

  /** Slot of the entry translating (domain, pasidKey, address), or -1. */
  lookup(domain: number, pasidKey: number, aHi: number, aLo: number): number {
    const act = this.active;
    const t = this.tags;
    const kbase = (domain * 2097152 + (pasidKey + 1)) * 64;
    for (let i = 0; i < act.length; i++) {
      const k = act[i]!;
      let x: number, vpn: number;
      if (k < 32) { x = (aLo >>> k) | (aHi << (32 - k)); vpn = aHi * POW2[32 - k]! + (aLo >>> k); }
      else { x = vpn = aHi >>> (k - 32); }
      const slot = t.findKey((x ^ (x >>> 7)) & t.setMask, kbase + k, vpn);
      if (slot >= 0) { this.hitLog2 = k; t.stats.hits++; return slot; }
    }
    t.stats.misses++;
    return -1;
  }

  insert(domain: number, pasidKey: number, aHi: number, aLo: number, log2Size: number, spaBase: number, perms: number): void {
    const t = this.tags;
    if (t.entries === 0) return;
    const slot = t.allocate(this.setOf(aHi, aLo, log2Size), domain, pasidKey, log2Size, Iotlb.vpn(aHi, aLo, log2Size));
    if (t.lastAllocKind === 2) { this.dropSize(t.evictedK2); this.addSize(log2Size); }
    else if (t.lastAllocKind === 1) this.addSize(log2Size);
    this.spa[slot] = spaBase;
    this.perms[slot] = perms;
  }

  private addSize(k: number): void {
    if (this.sizeCount[k]!++ === 0) { this.active.push(k); this.active.sort((a, b) => a - b); }
  }
  private dropSize(k: number): void {
    if (--this.sizeCount[k]! === 0) this.active = this.active.filter((x) => x !== k);
  }

  private drop(slot: number): void {
    this.dropSize(this.tags.k2[slot]!);
    this.tags.invalidateSlot(slot);
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
    for (let i = 0; i < t.entries; i++) {
      if (t.valid[i] !== 1 || t.k0[i] !== domain) continue;
      if (gn) {
        if (t.k1[i] !== pasid) continue;
      } else if (t.k1[i] !== HOST_PASID_KEY) {
        if ((this.perms[i]! & PERM_NESTED) === 0) continue;
        this.drop(i); dropped++; continue; // a host change may stale any nested entry of the domain
      }
      const scale = 2 ** (t.k2[i]! - 12);
      const start = t.k3[i]! * scale;
      if (start < end && firstPage < start + scale) { this.drop(i); dropped++; }
    }
    return dropped;
  }

  /** Drop entries of a domain (any space): used when a DTE change moves a device away. */
  invalidateDomain(domain: number): number {
    let n = 0;
    for (let i = 0; i < this.tags.entries; i++) if (this.tags.valid[i] === 1 && this.tags.k0[i] === domain) { this.drop(i); n++; }
    return n;
  }

  invalidateAll(): void {
    for (let i = 0; i < this.tags.entries; i++) if (this.tags.valid[i] === 1) this.drop(i);
  }

  /** Every valid entry, for replay, debugging and tests. */
  *entries(): Generator<{ domain: number; pasid: number | null; address: bigint; pageSize: number; spa: number; perms: number }> {
    const t = this.tags;
    for (let i = 0; i < t.entries; i++) {
      if (t.valid[i] !== 1) continue;
      const k = t.k2[i]!;
      yield { domain: t.k0[i]!, pasid: t.k1[i] === HOST_PASID_KEY ? null : t.k1[i]!, address: BigInt(t.k3[i]!) << BigInt(k),
        pageSize: 2 ** k, spa: this.spa[i]!, perms: this.perms[i]! };
    }
  }

  snapshot() { return { tags: this.tags.snapshot(), spa: [...this.spa], perms: [...this.perms] }; }
  restore(s: ReturnType<Iotlb["snapshot"]>): void {
    this.tags.restore(s.tags); this.spa.set(s.spa); this.perms.set(s.perms);
    this.sizeCount.fill(0); this.active = [];
    for (let i = 0; i < this.tags.entries; i++) if (this.tags.valid[i] === 1) this.addSize(this.tags.k2[i]!);
  }
}
