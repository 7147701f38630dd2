/**
 * Snapshots of one IOMMU's state as plain JSON-able data, and their restore: the MMIO
 * register file (Control, Status, ring bases and pointers, exclusion range, ...), the DTE,
 * IOTLB, page-directory and GCR3 caches with their replacement state and statistics, the
 * command processor (busy-until cycle, outstanding ATS invalidations), the translation,
 * log and interrupt counters, the clock, and the options the instance was built with.
 *
 * Not included, because they are the embedder's: memory contents (snapshot them with the
 * memory), attached endpoints, notifier listeners and the onInterrupt callback.
 * Numbers that JSON cannot carry (Infinity: "no deadline") are written as strings.
 */
import type { AmdIommu } from "../iommu/amd-iommu.js";
import type { AmdIommuOptions, FeatureOptions, QuirkOptions } from "../iommu/options.js";
import type { TimingProfile } from "../iommu/timing-profile.js";
import type { CacheGeometry, TagStore } from "../iommu/caches/tag-store.js";
import type { TranslationStats } from "../iommu/translation/translation-stats.js";
import type { LogStats } from "../iommu/log-ring.js";
import type { LatencyHistogram } from "../iommu/timing/latency-histogram.js";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { SNAPSHOT_FORMAT, SNAPSHOT_SCHEMA, SNAPSHOT_VERSION, TIMING_STATS_FIELDS } from "./snapshot-schema.js";

export { SNAPSHOT_FORMAT, SNAPSHOT_VERSION };

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface IommuSnapshotOptions {
  features: FeatureOptions;
  quirks: QuirkOptions;
  timing: TimingProfile;
  iotlb: CacheGeometry;
  pdeCache: CacheGeometry & { minLevel: number };
  dteCache: CacheGeometry;
  gcr3Cache: CacheGeometry;
  /** The IRTE cache (absent in snapshots taken before it was recorded). */
  irteCache?: CacheGeometry;
  segment: number;
  concurrency: "single" | "shared";
}

/** The declared format: schema/snapshot.schema.json (snapshot-schema.ts). */
export interface IommuSnapshot {
  format: typeof SNAPSHOT_FORMAT;
  version: number;
  options: IommuSnapshotOptions;
  /** IOMMU clock (cycles). */
  now: number;
  /** Non-zero 32-bit words of the MMIO window: [word index, value]. */
  registers: [number, number][];
  deviceTable: Json;
  /** The device table's scalar fields beside its cache (the front entry of the last device served). */
  deviceTableScalars: Record<string, number | boolean>;
  iotlb: Json;
  pdeCache: Json;
  gcr3Cache: Json;
  commands: Json;
  translation: TranslationStats;
  eventLog: LogStats;
  pprLog: LogStats;
  interrupts: Record<string, number>;
  /** Timed mode: walker slots, the in-flight fence, latency histograms (not a running trace). */
  timingModel: Json;
  /** PRI side: page-request counters. */
  ppr: Json;
  /** The table lines walk reads go through (profile.tableCacheLines; null when off). */
  tableLines: Json;
  /** Interrupt remapping: IRTE cache, counters, GA log, performance counters (absent in older snapshots). */
  interruptRemapping?: Json;
}

function geometryOf(t: TagStore): CacheGeometry {
  return { entries: t.entries, ways: t.ways, replacement: t.policy };
}

/** Replace non-finite numbers by strings, recursively (plain data in, plain data out). */
function encode(x: unknown): Json {
  if (typeof x === "number") return Number.isFinite(x) ? x : String(x);
  if (Array.isArray(x)) return x.map(encode);
  if (x !== null && typeof x === "object") {
    const o: { [k: string]: Json } = {};
    for (const [k, v] of Object.entries(x)) o[k] = encode(v);
    return o;
  }
  return x as Json;
}
/** "Infinity" (the only non-finite number the schema allows) back to a number. */
function num(x: unknown): number { return x === "Infinity" ? Infinity : (x as number); }
function decode<T>(x: unknown): T {
  if (x === "Infinity") return Infinity as T;
  if (Array.isArray(x)) return x.map((v) => decode(v)) as T;
  if (x !== null && typeof x === "object") {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) o[k] = decode(v);
    return o as T;
  }
  return x as T;
}

/** The PRI block (ppr-log.ts), when this build of the IOMMU has one. */
function pprOf(io: AmdIommu): { stats: Record<string, number> } | undefined {
  return (io as unknown as { ppr?: { stats: Record<string, number> } }).ppr;
}

