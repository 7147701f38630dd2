/**
 * Timing statistics of the IOMMU (ARCHITECTURE.md section 6): latency histograms per
 * component and where each translation's cycles went.
 *
 * The breakdown prices what a translation recorded (TranslationResult: DTE and GCR3 cache
 * hits, IOTLB hit, page-directory-cache hits, memory references of the walk, A/D updates,
 * event write) with the profile, the same way Translator.price() sums them, plus the walker
 * queueing delay of timed mode. The components always add up to completion - issue.
 */
import type { TimingProfile } from "../timing-profile.js";
import type { TranslationResult } from "../translation/request.js";
import { LatencyHistogram, type HistogramSummary } from "./latency-histogram.js";

/** Where a translation's cycles go, in this order. */
export const BREAKDOWN = [
  "dte", "iotlb", "gcr3", "pdeCache", "walkOverhead", "walkMemory", "adUpdates", "eventLog", "walkerQueue",
] as const;
export type BreakdownComponent = (typeof BREAKDOWN)[number];
export const B_DTE = 0, B_IOTLB = 1, B_GCR3 = 2, B_PDE = 3, B_OVERHEAD = 4, B_MEMORY = 5, B_AD = 6, B_EVENT = 7, B_QUEUE = 8;

/**
 * Add the breakdown of one translation to `into` (indexed like BREAKDOWN). Cycles that no
 * recorded item explains (the fixed walk overhead) land in walkOverhead, so the parts sum
 * to r.cycles + queue exactly. No allocation.
 */
export function addBreakdown(r: TranslationResult, p: TimingProfile, queue: number, into: Float64Array): void {
  const path = r.path;
  const translated = path !== "iommu-disabled" && path !== "none";
  const dteRef = translated && !r.dteCacheHit ? 1 : 0;
  const dte = path === "iommu-disabled" ? 0 : r.dteCacheHit ? p.dteCacheHit : p.memoryReference;
  const iotlb = path === "host" || path === "guest" || path === "nested" ? p.iotlbHit : 0;
  const eventRef = r.event !== 0 ? 1 : 0;
  const otherRefs = Math.max(0, r.memoryReferences - r.walkReferences - r.adUpdates - dteRef - eventRef);
  const gcr3 = (r.gcr3CacheHit ? p.gcr3CacheHit : 0) + otherRefs * p.memoryReference;
  const pde = r.pdeHits * p.pdeCacheHit;
  const mem = r.walkReferences * p.memoryReference;
  const ad = r.adUpdates * p.adUpdate;
  const ev = eventRef * p.memoryReference;
  into[B_DTE]! += dte;
  into[B_IOTLB]! += iotlb;
  into[B_GCR3]! += gcr3;
  into[B_PDE]! += pde;
  into[B_OVERHEAD]! += r.cycles - dte - iotlb - gcr3 - pde - mem - ad - ev;
  into[B_MEMORY]! += mem;
  into[B_AD]! += ad;
  into[B_EVENT]! += ev;
  into[B_QUEUE]! += queue;
}

/** Raw counts behind the breakdown, indexed by R_*: what a translation touched, priced at snapshot. */
const R_DTE_HIT = 0, R_DTE_MISS = 1, R_IOTLB = 2, R_GCR3_HIT = 3, R_OTHER_REFS = 4, R_PDE = 5, R_WALK_REFS = 6, R_AD = 7, R_EVENTS = 8, R_CYCLES = 9, R_QUEUE = 10;
export const RAW_COUNTS = 11;

/**
 * Count what one translation touched into `raw` (indexed by R_*), without pricing it: the
 * breakdown is linear in these counts, so snapshot() prices the sums once. The result equals
 * summing addBreakdown() over every translation. No allocation.
 */
export function countBreakdown(r: TranslationResult, queue: number, raw: Float64Array): void {
  const path = r.path;
  if (path !== "iommu-disabled") { if (r.dteCacheHit) raw[R_DTE_HIT]!++; else raw[R_DTE_MISS]!++; }
  if (path === "host" || path === "guest" || path === "nested") raw[R_IOTLB]!++;
  countRefs(r, queue, raw, path !== "iommu-disabled" && path !== "none" && !r.dteCacheHit ? 1 : 0);
}

/** countBreakdown() for a translation that walked: its path is host, guest or nested (no path test needed). */
export function countWalk(r: TranslationResult, queue: number, raw: Float64Array): void {
  const dteHit = r.dteCacheHit;
  raw[dteHit ? R_DTE_HIT : R_DTE_MISS]!++;
  raw[R_IOTLB]!++;
  countRefs(r, queue, raw, dteHit ? 0 : 1);
}

