/**
 * A set-associative tag array shared by the IOMMU's caches (IOTLB, page-directory cache,
 * GCR3-entry cache, DTE cache). Struct-of-arrays, no allocation after construction.
 *
 * A tag is four numbers: k0 (DomainID or DeviceID), k1 (PASID key: the PASID for GN = 1,
 * -1 for the host space), k2 (level or log2 page size), k3 (page / prefix number, < 2^53).
 * The owning cache stores its payload in arrays indexed by the slot this store returns.
 * Replacement: LRU (default), FIFO, or random from an injected seed (xorshift32).
 */
/** 2^i for i = 0..63: a table load instead of `2 ** i` (Math.pow) on the hot paths. */
export const POW2 = Float64Array.from({ length: 64 }, (_, i) => 2 ** i);

export type ReplacementPolicy = "lru" | "fifo" | "random";

export interface CacheGeometry {
  /** Total entries; 0 turns the cache off. */
  entries: number;
  /** Ways per set; entries / ways sets (a power of two). Defaults to fully associative up to 8 ways. */
  ways?: number;
  replacement?: ReplacementPolicy;
}

export interface CacheStats { hits: number; misses: number; fills: number; evictions: number; invalidations: number }

export class TagStore {
  readonly entries: number;
  readonly ways: number;
  readonly sets: number;
  readonly setMask: number;
  readonly policy: ReplacementPolicy;
  private readonly lru: boolean;
  readonly valid: Uint8Array;
  readonly k0: Int32Array;
  readonly k1: Int32Array;
  readonly k2: Int32Array;
  readonly k3: Float64Array;
  /** k0, k1 and k2 folded into one number (-1 when the way is invalid): look-ups compare two numbers per way. */
  readonly kA: Float64Array;
  /**
   * Replacement order: the clock value of the last touch (LRU) or of the fill (FIFO); -1 while
   * the way is invalid, so the oldest stamp of a set is its first free way when it has one
   * (allocateKey finds a free way and the victim with one comparison per way).
   */
  private readonly stamp: Float64Array;
  private clock = 0;
  private rng: number;
  readonly stats: CacheStats = { hits: 0, misses: 0, fills: 0, evictions: 0, invalidations: 0 };
  /** Number of valid entries. */
  occupancy = 0;
  /**
   * The valid slots, densely: live[0 .. occupancy - 1] (any order), and each valid slot's
   * position in it (-1 when invalid). Invalidations walk this list, so their cost follows
   * the entries held, not the capacity (a 2^20-entry cache that holds 3 entries costs 3).
   * Walk it backwards when dropping: invalidateSlot moves the last entry into the hole.
   */
  readonly live: Int32Array;
  private readonly livePos: Int32Array;
  /**
   * Changes whenever a way is given to another tag or invalidated (allocate of a new tag,
   * invalidate, restore), and when the owner says so (the device table, when its front entry
   * moves to another device): a holder of a slot number whose version is unchanged knows the
   * slot still holds its tag, without comparing tags.
   */
  version = 0;
  /**
   * The tag a look-up (probeKey) or a fill (allocateKey) works on: key[0] its folded key (k0, k1,
   * k2; see TagStore.key()), key[1] its k3. The hot callers set these elements rather than pass the numbers: k3 (a
   * page or prefix number) and a folded key are often not small integers, and V8 passes such a
   * number to a call it does not inline as a heap number, allocated per call.
   */
  readonly key = new Float64Array(2);
  /** What the last allocate did: 0 refreshed a matching entry, 1 used a free way, 2 evicted. */
  lastAllocKind = 0;
  /** k2 of the entry the last allocate evicted (valid when lastAllocKind = 2). */
  evictedK2 = -1;

