/**
 * A cache of translations of pages of mixed sizes, shared by the IOMMU's IOTLB and an
 * endpoint's ATS device TLB (the ATC): each entry is tagged (k0, k1, log2 page size, virtual
 * page number) and holds the SPA of the page and permission bits. A look-up probes each page
 * size currently held (usually one); fills keep the set of sizes up to date. Range
 * invalidations drop the entries whose page overlaps the range. No allocation on look-up,
 * fill or invalidation.
 *
 * A look-up first tries a way hint: a direct-mapped table from a hash of the page number's
 * low 32 bits to the slot last found or filled for it. A tag is held by at most one slot, so
 * a hinted slot whose tag matches is the slot the set scan would find; a stale hint only
 * costs the scan. Outcomes, replacement state and statistics are those of the scan alone.
 * (The hint hash takes the low address word only, so its load does not wait for the high
 * word's conversion from floating point.)
 *
 * The hot paths hand the address (and a fill's SPA) over in `page`, a small typed array,
 * rather than as arguments: V8 passes a number that is not a small integer (a low word at or
 * above 2^30, an SPA) to a call it does not inline as a heap number, allocated per call, and
 * whether a call is inlined depends on what else its caller inlined
 * (`node --expose-gc dist/bench/heap-growth.js` measures the bytes allocated per translation).
 */
import { POW2, TagStore, type CacheGeometry } from "./tag-store.js";

export class PageTagCache {
  readonly tags: TagStore;
  readonly spa: Float64Array;
  readonly perms: Uint8Array;
  /** How many valid entries hold each log2 page size. */
  private readonly sizeCount = new Int32Array(64);
  /** log2 sizes currently present, ascending (the first activeCount). */
  private readonly active = new Int32Array(64);
  private activeCount = 0;
  /** probeHinted(): the one log2 size held when it is below 32 (else -1), and 2^(32 - it). */
  private hintLog2 = -1;
  private hintScale = 0;
  /** log2 size of the last hit. */
  hitLog2 = 12;
  /** The address of a probe() or fill(): page[0] its high word, page[1] its low word; page[2] a fill's SPA (see the header). */
  readonly page = new Float64Array(3);
  /** Way hints: slot last seen holding a page whose hintIndex() selects the element (0 until set; always checked). */
  private readonly hint: Int32Array;
  private readonly hintMask: number;

  constructor(name: string, g: CacheGeometry, seed: number) {
    this.tags = new TagStore(name, g, seed);
    this.spa = new Float64Array(g.entries);
    this.perms = new Uint8Array(g.entries);
    let h = 2;
    while (h < 2 * g.entries) h *= 2;
    this.hint = new Int32Array(h);
    this.hintMask = h - 1;
  }

  get enabled(): boolean { return this.tags.entries > 0; }

  /** The set of that page: a hash of the low 32 bits of its page number. */
  private setOf(aHi: number, aLo: number, k: number): number {
    const x = k < 32 ? (aLo >>> k) | (aHi << (32 - k)) : aHi >>> (k - 32);
    return (x ^ (x >>> 7)) & this.tags.setMask;
  }

  /** The way-hint element of a page of 2^k bytes: a hash of the low 32 bits of its page number. */
  private hintIndex(aHi: number, aLo: number, k: number): number {
    const v = k < 32 ? aLo >>> k : aHi >>> (k - 32);
    return (v ^ (v >>> 7)) & this.hintMask;
  }

  /** Slot of the entry of space (k0, k1) translating the address, or -1 (counted in tags.stats). */
  lookupPage(k0: number, k1: number, aHi: number, aLo: number): number {
    this.page[0] = aHi; this.page[1] = aLo;
    return this.lookupAt(k0, k1);
  }

  /** lookupPage() of the address in page[0..1]. */
  lookupAt(k0: number, k1: number): number {
    const slot = this.probe(k0, k1);
    if (slot >= 0) this.hit(slot);
    else this.tags.stats.misses++;
    return slot;
  }

  /**
   * lookupPage() of the address in page[0..1] without its effects: the slot (hitLog2 set to its
   * page size) or -1, with no replacement-state update and nothing counted. A caller that
   * serves the request from the slot commits it with hit(); one that counts a miss adds it to
   * tags.stats.misses.
   */
  probe(k0: number, k1: number): number {
    // the low word as an int32 (its bits: every use below shifts it with >>>), so that it is a
    // small integer, never a heap number, in a call V8 leaves out of line (setOf() on a hint miss)
    const aHi = this.page[0]!, aLo = this.page[1]! | 0;
    const act = this.active;
    const t = this.tags;
    const kA = t.kA, K3 = t.k3, hint = this.hint;
    const kbase = (k0 * 2097152 + (k1 + 1)) * 64; // TagStore.key without k2
    const n = this.activeCount;
    for (let i = 0; i < n; i++) {
      const k = act[i]!;
      const h = this.hintIndex(aHi, aLo, k);
      let slot = hint[h]!;
      const vpn = k < 32 ? aHi * (1 << (32 - k)) + (aLo >>> k) : aHi >>> (k - 32); // the page number, written out (a double returned from a call left out of line is a heap number)
      const ka = kbase + k;
      if (K3[slot] !== vpn || kA[slot] !== ka) {
        t.key[0] = ka; t.key[1] = vpn;
        slot = t.probeKey(this.setOf(aHi, aLo, k));
        if (slot < 0) continue;
        hint[h] = slot;
      }
      this.hitLog2 = k;
      return slot;
    }
    return -1;
  }

