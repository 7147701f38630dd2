/**
 * A checkpoint of everything one translation can change in the IOMMU (spec blocks touched by
 * "Translation": the DTE cache and the DTE's fault-suppression flag, the IOTLB, the
 * page-directory and GCR3 caches, the translation and event-log counters, the event-log
 * Tail and Status bits, the interrupt counters), taken before each stepped-translation
 * attempt and put back when the attempt stops at an unanswered memory request.
 *
 * Cheap by construction: the buffers are allocated once per stepped translation and filled
 * with typed-array copies (no plain-data snapshot), and the caches are put back through
 * their own restore(), which rebuilds their derived state (folded keys, page-size lists).
 */
import type { AmdIommu } from "../iommu/amd-iommu.js";
import type { CacheStats, TagStore } from "../iommu/caches/tag-store.js";
import { applyScalars, scalars } from "./iommu-snapshot.js";

/** The tag store's replacement state, which only its snapshot() exposes; copied directly here. */
interface TagPrivate { stamp: Float64Array; clock: number; rng: number }

class TagCopy {
  readonly valid: Uint8Array; readonly k0: Int32Array; readonly k1: Int32Array; readonly k2: Int32Array; readonly k3: Float64Array;
  readonly stamp: Float64Array;
  clock = 0; rng = 0; occupancy = 0;
  stats: CacheStats = { hits: 0, misses: 0, fills: 0, evictions: 0, invalidations: 0 };

  constructor(private readonly t: TagStore) {
    const n = t.entries;
    if (!((t as unknown as TagPrivate).stamp instanceof Float64Array)) throw new Error("translateStepped: internal: TagStore keeps no stamp array");
    this.valid = new Uint8Array(n); this.k0 = new Int32Array(n); this.k1 = new Int32Array(n); this.k2 = new Int32Array(n);
    this.k3 = new Float64Array(n); this.stamp = new Float64Array(n);
  }
  take(): void {
    const t = this.t, p = t as unknown as TagPrivate;
    this.valid.set(t.valid); this.k0.set(t.k0); this.k1.set(t.k1); this.k2.set(t.k2); this.k3.set(t.k3); this.stamp.set(p.stamp);
    this.clock = p.clock; this.rng = p.rng; this.occupancy = t.occupancy; this.stats = { ...t.stats };
  }
  /** The argument restore() takes (typed arrays serve as well as the snapshot's plain arrays). */
  get state(): ReturnType<TagStore["snapshot"]> { return this as unknown as ReturnType<TagStore["snapshot"]>; }
}

function copyCounters(from: object, to: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(from)) {
    if (typeof v === "number") to[k] = v;
    else if (Array.isArray(v)) { const d = to[k] as number[]; d.length = 0; d.push(...(v as number[])); }
  }
}

export class TranslationCheckpoint {
  private readonly words: Uint32Array;
  private readonly stats: Record<string, unknown>;
  private readonly logStats: Record<string, unknown> = {};
  private readonly interrupts: Record<string, unknown> = {};
  private readonly iotlb: { tags: TagCopy; spa: Float64Array; perms: Uint8Array } | null;
  private readonly pde: { tags: TagCopy; next: Float64Array; nextLevel: Uint8Array; perms: Uint8Array; nested: Uint8Array } | null;
  private readonly gcr3: { tags: TagCopy; cr3: Float64Array } | null;
  private readonly dteTags: TagCopy | null;
  private readonly lineTags: Int32Array | null;
  private lineHits = 0;
  private lineMisses = 0;
  private dteFull: ReturnType<AmdIommu["deviceTable"]["snapshot"]> | null = null;
  private dte: { faultLogged: boolean } | null = null;
  private faultLogged = false;
  private dtScalars: Record<string, number | boolean> = {};