  constructor(name: string, g: CacheGeometry, seed: number) {
    const entries = g.entries;
    if (!Number.isInteger(entries) || entries < 0 || entries > 1 << 20) {
      throw new RangeError(`${name}.entries must be an integer from 0 to 1048576, got ${String(entries)}`);
    }
    const ways = g.ways ?? Math.min(entries, 8);
    if (entries > 0 && (!Number.isInteger(ways) || ways < 1 || entries % ways !== 0)) {
      throw new RangeError(`${name}.ways must divide ${name}.entries (${entries}), got ${String(ways)}`);
    }
    const sets = entries === 0 ? 1 : entries / ways;
    if ((sets & (sets - 1)) !== 0) throw new RangeError(`${name}: entries / ways must be a power of two, got ${sets} sets`);
    const policy = g.replacement ?? "lru";
    if (policy !== "lru" && policy !== "fifo" && policy !== "random") {
      throw new RangeError(`${name}.replacement must be "lru", "fifo" or "random", got ${String(policy)}`);
    }
    this.entries = entries;
    this.ways = entries === 0 ? 0 : ways;
    this.sets = sets;
    this.setMask = sets - 1;
    this.policy = policy;
    this.lru = policy === "lru";
    this.valid = new Uint8Array(entries);
    this.k0 = new Int32Array(entries);
    this.k1 = new Int32Array(entries);
    this.k2 = new Int32Array(entries);
    this.k3 = new Float64Array(entries);
    this.kA = new Float64Array(entries).fill(-1);
    this.stamp = new Float64Array(entries).fill(-1);
    this.live = new Int32Array(entries);
    this.livePos = new Int32Array(entries).fill(-1);
    this.rng = (seed | 0) || 0x9e3779b9;
  }

  /**
   * The folded key of (k0, k1, k2): k0 < 2^16 (DomainID / DeviceID), -1 <= k1 < 2^20 (PASID key),
   * 0 <= k2 < 64 (level / log2 size). Exact in a double (< 2^43).
   */
  static key(k0: number, k1: number, k2: number): number {
    return (k0 * 2097152 + (k1 + 1)) * 64 + k2;
  }

  /** Slot of a matching valid entry in set `set`, or -1. Updates LRU state on a hit. */
  find(set: number, k0: number, k1: number, k2: number, k3: number): number {
    this.key[0] = (k0 * 2097152 + (k1 + 1)) * 64 + k2;
    this.key[1] = k3;
    const i = this.probeKey(set);
    if (i >= 0 && this.lru === true) this.stamp[i] = ++this.clock;
    return i;
  }

  /** Slot of the valid entry whose tag is (keyA, key3) in set `set`, or -1, changing nothing (a look-up whose outcome is committed later with touch()). */
  probeKey(set: number): number {
    const key = this.key;
    const ka = key[0]!, k3 = key[1]!;
    const w = this.ways;
    const base = set * w;
    const kA = this.kA, K3 = this.k3;
    for (let i = base; i < base + w; i++) if (K3[i] === k3 && kA[i] === ka) return i;
    return -1;
  }

  /** The replacement-state update of a hit on `slot` (what find() does on a hit). */
  touch(slot: number): void {
    if (this.lru === true) this.stamp[slot] = ++this.clock; // (=== true: a boolean field is otherwise tested as any value)
  }

  /** Slot to fill for a tag in `set`: an existing match, else an invalid way, else the policy's victim. */
  allocate(set: number, k0: number, k1: number, k2: number, k3: number): number {
    this.key[1] = k3;
    return this.allocateKey(set, k0, k1, k2);
  }

  /** allocate() of the tag (k0, k1, k2, this.key3). */
  allocateKey(set: number, k0: number, k1: number, k2: number): number {
    const k3 = this.key[1]!;
    const w = this.ways;
    const base = set * w;
    const ka = (k0 * 2097152 + (k1 + 1)) * 64 + k2;
    const kA = this.kA, K3 = this.k3, stamp = this.stamp;
    // one pass: a match, else the first of the smallest stamps, which is the first free way when
    // the set has one (stamp -1) and otherwise the LRU / FIFO victim (one comparison per way
    // and no branch on validity: a fill of a full 4-way set measured alone 16.3 -> 14.5-15 ns)
    let match = -1, victim = base, oldest = Infinity;
    for (let i = base; i < base + w; i++) {
      if (kA[i] === ka && K3[i] === k3) { match = i; break; }
      const st = stamp[i]!;
      if (st < oldest) { oldest = st; victim = i; }
    }
    if (match >= 0) return this.refill(match);
    // a free way, or a policy other than LRU, in a method of its own: the common fill of a
    // working set larger than the cache (LRU, set full) stays small enough for V8 to inline
    // into its caller (working-set translations 0.94-0.95 of the time; the random victim
    // written out here had doubled the cost of every LRU allocate, 8 ways 35 -> 18.6 ns)
    if (oldest === -1 || this.lru === false) return this.allocateOther(oldest === -1 ? victim : -1, victim, base, k0, k1, k2, ka);
    this.stats.evictions++;
    this.lastAllocKind = 2;
    this.evictedK2 = this.k2[victim]!;
    this.version++;
    // (valid[victim] is 1 already: the set is full)
    this.k0[victim] = k0; this.k1[victim] = k1; this.k2[victim] = k2; K3[victim] = k3;
    kA[victim] = ka;
    stamp[victim] = ++this.clock;
    this.stats.fills++;
    return victim;
  }