  /** A probe's slot serves the request: the replacement-state update and the hit count of a look-up. */
  hit(slot: number): void {
    const t = this.tags;
    t.touch(slot);
    t.stats.hits++;
  }

  /**
   * probe() for its common case in few bytecodes (the translator's hit path inlines it): one
   * page size below 4 GiB held and the way hint right. Otherwise -2: the caller then calls
   * probe(), which decides. kbase = TagStore.key(k0, k1, 0). (The address as arguments: on the
   * hit path V8 inlines this, and the two stores into page cost 2 ns of a 17 ns hit. The low
   * word may be given as an int32, `aLo | 0`: only its bits are used, and an int32 is a small
   * integer, never a heap number, in the calls V8 leaves out of line.)
   */
  probeHinted(kbase: number, aHi: number, aLo: number): number {
    const k = this.hintLog2;
    if (k < 0) return -2;
    const v = aLo >>> k;
    const slot = this.hint[(v ^ (v >>> 7)) & this.hintMask]!;
    const t = this.tags;
    if (t.k3[slot] !== aHi * this.hintScale + v || t.kA[slot] !== kbase + k) return -2;
    this.hitLog2 = k;
    return slot;
  }

  /** Fill: a page of 2^log2 bytes at spaBase for space (k0, k1). Returns the slot (-1 when the cache is off). */
  insertPage(k0: number, k1: number, aHi: number, aLo: number, log2: number, spaBase: number, perms: number): number {
    const page = this.page;
    page[0] = aHi; page[1] = aLo; page[2] = spaBase;
    return this.fill(k0, k1, log2, perms);
  }

  /** insertPage() of the address in page[0..1] and the SPA in page[2]. */
  fill(k0: number, k1: number, log2: number, perms: number): number {
    const t = this.tags;
    if (t.entries === 0) return -1;
    const aHi = this.page[0]!, aLo = this.page[1]!, spaBase = this.page[2]!;
    // the page number, written out (as in probe()): returned from a call V8 left out of line (fill() is inlined into the
    // translator's miss routes), it was a heap number per fill
    t.key[1] = log2 < 32 ? aHi * (1 << (32 - log2)) + (aLo >>> log2) : aHi >>> (log2 - 32);
    // setOf() and hintIndex(), written out: calls here were left out of line
    const x = log2 < 32 ? (aLo >>> log2) | (aHi << (32 - log2)) : aHi >>> (log2 - 32);
    const slot = t.allocateKey((x ^ (x >>> 7)) & t.setMask, k0, k1, log2);
    const v = log2 < 32 ? aLo >>> log2 : aHi >>> (log2 - 32);
    this.hint[(v ^ (v >>> 7)) & this.hintMask] = slot;
    if (t.lastAllocKind === 2) { if (t.evictedK2 !== log2) { this.dropSize(t.evictedK2); this.addSize(log2); } } // (same size: counts unchanged)
    else if (t.lastAllocKind === 1) this.addSize(log2);
    this.spa[slot] = spaBase;
    this.perms[slot] = perms;
    return slot;
  }

  private addSize(k: number): void {
    if (this.sizeCount[k]!++ !== 0) return;
    let i = this.activeCount++;
    while (i > 0 && this.active[i - 1]! > k) { this.active[i] = this.active[i - 1]!; i--; }
    this.active[i] = k;
    this.sizesChanged();
  }
  private dropSize(k: number): void {
    if (--this.sizeCount[k]! !== 0) return;
    let j = 0;
    for (let i = 0; i < this.activeCount; i++) if (this.active[i] !== k) this.active[j++] = this.active[i]!;
    this.activeCount = j;
    this.sizesChanged();
  }
  private sizesChanged(): void {
    const k = this.active[0]!;
    this.hintLog2 = this.activeCount === 1 && k < 32 ? k : -1;
    this.hintScale = this.hintLog2 < 0 ? 0 : 2 ** (32 - k);
  }

  /** Invalidate one entry. */
  drop(slot: number): void {
    this.dropSize(this.tags.k2[slot]!);
    this.tags.invalidateSlot(slot);
  }

  /** Does the page of `slot` overlap [firstPage, endPage) (4 KiB page numbers)? */
  overlaps(slot: number, firstPage: number, endPage: number): boolean {
    const scale = POW2[this.tags.k2[slot]! - 12]!;
    const start = this.tags.k3[slot]! * scale;
    return start < endPage && firstPage < start + scale;
  }

  invalidateAll(): void {
    const t = this.tags;
    for (let k = t.occupancy - 1; k >= 0; k--) this.drop(t.live[k]!);
  }

  /** Virtual address and size of the page in `slot`. */
  pageOf(slot: number): { address: bigint; pageSize: number } {
    const k = this.tags.k2[slot]!;
    return { address: BigInt(this.tags.k3[slot]!) << BigInt(k), pageSize: 2 ** k };
  }

  snapshot() { return { tags: this.tags.snapshot(), spa: [...this.spa], perms: [...this.perms] }; }
  restore(s: ReturnType<PageTagCache["snapshot"]>): void {
    this.tags.restore(s.tags); this.spa.set(s.spa); this.perms.set(s.perms);
    this.sizeCount.fill(0); this.activeCount = 0; this.sizesChanged();
    for (let i = 0; i < this.tags.entries; i++) if (this.tags.valid[i] === 1) this.addSize(this.tags.k2[i]!);
  }
}