type HistogramFields = { counts: Float64Array; count: number; sum: number; min: number; max: number; lastValue: number; lastBucket: number };
const hist = (h: LatencyHistogram) => h as unknown as HistogramFields;

/** Timed mode's state, field by declared field (snapshot-schema.ts TIMING_STATS_FIELDS). */
function timingState(io: AmdIommu): Json {
  const tm = io.timingModel;
  const st = tm.stats as unknown as Record<string, unknown>;
  const stats: Record<string, unknown> = {};
  for (const k of TIMING_STATS_FIELDS.histograms) {
    const h = hist(st[k] as LatencyHistogram);
    stats[k] = { counts: Array.from(h.counts), count: h.count, sum: h.sum, min: h.min, max: h.max, lastValue: h.lastValue, lastBucket: h.lastBucket };
  }
  for (const [k] of TIMING_STATS_FIELDS.arrays) stats[k] = Array.from(st[k] as Float64Array);
  for (const k of [...TIMING_STATS_FIELDS.numbers, ...TIMING_STATS_FIELDS.booleans]) stats[k] = st[k];
  return encode({
    walkers: { walkers: tm.walkers.walkers, freeAt: Array.from(tm.walkers.freeAt), lastSlot: tm.walkers.lastSlot },
    stats, inFlightUntil: tm.inFlightUntil, lastQueue: tm.lastQueue,
  });
}
function applyTimingState(io: AmdIommu, s: TimingSnapshot): void {
  const tm = io.timingModel;
  tm.walkers.freeAt.set(s.walkers.freeAt);
  tm.walkers.lastSlot = s.walkers.lastSlot;
  const st = tm.stats as unknown as Record<string, unknown>;
  for (const k of TIMING_STATS_FIELDS.histograms) {
    const h = hist(st[k] as LatencyHistogram), v = s.stats[k] as HistogramSnapshot;
    h.counts.set(v.counts); h.count = v.count; h.sum = v.sum; h.min = num(v.min); h.max = v.max; h.lastValue = v.lastValue; h.lastBucket = v.lastBucket;
  }
  for (const [k] of TIMING_STATS_FIELDS.arrays) (st[k] as Float64Array).set(s.stats[k] as number[]);
  for (const k of [...TIMING_STATS_FIELDS.numbers, ...TIMING_STATS_FIELDS.booleans]) st[k] = s.stats[k];
  tm.inFlightUntil = s.inFlightUntil;
  tm.lastQueue = s.lastQueue;
}
interface HistogramSnapshot { counts: number[]; count: number; sum: number; min: number | "Infinity"; max: number; lastValue: number; lastBucket: number }
interface TimingSnapshot { walkers: { walkers: number; freeAt: number[]; lastSlot: number }; stats: Record<string, unknown>; inFlightUntil: number; lastQueue: number }

function optionsOf(io: AmdIommu): IommuSnapshotOptions {
  return structuredClone({
    features: { ...io.features }, quirks: { ...io.quirks }, timing: { ...io.timing },
    iotlb: geometryOf(io.iotlb.tags), pdeCache: { ...geometryOf(io.pdeCache.tags), minLevel: io.pdeCache.minLevel },
    dteCache: geometryOf(io.deviceTable.cache), gcr3Cache: geometryOf(io.gcr3Cache.tags), irteCache: geometryOf(io.irteCache.tags),
    segment: io.segment, concurrency: io.translator.ctx.shared ? "shared" : "single",
  });
}

/** Own number and boolean fields of an object, all or those named (arrays and objects are not followed). */
export function scalars(o: object, keys?: readonly string[]): Record<string, number | boolean> {
  const out: Record<string, number | boolean> = {};
  for (const [k, v] of Object.entries(o)) if ((typeof v === "number" || typeof v === "boolean") && (keys === undefined || keys.includes(k))) out[k] = v;
  return out;
}
/** The device table's front entry (the last device served): state that decides LRU updates and statistics. */
const DEVICE_TABLE_FRONT = ["lastId", "lastSlot"] as const;
/** Put back what scalars() took (only fields that still exist with the same type). */
export function applyScalars(o: object, s: Record<string, number | boolean>): void {
  const rec = o as Record<string, unknown>;
  for (const [k, v] of Object.entries(s)) if (typeof rec[k] === typeof v) rec[k] = v;
}

/** The DTE cache; the contents of slots without a valid tag are dead and written as zeros. */
function deviceTableState(io: AmdIommu): ReturnType<AmdIommu["deviceTable"]["snapshot"]> {
  const s = io.deviceTable.snapshot();
  const valid = io.deviceTable.cache.valid;
  s.slots = s.slots.map((x, i) => valid[i] === 1 ? x : { raw: x.raw.map(() => 0), deviceId: 0, faultLogged: false });
  return s;
}