  /** allocateKey() of a tag already held in `slot`: a fill that refreshes it. */
  private refill(slot: number): number {
    this.stamp[slot] = ++this.clock;
    this.stats.fills++;
    this.lastAllocKind = 0;
    return slot;
  }

  /** allocateKey()'s other cases: the free way `free` (-1: none), or the FIFO (`victim`) or random policy's way to evict. */
  private allocateOther(free: number, victim: number, base: number, k0: number, k1: number, k2: number, ka: number): number {
    let slot = free;
    if (slot < 0) {
      slot = this.policy === "random" ? this.randomWay(base, this.ways) : victim;
      this.stats.evictions++;
      this.lastAllocKind = 2;
      this.evictedK2 = this.k2[slot]!;
    } else {
      this.live[this.occupancy] = slot;
      this.livePos[slot] = this.occupancy;
      this.occupancy++;
      this.lastAllocKind = 1;
    }
    this.version++;
    this.valid[slot] = 1;
    this.k0[slot] = k0; this.k1[slot] = k1; this.k2[slot] = k2; this.k3[slot] = this.key[1]!;
    this.kA[slot] = ka;
    this.stamp[slot] = ++this.clock;
    this.stats.fills++;
    return slot;
  }

  /** The random policy's victim in the set at `base` of `w` ways (xorshift32 from the injected seed). */
  private randomWay(base: number, w: number): number {
    let x = this.rng; x ^= x << 13; x ^= x >>> 17; x ^= x << 5; this.rng = x;
    return base + ((x >>> 0) % w);
  }

  invalidateSlot(i: number): void {
    if (this.valid[i] === 1) {
      this.valid[i] = 0; this.kA[i] = -1; this.stamp[i] = -1; this.stats.invalidations++; this.version++;
      const p = this.livePos[i]!, last = this.live[--this.occupancy]!;
      this.live[p] = last; this.livePos[last] = p; this.livePos[i] = -1;
    }
  }

  invalidateAll(): void {
    for (let k = this.occupancy - 1; k >= 0; k--) this.invalidateSlot(this.live[k]!);
  }

  /** Plain-data copy of the tag state (snapshots). */
  snapshot(): { valid: number[]; k0: number[]; k1: number[]; k2: number[]; k3: number[]; stamp: number[]; clock: number; rng: number; occupancy: number; stats: CacheStats } {
    return { valid: [...this.valid], k0: [...this.k0], k1: [...this.k1], k2: [...this.k2], k3: [...this.k3], stamp: Array.from(this.stamp, (v) => (v < 0 ? 0 : v)), // (an invalid way's -1 written as 0: a stamp is a cycle count)
      clock: this.clock, rng: this.rng, occupancy: this.occupancy, stats: { ...this.stats } };
  }
  restore(s: ReturnType<TagStore["snapshot"]>): void {
    this.valid.set(s.valid); this.k0.set(s.k0); this.k1.set(s.k1); this.k2.set(s.k2); this.k3.set(s.k3); this.stamp.set(s.stamp);
    this.clock = s.clock; this.rng = s.rng; this.occupancy = s.occupancy; Object.assign(this.stats, s.stats);
    this.version++;
    for (let i = 0; i < this.entries; i++) {
      if (this.valid[i] === 1) this.kA[i] = TagStore.key(this.k0[i]!, this.k1[i]!, this.k2[i]!);
      else { this.kA[i] = -1; this.stamp[i] = -1; }
    }
    let n = 0;
    this.livePos.fill(-1);
    for (let i = 0; i < this.entries; i++) if (this.valid[i] === 1) { this.live[n] = i; this.livePos[i] = n; n++; }
    this.occupancy = n;
  }
}
