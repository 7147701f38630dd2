/**
 * The snapshot format as a declared schema (TypeBox, i.e. JSON Schema; published as
 * schema/snapshot.schema.json), and the AmdIommu constructor options the pipe's
 * create-iommu accepts. Every count and size is bounded by the limits the options enforce
 * (options.ts OPTION_LIMITS): cache arrays by the largest cache, walker slots by the most
 * walkers, outstanding ATS invalidations by the ITag space (command-processor.ts ATS_ITAGS).
 * Numbers JSON cannot carry (Infinity: "no deadline") are the string "Infinity", and only
 * where the model uses them.
 *
 * What the schema cannot say (array lengths equal to this IOMMU's cache geometry, the
 * occupancy equal to the valid entries, ...) iommu-snapshot.ts checks before restoring.
 */
import { Type, type TSchema, type TProperties } from "@sinclair/typebox";
import { DEFAULT_FEATURES, DEFAULT_QUIRKS, OPTION_LIMITS, QUIRK_CHOICES } from "../iommu/options.js";
import { TIMING_PROFILE_NAMES, resolveTimingProfile } from "../iommu/timing-profile.js";
import { HISTOGRAM_BUCKETS, LatencyHistogram } from "../iommu/timing/latency-histogram.js";
import { TimingStatistics } from "../iommu/timing/timing-statistics.js";
import { ATS_ITAGS } from "../iommu/command-processor.js";
import { TABLE_CACHE_MAX_LINES, TABLE_CACHE_MAX_WAYS } from "../iommu/timing/table-line-cache.js";
import { MMIO_WINDOW_BYTES } from "../spec/registers.js";
import { INTERRUPT_STAT_KEYS } from "../iommu/interrupts/interrupt-request.js";

export const SNAPSHOT_FORMAT = "amd-iommu-model/snapshot";
/**
 * Bumped whenever the state a snapshot holds changes meaning, so that restore() refuses an
 * older snapshot instead of misreading it. 2: the timing statistics count plain hits and
 * runs of like walks (timing-statistics.ts) instead of recording each translation. 3: walk
 * reads are priced through the table-line cache, whose lines the snapshot carries (tableLines).
 */
export const SNAPSHOT_VERSION = 3;

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const MAX_ENTRIES = OPTION_LIMITS.cacheEntries;
const obj = (p: TProperties, o: object = {}) => Type.Object(p, { additionalProperties: false, ...o });
const COUNT = Type.Integer({ minimum: 0, maximum: MAX_SAFE, description: "counter" });
const CYCLE = Type.Number({ minimum: 0, maximum: MAX_SAFE, description: "cycle" });
const INF = Type.Literal("Infinity");
const CYCLE_OR_NEVER = Type.Union([CYCLE, INF], { description: "cycle, or \"Infinity\" for never" });
const U32 = Type.Integer({ minimum: 0, maximum: 0xffff_ffff });
const I32 = Type.Integer({ minimum: -0x8000_0000, maximum: 0x7fff_ffff });
const ADDRESS = Type.Integer({ minimum: 0, maximum: MAX_SAFE, description: "physical address" });
const BIT = Type.Integer({ minimum: 0, maximum: 1 });
const list = (item: TSchema, max: number, min = 0) => Type.Array(item, { minItems: min, maxItems: max });
const fixed = (item: TSchema, n: number) => Type.Array(item, { minItems: n, maxItems: n });

// ---- options -----------------------------------------------------------------------------