export function takeSnapshot(io: AmdIommu): IommuSnapshot {
  const registers: [number, number][] = [];
  io.regs.words.forEach((v, i) => { if (v !== 0) registers.push([i, v]); });
  const ppr = pprOf(io);
  return {
    format: SNAPSHOT_FORMAT,
    version: SNAPSHOT_VERSION,
    options: optionsOf(io),
    now: io.now,
    registers,
    deviceTable: encode(deviceTableState(io)),
    deviceTableScalars: scalars(io.deviceTable, DEVICE_TABLE_FRONT),
    iotlb: encode(io.iotlb.snapshot()),
    pdeCache: encode(io.pdeCache.snapshot()),
    gcr3Cache: encode(io.gcr3Cache.snapshot()),
    commands: encode(io.commands.snapshot()),
    translation: structuredClone(io.translator.stats),
    eventLog: { ...io.eventLog.stats },
    pprLog: { ...io.pprLog.stats },
    interrupts: { ...io.interrupts },
    timingModel: timingState(io),
    ppr: { stats: { ...ppr!.stats } },
    tableLines: io.translator.lines === null ? null : encode(io.translator.lines.snapshot()),
    interruptRemapping: encode({
      irteCache: io.irteCache.snapshot(), stats: { ...io.interruptRemapper.stats }, gaLog: { ...io.gaLog.stats },
      perf: io.perf === null ? null : io.perf.snapshot(),
    }),
  };
}

/** The constructor options a snapshot was taken with (memory and callbacks are the embedder's). */
export function snapshotOptions(s: IommuSnapshot): Omit<AmdIommuOptions, "memory"> {
  checkSnapshot(s);
  const o = structuredClone(s.options);
  return {
    features: o.features, quirks: o.quirks, timing: o.timing, iotlb: o.iotlb, pdeCache: o.pdeCache, dteCache: o.dteCache,
    gcr3Cache: o.gcr3Cache, ...(o.irteCache !== undefined ? { irteCache: o.irteCache } : {}), segment: o.segment, concurrency: o.concurrency,
  };
}

/** A refused snapshot: `path` names the first offending field ("iotlb.tags.k2.5"). */
export class SnapshotError extends RangeError {
  constructor(readonly path: string, message: string) { super(`restore: snapshot.${path}: ${message}`); this.name = "SnapshotError"; }
}

const schemaCheck = TypeCompiler.Compile(SNAPSHOT_SCHEMA);