/** The parts of countBreakdown() every path shares: references, cache hits, cycles and queueing. */
function countRefs(r: TranslationResult, queue: number, raw: Float64Array, dteRef: number): void {
  const eventRef = r.event !== 0 ? 1 : 0;
  const other = r.memoryReferences - r.walkReferences - r.adUpdates - dteRef - eventRef;
  if (other > 0) raw[R_OTHER_REFS]! += other;
  if (r.gcr3CacheHit) raw[R_GCR3_HIT]!++;
  raw[R_PDE]! += r.pdeHits;
  raw[R_WALK_REFS]! += r.walkReferences;
  raw[R_AD]! += r.adUpdates;
  raw[R_EVENTS]! += eventRef;
  raw[R_CYCLES]! += r.cycles;
  raw[R_QUEUE]! += queue;
}

/** Price raw counts into a breakdown (indexed like BREAKDOWN), added to `into`. */
function priceCounts(raw: Float64Array, p: TimingProfile, into: Float64Array): void {
  const dte = raw[R_DTE_HIT]! * p.dteCacheHit + raw[R_DTE_MISS]! * p.memoryReference;
  const iotlb = raw[R_IOTLB]! * p.iotlbHit;
  const gcr3 = raw[R_GCR3_HIT]! * p.gcr3CacheHit + raw[R_OTHER_REFS]! * p.memoryReference;
  const pde = raw[R_PDE]! * p.pdeCacheHit;
  const mem = raw[R_WALK_REFS]! * p.memoryReference;
  const ad = raw[R_AD]! * p.adUpdate;
  const ev = raw[R_EVENTS]! * p.memoryReference;
  into[B_DTE]! += dte; into[B_IOTLB]! += iotlb; into[B_GCR3]! += gcr3; into[B_PDE]! += pde;
  into[B_OVERHEAD]! += raw[R_CYCLES]! - dte - iotlb - gcr3 - pde - mem - ad - ev;
  into[B_MEMORY]! += mem; into[B_AD]! += ad; into[B_EVENT]! += ev; into[B_QUEUE]! += raw[R_QUEUE]!;
}

/** The breakdown of one translation as named cycles (reports, traces, tests). */
export function explainTranslation(r: TranslationResult, p: TimingProfile, queue = 0): Record<BreakdownComponent, number> {
  const a = new Float64Array(BREAKDOWN.length);
  addBreakdown(r, p, queue, a);
  return Object.fromEntries(BREAKDOWN.map((k, i) => [k, a[i]!])) as Record<BreakdownComponent, number>;
}

/** Cycles spent before a walker is needed: the DTE and the IOTLB look-up. */
export function preWalkCycles(r: TranslationResult, p: TimingProfile): number {
  const path = r.path;
  return (path === "iommu-disabled" ? 0 : r.dteCacheHit ? p.dteCacheHit : p.memoryReference) + (path === "host" || path === "guest" || path === "nested" ? p.iotlbHit : 0);
}

export interface TimingStatsSnapshot {
  /** Translations issued with translateTimed. */
  timedTranslations: number;
  walks: number;
  /** Largest walker queueing delay seen. */
  maxWalkerQueue: number;
  /** Sum of walker service cycles. */
  walkerBusyCycles: number;
  /** Latest completion of a timed translation (the COMPLETION_WAIT fence). */
  inFlightUntil: number;
  histograms: Record<string, HistogramSummary>;
  /** Total cycles per component over every timed translation. */
  breakdown: Record<BreakdownComponent, number>;
  /** Share of the total per component (0..1). */
  breakdownShare: Record<BreakdownComponent, number>;
}