const FEATURE_RANGES: Record<string, [number, number]> = {
  hats: [0, 2], gats: [0, 1], glxSup: [0, 2], pasMax: [0, 19], perfCounterBanks: [1, 63], perfCountersPerBank: [1, 15],
};
function featureProps(): TProperties {
  const p: TProperties = {};
  for (const [k, v] of Object.entries(DEFAULT_FEATURES)) {
    p[k] = typeof v === "boolean" ? Type.Boolean() : Type.Integer({ minimum: FEATURE_RANGES[k]![0], maximum: FEATURE_RANGES[k]![1] });
  }
  return p;
}
function quirkProps(): TProperties {
  const p: TProperties = {};
  for (const [k, v] of Object.entries(DEFAULT_QUIRKS)) {
    p[k] = typeof v === "boolean" ? Type.Boolean() : Type.Union(QUIRK_CHOICES[k]!.map((c) => Type.Literal(c)), { description: QUIRK_CHOICES[k]!.join(" or ") });
  }
  return p;
}
function timingProps(): TProperties {
  const p: TProperties = {};
  for (const k of Object.keys(resolveTimingProfile(undefined))) {
    p[k] = k === "walkers" ? Type.Integer({ minimum: 1, maximum: OPTION_LIMITS.walkers })
      : k === "tableCacheLines" ? Type.Integer({ minimum: 0, maximum: TABLE_CACHE_MAX_LINES })
      : k === "tableCacheWays" ? Type.Integer({ minimum: 1, maximum: TABLE_CACHE_MAX_WAYS })
      : Type.Number({ minimum: k === "clockHz" ? 1 : 0, maximum: k === "clockHz" ? OPTION_LIMITS.clockHz : OPTION_LIMITS.latencyCycles });
  }
  return p;
}
const REPLACEMENT = Type.Union([Type.Literal("lru"), Type.Literal("fifo"), Type.Literal("random")], { description: "\"lru\", \"fifo\" or \"random\"" });
const GEOMETRY = { entries: Type.Integer({ minimum: 0, maximum: MAX_ENTRIES }), ways: Type.Integer({ minimum: 0, maximum: MAX_ENTRIES }), replacement: REPLACEMENT };
const MIN_LEVEL = Type.Integer({ minimum: 2, maximum: 6 });
const CONCURRENCY = Type.Union([Type.Literal("single"), Type.Literal("shared")]);
const TIMING_NAME = Type.Union(TIMING_PROFILE_NAMES.map((n) => Type.Literal(n)), { description: TIMING_PROFILE_NAMES.join(" or ") });

const partial = (p: TProperties): TProperties => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, Type.Optional(v)]));

/** AmdIommu options as the pipe's create-iommu takes them (memory and callbacks are the session's). */
export const IOMMU_OPTIONS_IN = obj({
  iotlb: Type.Optional(obj({ ...GEOMETRY, ways: Type.Optional(GEOMETRY.ways), replacement: Type.Optional(REPLACEMENT) })),
  pdeCache: Type.Optional(obj({ ...GEOMETRY, ways: Type.Optional(GEOMETRY.ways), replacement: Type.Optional(REPLACEMENT), minLevel: Type.Optional(MIN_LEVEL) })),
  dteCache: Type.Optional(obj({ ...GEOMETRY, ways: Type.Optional(GEOMETRY.ways), replacement: Type.Optional(REPLACEMENT) })),
  gcr3Cache: Type.Optional(obj({ ...GEOMETRY, ways: Type.Optional(GEOMETRY.ways), replacement: Type.Optional(REPLACEMENT) })),
  irteCache: Type.Optional(obj({ ...GEOMETRY, ways: Type.Optional(GEOMETRY.ways), replacement: Type.Optional(REPLACEMENT) })),
  features: Type.Optional(obj(partial(featureProps()))),
  quirks: Type.Optional(obj(partial(quirkProps()))),
  timing: Type.Optional(Type.Union([TIMING_NAME, obj({ profile: Type.Optional(TIMING_NAME), ...partial(timingProps()) })], { description: "a profile name or an object of timing parameters" })),
  seed: Type.Optional(Type.Integer({ minimum: 0, maximum: OPTION_LIMITS.seed })),
  segment: Type.Optional(Type.Integer({ minimum: 0, maximum: OPTION_LIMITS.segment })),
  concurrency: Type.Optional(CONCURRENCY),
}, { description: "AmdIommu options (README \"Options\")" });

/** The timing profile a snapshot carries: rootComplexOverlap may be absent (a snapshot written before it existed; restore takes the default profile's). */
function snapshotTimingProps(): TProperties {
  const p = timingProps();
  p.rootComplexOverlap = Type.Optional(p.rootComplexOverlap!);
  return p;
}

const SNAPSHOT_OPTIONS = obj({
  features: obj(featureProps()), quirks: obj(quirkProps()), timing: obj(snapshotTimingProps()),
  iotlb: obj(GEOMETRY), pdeCache: obj({ ...GEOMETRY, minLevel: MIN_LEVEL }), dteCache: obj(GEOMETRY), gcr3Cache: obj(GEOMETRY),
  irteCache: Type.Optional(obj(GEOMETRY, { description: "IRTE cache geometry (absent in snapshots taken before it was recorded: restored only into the same geometry)" })),
  segment: Type.Integer({ minimum: 0, maximum: OPTION_LIMITS.segment }), concurrency: CONCURRENCY,
});