/** The declared format (schema/snapshot.schema.json); throws a SnapshotError naming the first offending path. */
export function checkSnapshot(s: unknown): asserts s is IommuSnapshot {
  if (s === null || typeof s !== "object" || Array.isArray(s)) throw new TypeError(`restore: snapshot must be an object from iommu.snapshot() (format "${SNAPSHOT_FORMAT}")`);
  const f = (s as { format?: unknown }).format, v = (s as { version?: unknown }).version;
  if (f !== SNAPSHOT_FORMAT) throw new SnapshotError("format", `must be "${SNAPSHOT_FORMAT}", got ${short(f)}`);
  if (v !== SNAPSHOT_VERSION) throw new SnapshotError("version", `${short(v)} is not supported (expected ${SNAPSHOT_VERSION})`);
  let ok: boolean;
  try { ok = schemaCheck.Check(s); } catch (e) { throw new SnapshotError("", `cannot be read (${e instanceof Error ? e.message : String(e)})`); }
  if (ok) return;
  const first = schemaCheck.Errors(s).First();
  const path = first ? first.path.replace(/^\//, "").replace(/\//g, ".") : "";
  const msg = first ? (first.message.startsWith("Unexpected property") ? "unknown field" : first.message.toLowerCase()) : "does not conform";
  throw new SnapshotError(path, `${msg}${first && first.value !== undefined ? ", got " + short(first.value) : ""}`);
}
function short(v: unknown): string {
  let t: string;
  try { t = JSON.stringify(v) ?? String(v); } catch { t = typeof v; }
  return t.length > 60 ? t.slice(0, 57) + "..." : t;
}

interface TagsSnapshot { valid: number[]; k0: number[]; k1: number[]; k2: number[]; k3: number[]; stamp: number[]; occupancy: number }

/** What the schema cannot say, against this IOMMU: geometry, array lengths, occupancy, page sizes. */
function checkAgainst(io: AmdIommu, s: IommuSnapshot): void {
  const mine = optionsOf(io);
  for (const k of ["iotlb", "pdeCache", "dteCache", "gcr3Cache", "irteCache", "features"] as const) {
    if (k === "irteCache" && s.options.irteCache === undefined) continue; // an older snapshot: its IRTE cache is kept only if it fits (below)
    if (JSON.stringify(mine[k]) !== JSON.stringify(s.options[k])) {
      throw new SnapshotError(`options.${k}`, `${JSON.stringify(s.options[k])} differs from this IOMMU's (${JSON.stringify(mine[k])}); use AmdIommu.restore(snapshot, { memory })`);
    }
  }
  const length = (path: string, a: readonly unknown[], n: number) => {
    if (a.length !== n) throw new SnapshotError(path, `has ${a.length} items, this IOMMU's has ${n}`);
  };
  const tags = (path: string, t: TagsSnapshot, n: number) => {
    for (const k of ["valid", "k0", "k1", "k2", "k3", "stamp"] as const) length(`${path}.${k}`, t[k], n);
    let valid = 0;
    for (const v of t.valid) valid += v;
    if (t.occupancy !== valid) throw new SnapshotError(`${path}.occupancy`, `${t.occupancy} is not the number of valid entries (${valid})`);
  };
  const dt = s.deviceTable as unknown as { tags: TagsSnapshot; slots: unknown[] };
  const nDte = io.deviceTable.cache.entries;
  tags("deviceTable.tags", dt.tags, nDte);
  length("deviceTable.slots", dt.slots, nDte);
  const lastSlot = s.deviceTableScalars.lastSlot as number;
  if (lastSlot >= nDte) throw new SnapshotError("deviceTableScalars.lastSlot", `${lastSlot} is not a slot of a ${nDte}-entry DTE cache`);
  const tlb = s.iotlb as unknown as { tags: TagsSnapshot; spa: number[]; perms: number[] };
  const nTlb = io.iotlb.tags.entries;
  tags("iotlb.tags", tlb.tags, nTlb);
  length("iotlb.spa", tlb.spa, nTlb); length("iotlb.perms", tlb.perms, nTlb);
  tlb.tags.valid.forEach((v, i) => {
    const k2 = tlb.tags.k2[i]!;
    if (v === 1 && (k2 < 12 || k2 > 63)) throw new SnapshotError(`iotlb.tags.k2.${i}`, `a valid entry's log2 page size must be 12..63, got ${k2}`);
  });
  const pde = s.pdeCache as unknown as { tags: TagsSnapshot; next: number[]; nextLevel: number[]; perms: number[]; nested: number[] };
  const nPde = io.pdeCache.tags.entries;
  tags("pdeCache.tags", pde.tags, nPde);
  for (const k of ["next", "nextLevel", "perms", "nested"] as const) length(`pdeCache.${k}`, pde[k], nPde);
  const g = s.gcr3Cache as unknown as { tags: TagsSnapshot; cr3: number[] };
  const nG = io.gcr3Cache.tags.entries;
  tags("gcr3Cache.tags", g.tags, nG);
  length("gcr3Cache.cr3", g.cr3, nG);
  length("translation.referencesPerWalk", s.translation.referencesPerWalk, io.translator.stats.referencesPerWalk.length);
  const w = (s.timingModel as unknown as TimingSnapshot).walkers;
  const nW = io.timingModel.walkers.walkers;
  if (w.walkers !== nW) throw new SnapshotError("timingModel.walkers.walkers", `${w.walkers} differs from this IOMMU's ${nW} walkers`);
  length("timingModel.walkers.freeAt", w.freeAt, nW);
  if (w.lastSlot >= nW) throw new SnapshotError("timingModel.walkers.lastSlot", `${w.lastSlot} is not one of ${nW} walkers`);
  const lines = io.translator.lines, tl = s.tableLines as { lines: [number, number][] } | null;
  if (lines !== null && tl !== null) {
    const n = (lines as unknown as { lines: number }).lines;
    tl.lines.forEach(([slot], i) => { if (slot >= n) throw new SnapshotError(`tableLines.lines.${i}.0`, `${slot} is not a slot of this ${n}-line table cache`); });
  }
  if (s.interruptRemapping !== undefined) {
    const ir = s.interruptRemapping as unknown as { irteCache: { tags: TagsSnapshot; data: number[] }; perf: Record<string, number[]> | null };
    // options.irteCache (checked above) names this geometry: the arrays must fit it exactly. An older snapshot without it:
    // an IRTE cache of another size is dropped at restore (invalidateAll); one of this size must fit exactly
    const nIrte = io.irteCache.tags.entries;
    if (s.options.irteCache !== undefined || ir.irteCache.tags.valid.length === nIrte) {
      tags("interruptRemapping.irteCache.tags", ir.irteCache.tags, nIrte);
      length("interruptRemapping.irteCache.data", ir.irteCache.data, Math.max(1, nIrte) * 4); // irte-cache.ts keeps one slot's words when off
    }
    if (io.perf !== null && ir.perf !== null) {
      const mine = io.perf.snapshot() as unknown as Record<string, number[]>;
      for (const k of Object.keys(mine)) length(`interruptRemapping.perf.${k}`, ir.perf[k]!, mine[k]!.length);
    }
  }
}

/**
 * Put a snapshot's state into an IOMMU built with the same options (cache geometry, features).
 * The snapshot is checked completely first (schema/snapshot.schema.json, then against this
 * IOMMU); a refused snapshot changes nothing and the error names its first offending path.
 * Restore writes only this IOMMU's own fields, each by name: never memory, shared tables or
 * prototypes, whatever keys the snapshot holds.
 */
export function applySnapshot(io: AmdIommu, s: IommuSnapshot): void {
  checkSnapshot(s);
  checkAgainst(io, s);
  io.regs.words.fill(0);
  for (const [i, v] of s.registers) io.regs.words[i] = v;
  io.deviceTable.restore(decode(s.deviceTable));
  applyScalars(io.deviceTable, { lastId: s.deviceTableScalars.lastId!, lastSlot: s.deviceTableScalars.lastSlot! });
  io.iotlb.restore(decode(s.iotlb));
  io.pdeCache.restore(decode(s.pdeCache));
  io.gcr3Cache.restore(decode(s.gcr3Cache));
  io.commands.restore(decode(s.commands));
  const t = io.translator.stats, st = s.translation;
  t.requests = st.requests; t.atsRequests = st.atsRequests; t.faults = st.faults; t.walks = st.walks; t.eventsLogged = st.eventsLogged;
  t.eventsSuppressed = st.eventsSuppressed; t.adUpdates = st.adUpdates; t.walkRetries = st.walkRetries;
  t.passUntranslated = st.passUntranslated ?? 0; t.passPretranslated = st.passPretranslated ?? 0; t.passExcluded = st.passExcluded ?? 0;
  t.guestTableReads = st.guestTableReads ?? 0; t.nestedTableReads = st.nestedTableReads ?? 0;
  st.referencesPerWalk.forEach((v, i) => { t.referencesPerWalk[i] = v; });
  for (const [mine, theirs] of [[io.eventLog.stats, s.eventLog], [io.pprLog.stats, s.pprLog]] as const) {
    mine.written = theirs.written; mine.overflows = theirs.overflows; mine.dropped = theirs.dropped; mine.writeErrors = theirs.writeErrors;
  }
  for (const k of Object.keys(io.interrupts) as (keyof AmdIommu["interrupts"])[]) if (s.interrupts[k] !== undefined) io.interrupts[k] = s.interrupts[k]!;
  applyTimingState(io, decode(s.timingModel));
  const ppr = pprOf(io), sp = s.ppr as { stats: Record<string, number> };
  if (ppr) for (const k of Object.keys(ppr.stats)) if (sp.stats[k] !== undefined) ppr.stats[k] = sp.stats[k]!;
  if (s.interruptRemapping !== undefined) {
    const ir = decode<{ irteCache: ReturnType<AmdIommu["irteCache"]["snapshot"]>; stats: Record<string, number>; gaLog: Record<string, number>; perf: ReturnType<NonNullable<AmdIommu["perf"]>["snapshot"]> | null }>(s.interruptRemapping);
    // same geometry (options.irteCache checked, or an older snapshot of the same size): restore; else drop
    if (ir.irteCache.tags.valid.length === io.irteCache.tags.entries) io.irteCache.restore(ir.irteCache); else io.irteCache.invalidateAll();
    const st = io.interruptRemapper.stats as unknown as Record<string, number>;
    for (const k of Object.keys(st)) if (ir.stats[k] !== undefined) st[k] = ir.stats[k]!;
    const g = io.gaLog.stats as unknown as Record<string, number>;
    for (const k of Object.keys(g)) if (ir.gaLog[k] !== undefined) g[k] = ir.gaLog[k]!;
    if (io.perf !== null && ir.perf !== null) io.perf.restore(ir.perf);
  } else {
    io.irteCache.invalidateAll();
  }
  const lines = io.translator.lines;
  if (lines !== null) {
    if (s.tableLines === null) lines.clear();
    else lines.restore(decode(s.tableLines));
  }
  io.now = s.now;
}
