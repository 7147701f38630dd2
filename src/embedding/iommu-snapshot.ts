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
import type { TranslationStats } from "../iommu/translation/translator.js";
import type { LogStats } from "../iommu/log-ring.js";

export const SNAPSHOT_FORMAT = "amd-iommu-model/snapshot";
/**
 * Bumped whenever the state a snapshot holds changes meaning, so that restore() refuses an
 * older snapshot instead of misreading it. 2: the timing statistics count plain hits and
 * runs of like walks (timing-statistics.ts) instead of recording each translation. 3: walk
 * reads are priced through the table-line cache, whose lines the snapshot carries (tableLines).
 */
export const SNAPSHOT_VERSION = 3;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface IommuSnapshotOptions {
  features: FeatureOptions;
  quirks: QuirkOptions;
  timing: TimingProfile;
  iotlb: CacheGeometry;
  pdeCache: CacheGeometry & { minLevel: number };
  dteCache: CacheGeometry;
  gcr3Cache: CacheGeometry;
  segment: number;
  concurrency: "single" | "shared";
}

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

/**
 * Numbers, booleans, strings and typed arrays of an object's own fields, recursing into
 * nested objects (histograms, walker pools); `keys` limits the top level.
 */
function plainState(o: object, keys?: readonly string[], depth = 3): Json {
  const out: { [k: string]: Json } = {};
  for (const k of keys ?? Object.keys(o)) {
    const v = (o as Record<string, unknown>)[k];
    if (typeof v === "number") out[k] = encode(v);
    else if (typeof v === "boolean" || typeof v === "string") out[k] = v;
    else if (ArrayBuffer.isView(v) && !(v instanceof DataView)) out[k] = encode(Array.from(v as unknown as ArrayLike<number>));
    else if (Array.isArray(v) || (v !== null && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype)) out[k] = encode(v);
    else if (v !== null && typeof v === "object" && depth > 0) out[k] = plainState(v, undefined, depth - 1);
  }
  return out;
}
function applyPlainState(o: object, state: Json): void {
  if (state === null || typeof state !== "object" || Array.isArray(state)) return;
  const rec = o as Record<string, unknown>;
  for (const [k, v] of Object.entries(state)) {
    const cur = rec[k];
    if (ArrayBuffer.isView(cur) && !(cur instanceof DataView)) (cur as unknown as { set(a: ArrayLike<number>): void }).set(decode<number[]>(v));
    else if (cur !== null && typeof cur === "object" && !Array.isArray(cur) && Object.getPrototypeOf(cur) !== Object.prototype) applyPlainState(cur, v);
    else rec[k] = decode(v);
  }
}

const TIMING_KEYS = ["walkers", "stats", "inFlightUntil", "lastQueue"] as const;
const PPR_KEYS = ["stats"] as const;

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
function decode<T>(x: unknown): T {
  if (x === "Infinity") return Infinity as T;
  if (x === "-Infinity") return -Infinity as T;
  if (x === "NaN") return NaN as T;
  if (Array.isArray(x)) return x.map((v) => decode(v)) as T;
  if (x !== null && typeof x === "object") {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) o[k] = decode(v);
    return o as T;
  }
  return x as T;
}

function optionsOf(io: AmdIommu): IommuSnapshotOptions {
  return structuredClone({
    features: { ...io.features }, quirks: { ...io.quirks }, timing: { ...io.timing },
    iotlb: geometryOf(io.iotlb.tags), pdeCache: { ...geometryOf(io.pdeCache.tags), minLevel: io.pdeCache.minLevel },
    dteCache: geometryOf(io.deviceTable.cache), gcr3Cache: geometryOf(io.gcr3Cache.tags),
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
    timingModel: plainState(io.timingModel, TIMING_KEYS),
    ppr: plainState(io.ppr, PPR_KEYS),
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
    gcr3Cache: o.gcr3Cache, segment: o.segment, concurrency: o.concurrency,
  };
}

function checkSnapshot(s: IommuSnapshot): void {
  if (s === null || typeof s !== "object" || s.format !== SNAPSHOT_FORMAT) {
    throw new TypeError(`restore: snapshot must be an object from iommu.snapshot() (format "${SNAPSHOT_FORMAT}")`);
  }
  if (s.version !== SNAPSHOT_VERSION) throw new RangeError(`restore: snapshot.version ${String(s.version)} is not supported (expected ${SNAPSHOT_VERSION})`);
}

/** Put a snapshot's state into an IOMMU built with the same options (cache geometry, features). */
export function applySnapshot(io: AmdIommu, s: IommuSnapshot): void {
  checkSnapshot(s);
  const mine = optionsOf(io);
  for (const k of ["iotlb", "pdeCache", "dteCache", "gcr3Cache", "features"] as const) {
    if (JSON.stringify(mine[k]) !== JSON.stringify(s.options[k])) {
      throw new RangeError(`restore: snapshot.options.${k} (${JSON.stringify(s.options[k])}) differs from this IOMMU's (${JSON.stringify(mine[k])}); use AmdIommu.restore(snapshot, { memory })`);
    }
  }
  io.regs.words.fill(0);
  for (const [i, v] of s.registers) io.regs.words[i] = v;
  io.deviceTable.restore(decode(s.deviceTable));
  applyScalars(io.deviceTable, s.deviceTableScalars);
  io.iotlb.restore(decode(s.iotlb));
  io.pdeCache.restore(decode(s.pdeCache));
  io.gcr3Cache.restore(decode(s.gcr3Cache));
  io.commands.restore(decode(s.commands));
  const t = io.translator.stats;
  Object.assign(t, structuredClone(s.translation));
  Object.assign(io.eventLog.stats, s.eventLog);
  Object.assign(io.pprLog.stats, s.pprLog);
  Object.assign(io.interrupts, s.interrupts);
  applyPlainState(io.timingModel, s.timingModel);
  applyPlainState(io.ppr, s.ppr);
  const lines = io.translator.lines;
  if (lines !== null) {
    if (s.tableLines === null || s.tableLines === undefined) lines.clear();
    else lines.restore(decode(s.tableLines));
  }
  if (s.interruptRemapping !== undefined) {
    const ir = decode<{ irteCache: ReturnType<AmdIommu["irteCache"]["snapshot"]>; stats: object; gaLog: object; perf: ReturnType<NonNullable<AmdIommu["perf"]>["snapshot"]> | null }>(s.interruptRemapping);
    // the IRTE cache's geometry is not among the snapshot's options: restore it only into the same geometry
    if (ir.irteCache.tags.valid.length === io.irteCache.tags.entries) io.irteCache.restore(ir.irteCache); else io.irteCache.invalidateAll();
    Object.assign(io.interruptRemapper.stats, ir.stats);
    Object.assign(io.gaLog.stats, ir.gaLog);
    if (io.perf !== null && ir.perf !== null) io.perf.restore(ir.perf);
  } else {
    io.irteCache.invalidateAll();
  }
  io.now = s.now;
}