// ---- caches ------------------------------------------------------------------------------

const CACHE_STATS = obj({ hits: COUNT, misses: COUNT, fills: COUNT, evictions: COUNT, invalidations: COUNT });
const TAGS = obj({
  valid: list(BIT, MAX_ENTRIES), k0: list(I32, MAX_ENTRIES), k1: list(I32, MAX_ENTRIES), k2: list(I32, MAX_ENTRIES),
  k3: list(Type.Integer({ minimum: -1, maximum: MAX_SAFE }), MAX_ENTRIES), stamp: list(CYCLE, MAX_ENTRIES),
  clock: CYCLE, rng: U32, occupancy: Type.Integer({ minimum: 0, maximum: MAX_ENTRIES }), stats: CACHE_STATS,
});
const PERMS = Type.Integer({ minimum: 0, maximum: 255, description: "permission and state bits (translation/request.ts Perm)" });

// ---- timing ------------------------------------------------------------------------------

/** The timing statistics' own fields, by kind, read from the class (the schema and restore share these lists). */
export const TIMING_STATS_FIELDS = (() => {
  const t = new TimingStatistics() as unknown as Record<string, unknown>;
  const histograms: string[] = [], arrays: [string, number][] = [], numbers: string[] = [], booleans: string[] = [];
  for (const [k, v] of Object.entries(t)) {
    if (v instanceof LatencyHistogram) histograms.push(k);
    else if (v instanceof Float64Array) arrays.push([k, v.length]);
    else if (typeof v === "number") numbers.push(k);
    else if (typeof v === "boolean") booleans.push(k);
  }
  return { histograms, arrays, numbers, booleans };
})();
const HISTOGRAM = obj({
  counts: fixed(COUNT, HISTOGRAM_BUCKETS), count: COUNT, sum: Type.Number({ minimum: 0, maximum: Number.MAX_VALUE }),
  min: Type.Union([Type.Number({ minimum: 0, maximum: Number.MAX_VALUE }), INF]), max: Type.Number({ minimum: 0, maximum: Number.MAX_VALUE }),
  lastValue: Type.Number({ minimum: 0, maximum: Number.MAX_VALUE }), lastBucket: Type.Integer({ minimum: 0, maximum: HISTOGRAM_BUCKETS - 1 }),
});
const TIMING_STATS = obj({
  ...Object.fromEntries(TIMING_STATS_FIELDS.histograms.map((k) => [k, HISTOGRAM])),
  ...Object.fromEntries(TIMING_STATS_FIELDS.arrays.map(([k, n]) => [k, fixed(Type.Number({ minimum: 0, maximum: Number.MAX_VALUE }), n)])),
  ...Object.fromEntries(TIMING_STATS_FIELDS.numbers.map((k) => [k, Type.Number({ minimum: -1, maximum: MAX_SAFE })])),
  ...Object.fromEntries(TIMING_STATS_FIELDS.booleans.map((k) => [k, Type.Boolean()])),
});

// ---- the snapshot ------------------------------------------------------------------------

const LOG_STATS = obj({ written: COUNT, overflows: COUNT, dropped: COUNT, writeErrors: COUNT });
const REGISTER_WORDS = MMIO_WINDOW_BYTES / 4;

