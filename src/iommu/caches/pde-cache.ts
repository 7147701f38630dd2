/**
 * Page-directory (walk) cache: non-leaf entries of host (v1) and guest (long-mode) walks.
 *
 * Tag: (DomainID, PASID key: -1 for host tables, else the PASID; level L of the cached
 * entry; VA prefix = address >> shift(L)). Payload: where the walk continues (the next
 * table's SPA and level) and the permissions accumulated down to that entry. A hit at the
 * lowest cached level lets the walk skip every level above it. Only entries from
 * successful walks are filled, so their A bits were already set.
 * INVALIDATE_IOMMU_PAGES with PDE = 1 drops the entries overlapping the range.
 */
import { TagStore, type CacheGeometry } from "./tag-store.js";
import { PasidKey } from "./iotlb.js";

export interface PdeCacheGeometry extends CacheGeometry {
  /** Lowest entry level cached (2 = the entry that points at a PT). Default 2. */
  minLevel?: number;
}

export class PdeCache {
  readonly tags: TagStore;
  /** SPA of the table the cached entry points to. */
  readonly next: Float64Array;
  readonly nextLevel: Uint8Array;
  /** Accumulated permission bits (PERM_* of iotlb.ts), down to and including this entry. */
  readonly perms: Uint8Array;
  /** Guest entries built through a nested walk. */
  readonly nested: Uint8Array;
  readonly minLevel: number;
  /** Per entry level, host tables (0-7) and guest tables (8-15), the slot last found or filled there (probe() tries it first; 0 until set: always checked against the tags). */
  private readonly hint = new Int32Array(16);
  /** The slot found there before the last one: a nested walk's host walks alternate between the guest tables' region and the data's. */
  private readonly hint2 = new Int32Array(16);

  constructor(g: PdeCacheGeometry, seed: number) {
    this.tags = new TagStore("pdeCache", g, seed);
    this.next = new Float64Array(g.entries);
    this.nextLevel = new Uint8Array(g.entries);
    this.perms = new Uint8Array(g.entries);
    this.nested = new Uint8Array(g.entries);
    const m = g.minLevel ?? 2;
    if (!Number.isInteger(m) || m < 2 || m > 6) throw new RangeError(`pdeCache.minLevel must be 2..6, got ${String(m)}`);
    this.minLevel = m;
  }

  get enabled(): boolean { return this.tags.entries > 0; }

  /** VA prefix of a level-L entry: the address above the level's index shift 9L + 3 (v1 and long mode alike). */
  prefixOf(aHi: number, aLo: number, level: number): number {
    const sh = 9 * level + 3;
    return sh >= 32 ? aHi >>> (sh - 32) : aHi * (1 << (32 - sh)) + (aLo >>> sh);
  }
  private setOf(prefix: number, level: number): number {
    const x = (prefix >>> 0) ^ level * 0x9e37; // prefix mod 2^32 (ToUint32), without a floating-point modulo
    return (x ^ (x >>> 9)) & this.tags.setMask;
  }

  /** Slot of a cached entry, or -1. */
  lookup(domain: number, pasidKey: number, level: number, prefix: number): number {
    const t = this.tags;
    const s = this.probe(domain, pasidKey, level, prefix);
    if (s >= 0) { t.touch(s); t.stats.hits++; } else t.stats.misses++;
    return s;
  }

  /**
   * lookup() without its side effects (statistics, replacement state): commit them with
   * commitLookups(). The slot last found or filled at this level is tried first: a tag is held
   * by at most one slot, so when that slot's tag matches it is the slot the set scan would
   * find (the same outcome; a stale hint only costs the scan). Consecutive walks of a
   * streaming workload hit the same entry.
   */
  probe(domain: number, pasidKey: number, level: number, prefix: number): number {
    const t = this.tags;
    const ka = (domain * 2097152 + (pasidKey + 1)) * 64 + level; // TagStore.key
    const hi = pasidKey < 0 ? level : level + 8; // host and guest tables apart (a nested walk alternates them)
    const h = this.hint[hi]!;
    if (t.k3[h] === prefix && t.kA[h] === ka) return h;
    t.key[0] = ka; t.key[1] = prefix; // (the tag for probeOther: see TagStore.key)
    return this.probeOther(hi, h, level);
  }

  /** probe() past its first hint (kept out of line, so that probe() stays small enough to inline): the second hint, then the set scan of the tag in tags.key. */
  private probeOther(hi: number, h: number, level: number): number {
    const t = this.tags;
    const ka = t.key[0]!, prefix = t.key[1]!;
    const h2 = this.hint2[hi]!;
    if (t.k3[h2] === prefix && t.kA[h2] === ka) { this.hint2[hi] = h; this.hint[hi] = h2; return h2; }
    const s = t.probeKey(this.setOf(prefix, level));
    if (s >= 0) { this.hint2[hi] = h; this.hint[hi] = s; }
    return s;
  }

  /** Account `lookups` probes of which the last one hit `slot` (-1: none hit), as lookup() would have. */
  commitLookups(lookups: number, slot: number): void {
    const st = this.tags.stats;
    if (slot >= 0) { st.hits++; st.misses += lookups - 1; this.tags.touch(slot); } else st.misses += lookups;
  }

  insert(domain: number, pasidKey: number, level: number, prefix: number, next: number, nextLevel: number, perms: number, nested: boolean): void {
    if (this.tags.entries === 0 || level < this.minLevel) return;
    this.tags.key[1] = prefix;
    const slot = this.tags.allocateKey(this.setOf(prefix, level), domain, pasidKey, level);
    this.hint[pasidKey < 0 ? level : level + 8] = slot;
    this.next[slot] = next;
    this.nextLevel[slot] = nextLevel;
    this.perms[slot] = perms;
    this.nested[slot] = nested ? 1 : 0;
  }

  /** Drop entries overlapping [firstPage, firstPage + pages) (4 KiB page numbers); same space rules as the IOTLB. */
  invalidate(domain: number, gn: boolean, pasid: number, firstPage: number, pages: number, shiftOf: (level: number) => number): number {
    const t = this.tags;
    let n = 0;
    const end = firstPage + pages;
    for (let k = t.occupancy - 1; k >= 0; k--) { // the valid entries only (tag-store.ts live)
      const i = t.live[k]!;
      if (t.k0[i] !== domain) continue;
      if (gn) { if (t.k1[i] !== pasid) continue; }
      else if (t.k1[i] !== PasidKey.Host) { if (this.nested[i] === 1) { t.invalidateSlot(i); n++; } continue; }
      const scale = 2 ** (shiftOf(t.k2[i]!) - 12);
      const start = t.k3[i]! * scale;
      if (start < end && firstPage < start + scale) { t.invalidateSlot(i); n++; }
    }
    return n;
  }

  invalidateAll(): void { this.tags.invalidateAll(); }

  snapshot() { return { tags: this.tags.snapshot(), next: [...this.next], nextLevel: [...this.nextLevel], perms: [...this.perms], nested: [...this.nested] }; }
  restore(s: ReturnType<PdeCache["snapshot"]>): void {
    this.tags.restore(s.tags); this.next.set(s.next); this.nextLevel.set(s.nextLevel); this.perms.set(s.perms); this.nested.set(s.nested);
  }
}