export class TimingStatistics {
  /** Issue to completion of every timed translation but the plain IOTLB hits and the walks (snapshot() merges those in). */
  readonly translation = new LatencyHistogram();
  /** Translations served by the IOTLB. */
  readonly iotlbHit = new LatencyHistogram();
  /** Walks that skipped levels with a page-directory-cache hit (issue to completion). */
  readonly walkPdeHit = new LatencyHistogram();
  /** Walks that found nothing in the page-directory cache (issue to completion). */
  readonly walkPdeMiss = new LatencyHistogram();
  /** Cycles a walker was busy for one walk. */
  readonly walkerService = new LatencyHistogram();
  /** Cycles a walk waited for a free walker. */
  readonly walkerQueue = new LatencyHistogram();
  /** Translations that wrote an event-log entry (issue to completion). */
  readonly eventLog = new LatencyHistogram();
  /** Command processor: fetch, decode and execution of one command. */
  readonly command = new LatencyHistogram();
  /** COMPLETION_WAIT commands alone (they wait for what came before them). */
  readonly completionWait = new LatencyHistogram();
  /** Page requests: issue to PPR-log entry (and interrupt, when enabled). */
  readonly pageRequest = new LatencyHistogram();
  readonly breakdown = new Float64Array(BREAKDOWN.length);
  /** Counts of what timed translations touched (countBreakdown), priced into the breakdown at snapshot. */
  readonly raw = new Float64Array(RAW_COUNTS);
  /** Timed translations but the plain hits (snapshot() adds those). */
  timedTranslations = 0;
  /** Walks that did not queue for a walker (zeros of walkerQueue, added at snapshot). */
  walkerQueueZeros = 0;
  walks = 0;
  maxWalkerQueue = 0;
  /**
   * Plain hits: IOTLB hits without an event whose latency is exactly DTE look-up + IOTLB hit
   * (with the DTE cached / fetched). Only counted: snapshot() adds them to the translations,
   * the iotlbHit and translation histograms and the breakdown.
   */
  plainHitsDteCached = 0;
  plainHitsDteFetched = 0;
  /** The other IOTLB hits without an event (recorded in iotlbHit), broken down from these counters in snapshot(). */
  hitsDteCached = 0;
  hitsDteFetched = 0;
  hitCycles = 0;

  private histograms(): Record<string, LatencyHistogram> {
    return {
      translation: this.translation, iotlbHit: this.iotlbHit, walkPdeHit: this.walkPdeHit, walkPdeMiss: this.walkPdeMiss,
      walkerService: this.walkerService, walkerQueue: this.walkerQueue, eventLog: this.eventLog, command: this.command,
      completionWait: this.completionWait, pageRequest: this.pageRequest,
    };
  }

  reset(): void {
    for (const h of Object.values(this.histograms())) h.reset();
    this.breakdown.fill(0);
    this.raw.fill(0);
    this.timedTranslations = 0; this.walks = 0; this.walkerQueueZeros = 0; this.maxWalkerQueue = 0;
    this.hitsDteCached = 0; this.hitsDteFetched = 0; this.hitCycles = 0; this.plainHitsDteCached = 0; this.plainHitsDteFetched = 0;
  }

  snapshot(walkerBusyCycles: number, inFlightUntil: number, p: TimingProfile): TimingStatsSnapshot {
    const b = Float64Array.from(this.breakdown);
    priceCounts(this.raw, p, b);
    const plainCached = this.plainHitsDteCached, plainFetched = this.plainHitsDteFetched;
    const hitsCached = this.hitsDteCached + plainCached, hitsFetched = this.hitsDteFetched + plainFetched;
    const hitCycles = this.hitCycles + plainCached * (p.dteCacheHit + p.iotlbHit) + plainFetched * (p.memoryReference + p.iotlbHit);
    const dte = hitsCached * p.dteCacheHit + hitsFetched * p.memoryReference;
    const iotlb = (hitsCached + hitsFetched) * p.iotlbHit;
    b[B_DTE]! += dte;
    b[B_IOTLB]! += iotlb;
    b[B_OVERHEAD]! += hitCycles - dte - iotlb;
    const total = b.reduce((x, y) => x + y, 0);
    const breakdown = Object.fromEntries(BREAKDOWN.map((k, i) => [k, b[i]!])) as Record<BreakdownComponent, number>;
    const breakdownShare = Object.fromEntries(BREAKDOWN.map((k, i) => [k, total === 0 ? 0 : b[i]! / total])) as Record<BreakdownComponent, number>;
    const histograms: Record<string, HistogramSummary> = {};
    for (const [k, h] of Object.entries(this.histograms())) histograms[k] = h.summary();
    histograms.walkerQueue = this.walkerQueue.withZeros(this.walkerQueueZeros).summary();
    const hits = this.iotlbHit.withValue(p.dteCacheHit + p.iotlbHit, this.plainHitsDteCached).withValue(p.memoryReference + p.iotlbHit, this.plainHitsDteFetched);
    histograms.iotlbHit = hits.summary();
    histograms.translation = this.translation.merged(hits).merged(this.walkPdeHit).merged(this.walkPdeMiss).summary();
    return {
      timedTranslations: this.timedTranslations + plainCached + plainFetched, walks: this.walks, maxWalkerQueue: this.maxWalkerQueue,
      walkerBusyCycles, inFlightUntil, histograms, breakdown, breakdownShare,
    };
  }
}