export const SNAPSHOT_SCHEMA = obj({
  format: Type.Literal(SNAPSHOT_FORMAT),
  version: Type.Literal(SNAPSHOT_VERSION),
  options: SNAPSHOT_OPTIONS,
  now: CYCLE,
  registers: list(Type.Tuple([Type.Integer({ minimum: 0, maximum: REGISTER_WORDS - 1 }), U32]), REGISTER_WORDS),
  deviceTable: obj({
    tags: TAGS,
    slots: list(obj({ raw: fixed(U32, 8), deviceId: Type.Integer({ minimum: 0, maximum: 0xffff }), faultLogged: Type.Boolean() }), MAX_ENTRIES),
  }),
  deviceTableScalars: obj({ lastId: Type.Integer({ minimum: -1, maximum: 0xffff }), lastSlot: Type.Integer({ minimum: -1, maximum: MAX_ENTRIES - 1 }) }),
  iotlb: obj({ tags: TAGS, spa: list(ADDRESS, MAX_ENTRIES), perms: list(PERMS, MAX_ENTRIES) }),
  pdeCache: obj({
    tags: TAGS, next: list(ADDRESS, MAX_ENTRIES), nextLevel: list(Type.Integer({ minimum: 0, maximum: 7 }), MAX_ENTRIES),
    perms: list(PERMS, MAX_ENTRIES), nested: list(BIT, MAX_ENTRIES),
  }),
  gcr3Cache: obj({ tags: TAGS, cr3: list(ADDRESS, MAX_ENTRIES) }),
  commands: obj({
    freeAt: CYCLE, waitUntil: CYCLE_OR_NEVER,
    pending: list(obj({ due: CYCLE_OR_NEVER, timeoutAt: CYCLE_OR_NEVER, deviceId: Type.Integer({ minimum: 0, maximum: 0xffff }), cmdAddr: ADDRESS }), ATS_ITAGS),
    heldAt: Type.Integer({ minimum: -1, maximum: MAX_SAFE }), held: fixed(U32, 4), opCount: fixed(COUNT, 16),
    stats: obj({
      executed: COUNT, byOpcode: Type.Record(Type.String({ maxLength: 64 }), COUNT, { maxProperties: 16 }), illegal: COUNT, hardwareErrors: COUNT,
      atsInvalidationsSent: COUNT, atsTimeouts: COUNT, completionWaits: COUNT, pprResponses: COUNT, pprResponsesDropped: COUNT, busyCycles: CYCLE,
    }),
  }),
  translation: obj({
    requests: COUNT, atsRequests: COUNT, faults: COUNT, walks: COUNT, eventsLogged: COUNT, eventsSuppressed: COUNT, adUpdates: COUNT,
    walkRetries: COUNT, referencesPerWalk: list(COUNT, 64, 1),
    // (performance events 01h-03h, 0Dh, 0Eh; absent in snapshots written before they were counted)
    passUntranslated: Type.Optional(COUNT), passPretranslated: Type.Optional(COUNT), passExcluded: Type.Optional(COUNT),
    guestTableReads: Type.Optional(COUNT), nestedTableReads: Type.Optional(COUNT),
  }),
  eventLog: LOG_STATS,
  pprLog: LOG_STATS,
  interrupts: obj({ "event-log": COUNT, "ppr-log": COUNT, "completion-wait": COUNT, "ga-log": COUNT }),
  timingModel: obj({
    walkers: obj({ walkers: Type.Integer({ minimum: 1, maximum: OPTION_LIMITS.walkers }), freeAt: list(CYCLE, OPTION_LIMITS.walkers, 1), lastSlot: Type.Integer({ minimum: 0, maximum: OPTION_LIMITS.walkers - 1 }) }),
    stats: TIMING_STATS, inFlightUntil: CYCLE, lastQueue: CYCLE,
  }),
  ppr: obj({
    stats: obj({ requests: COUNT, logged: COUNT, invalid: COUNT, dropped: COUNT, autoResponses: COUNT, earlyWarnings: COUNT }),
  }),
  tableLines: Type.Union([Type.Null(), obj({
    lines: list(Type.Tuple([Type.Integer({ minimum: 0, maximum: TABLE_CACHE_MAX_LINES - 1 }), Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 })]), TABLE_CACHE_MAX_LINES),
    hits: COUNT, misses: COUNT,
  })], { description: "cached table lines [slot, line number] (timing/table-line-cache.ts); null when the profile has none" }),
  /** Interrupt remapping: IRTE cache, remapper and GA-log counters, performance counters (absent in older snapshots). */
  interruptRemapping: Type.Optional(obj({
    irteCache: obj({ tags: TAGS, data: list(U32, MAX_ENTRIES * 4 + 4) }),
    stats: obj(Object.fromEntries(INTERRUPT_STAT_KEYS.map((k) => [k, COUNT]))),
    gaLog: LOG_STATS,
    perf: Type.Union([Type.Null(), obj({
      regs: list(U32, 63 * 15 * 12), base: list(Type.Number({ minimum: 0, maximum: MAX_SAFE }), 63 * 15),
      baseline: list(Type.Number({ minimum: 0, maximum: MAX_SAFE }), 63 * 15), directTotals: fixed(Type.Number({ minimum: 0, maximum: MAX_SAFE }), 32),
    })]),
  })),
}, { $id: "snapshot", description: "One IOMMU's state: AmdIommu.snapshot() / restore() (README \"Snapshots\")" });

/** The pipe's snapshot field: the snapshot schema (answers and restore requests). */
export const SNAPSHOT_IN = SNAPSHOT_SCHEMA;
export const SNAPSHOT_OUT = SNAPSHOT_SCHEMA;