  constructor(private readonly io: AmdIommu) {
    this.words = new Uint32Array(io.regs.words.length);
    this.stats = structuredClone(io.translator.stats) as unknown as Record<string, unknown>;
    const it = io.iotlb, pd = io.pdeCache, g = io.gcr3Cache;
    this.iotlb = it.enabled ? { tags: new TagCopy(it.tags), spa: new Float64Array(it.spa.length), perms: new Uint8Array(it.perms.length) } : null;
    this.pde = pd.enabled ? {
      tags: new TagCopy(pd.tags), next: new Float64Array(pd.next.length), nextLevel: new Uint8Array(pd.nextLevel.length),
      perms: new Uint8Array(pd.perms.length), nested: new Uint8Array(pd.nested.length),
    } : null;
    this.gcr3 = g.enabled ? { tags: new TagCopy(g.tags), cr3: new Float64Array(g.cr3.length) } : null;
    this.dteTags = io.deviceTable.cache.entries > 0 ? new TagCopy(io.deviceTable.cache) : null;
    this.lineTags = io.translator.lines === null ? null : new Int32Array(io.translator.lines.tags.length);
  }

  /** Capture before an attempt of a translation for deviceId. */
  take(deviceId: number): void {
    const io = this.io;
    this.words.set(io.regs.words);
    copyCounters(io.translator.stats, this.stats);
    copyCounters(io.eventLog.stats, this.logStats);
    copyCounters(io.interrupts, this.interrupts);
    if (this.iotlb) { this.iotlb.tags.take(); this.iotlb.spa.set(io.iotlb.spa); this.iotlb.perms.set(io.iotlb.perms); }
    const p = this.pde, pd = io.pdeCache;
    if (p) { p.tags.take(); p.next.set(pd.next); p.nextLevel.set(pd.nextLevel); p.perms.set(pd.perms); p.nested.set(pd.nested); }
    if (this.gcr3) { this.gcr3.tags.take(); this.gcr3.cr3.set(io.gcr3Cache.cr3); }
    const lines = io.translator.lines;
    if (this.lineTags !== null && lines !== null) { this.lineTags.set(lines.tags); this.lineHits = lines.hits; this.lineMisses = lines.misses; }
    // DTE cache: a hit changes LRU state and the fault flag; a miss allocates a way, evicting when its set is full
    const dt = io.deviceTable, t = dt.cache;
    this.dtScalars = scalars(dt);
    this.dte = dt.cached(deviceId);
    this.faultLogged = this.dte?.faultLogged ?? false;
    if (this.dteTags) this.dteTags.take();
    let full = this.dteTags !== null && this.dte === null;
    if (full) {
      const set = deviceId & t.setMask;
      for (let i = set * t.ways; i < (set + 1) * t.ways; i++) if (t.valid[i] === 0) { full = false; break; }
    }
    this.dteFull = full ? dt.snapshot() : null;
  }

  /** Put back what take() captured. */
  restore(): void {
    const io = this.io;
    io.regs.words.set(this.words);
    copyCounters(this.stats, io.translator.stats as unknown as Record<string, unknown>);
    copyCounters(this.logStats, io.eventLog.stats as unknown as Record<string, unknown>);
    copyCounters(this.interrupts, io.interrupts as unknown as Record<string, unknown>);
    if (this.iotlb) io.iotlb.restore({ tags: this.iotlb.tags.state, spa: this.iotlb.spa, perms: this.iotlb.perms } as unknown as ReturnType<AmdIommu["iotlb"]["snapshot"]>);
    const p = this.pde;
    if (p) io.pdeCache.restore({ tags: p.tags.state, next: p.next, nextLevel: p.nextLevel, perms: p.perms, nested: p.nested } as unknown as ReturnType<AmdIommu["pdeCache"]["snapshot"]>);
    if (this.gcr3) io.gcr3Cache.restore({ tags: this.gcr3.tags.state, cr3: this.gcr3.cr3 } as unknown as ReturnType<AmdIommu["gcr3Cache"]["snapshot"]>);
    const lines = io.translator.lines;
    if (this.lineTags !== null && lines !== null) { lines.tags.set(this.lineTags); lines.hits = this.lineHits; lines.misses = this.lineMisses; }
    if (this.dteFull) io.deviceTable.restore(this.dteFull);
    else if (this.dteTags) io.deviceTable.cache.restore(this.dteTags.state);
    if (this.dte) this.dte.faultLogged = this.faultLogged;
    applyScalars(io.deviceTable, this.dtScalars);
  }
}
