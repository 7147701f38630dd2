/**
 * Timing statistics of the IOMMU (docs/ARCHITECTURE.md section 6): latency histograms per
 * component and where each translation's cycles went.
 *
 * The breakdown prices what a translation recorded (TranslationResult: DTE and GCR3 cache
 * hits, IOTLB hit, page-directory-cache hits, memory references of the walk, A/D updates,
 * event write; walk reads at memoryReference, or memoryReferenceLlc when their table line was
 * cached) with the profile, the same way Translator.price() sums them, plus the walker
 * queueing delay of timed mode. The components always add up to completion - issue.
 */
import type { TimingProfile } from "../timing-profile.js";
import type { TranslationResult } from "../translation/request.js";
import { LatencyHistogram, addRepeated, addRepeatedAt, type HistogramSummary } from "./latency-histogram.js";

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
  const mem = (r.walkReferences - r.tableLineHits) * p.memoryReference + r.tableLineHits * p.memoryReferenceLlc;
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
const R_DTE_HIT = 0, R_DTE_MISS = 1, R_IOTLB = 2, R_GCR3_HIT = 3, R_OTHER_REFS = 4, R_PDE = 5, R_WALK_REFS = 6, R_AD = 7, R_EVENTS = 8, R_CYCLES = 9, R_QUEUE = 10, R_LINE_HITS = 11;
export const RAW_COUNTS = 12;

/**
 * Count what one translation that did not walk touched into `raw` (indexed by R_*), without
 * pricing it: the breakdown is linear in these counts, so snapshot() prices the sums once.
 * Its queueing delay is 0. No allocation.
 */
export function countBreakdown(r: TranslationResult, raw: Float64Array): void {
  const path = r.path;
  const dteRef = path !== "iommu-disabled" && path !== "none" && !r.dteCacheHit ? 1 : 0;
  if (path !== "iommu-disabled") { if (r.dteCacheHit) raw[R_DTE_HIT]!++; else raw[R_DTE_MISS]!++; }
  if (path === "host" || path === "guest" || path === "nested") raw[R_IOTLB]!++;
  const eventRef = r.event !== 0 ? 1 : 0;
  const other = r.memoryReferences - r.walkReferences - r.adUpdates - dteRef - eventRef;
  if (other > 0) raw[R_OTHER_REFS]! += other;
  if (r.gcr3CacheHit) raw[R_GCR3_HIT]!++;
  raw[R_PDE]! += r.pdeHits;
  raw[R_WALK_REFS]! += r.walkReferences;
  raw[R_LINE_HITS]! += r.tableLineHits;
  raw[R_AD]! += r.adUpdates;
  raw[R_EVENTS]! += eventRef;
  raw[R_CYCLES]! += r.cycles;
}

/** Price raw counts into a breakdown (indexed like BREAKDOWN), added to `into`. */
function priceCounts(raw: Float64Array, p: TimingProfile, into: Float64Array): void {
  const dte = raw[R_DTE_HIT]! * p.dteCacheHit + raw[R_DTE_MISS]! * p.memoryReference;
  const iotlb = raw[R_IOTLB]! * p.iotlbHit;
  const gcr3 = raw[R_GCR3_HIT]! * p.gcr3CacheHit + raw[R_OTHER_REFS]! * p.memoryReference;
  const pde = raw[R_PDE]! * p.pdeCacheHit;
  const mem = (raw[R_WALK_REFS]! - raw[R_LINE_HITS]!) * p.memoryReference + raw[R_LINE_HITS]! * p.memoryReferenceLlc;
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
  /** Counts of what timed translations touched (countBreakdown, countWalk), priced into the breakdown at snapshot. */
  readonly raw = new Float64Array(RAW_COUNTS);
  /** Timed translations but the walks and the plain hits (snapshot() adds those). */
  otherTranslations = 0;
  /** Timed translations that walked but the pending run; walkerQueue holds those that queued (snapshot() adds the zeros). */
  walks = 0;
  /** Walks whose DTE was fetched (not in the DTE cache). */
  walksDteFetched = 0;
  /**
   * The pending run of like walks: walks that each added the same samples and counts (same
   * cycles, latency and service time, DTE-cache hit, page-directory-cache hits, memory
   * references, A/D updates and GCR3-cache hit; no queueing, no event), counted as one. It goes
   * into the histograms and counts when a different walk or another translation is counted
   * (flushRun); snapshot() adds it to copies. Plain fields, not a Float64Array: V8 then
   * compares the result's small integers and booleans as they are, with no conversion to
   * double on the hot path. runCycles = -1 matches no walk.
   */
  runLength = 0;
  runCycles = -1;
  runTotal = 0;
  runService = 0;
  runDteHit = false;
  runPdeHits = 0;
  runWalkRefs = 0;
  runLineHits = 0;
  runAd = 0;
  runRefs = 0;
  runGcr3Hit = false;
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

  /**
   * Count a timed translation that walked (its path is host, guest or nested): it became
   * ready `total - queue - service` cycles after issue, waited `queue` cycles for a walker,
   * took it for `service` cycles and completed `total` cycles after issue. A walk like the
   * pending run's lengthens it; any other goes through countOtherWalk(). No allocation.
   */
  countWalk(r: TranslationResult, dteHit: boolean, service: number, total: number, queue: number): void {
    if (r.cycles === this.runCycles && total === this.runTotal && queue === 0 && r.event === 0 && dteHit === this.runDteHit &&
      r.pdeHits === this.runPdeHits && r.walkReferences === this.runWalkRefs && r.tableLineHits === this.runLineHits && r.adUpdates === this.runAd &&
      r.memoryReferences === this.runRefs && r.gcr3CacheHit === this.runGcr3Hit) {
      this.runLength++;
      return;
    }
    this.countOtherWalk(r, dteHit, service, total, queue);
  }

  /** countWalk() of a walk unlike the pending run's: the run is flushed; the walk starts the next one, or (queued, or with an event) is recorded. */
  private countOtherWalk(r: TranslationResult, dteHit: boolean, service: number, total: number, queue: number): void {
    if (this.runLength > 0) this.flushRun();
    if (queue === 0 && r.event === 0) {
      this.runLength = 1; this.runCycles = r.cycles; this.runTotal = total; this.runService = service; this.runDteHit = dteHit;
      this.runPdeHits = r.pdeHits; this.runWalkRefs = r.walkReferences; this.runLineHits = r.tableLineHits; this.runAd = r.adUpdates; this.runRefs = r.memoryReferences;
      this.runGcr3Hit = r.gcr3CacheHit === true;
      return;
    }
    // one sample each in walkerService, walkerQueue (a zero is counted at snapshot) and
    // walkPdeHit or walkPdeMiss (merged into translation at snapshot); the breakdown is counted
    this.walkerService.record(service);
    if (queue > 0) {
      this.walkerQueue.record(queue);
      if (queue > this.maxWalkerQueue) this.maxWalkerQueue = queue;
    }
    if (r.pdeHits > 0) this.walkPdeHit.record(total); else this.walkPdeMiss.record(total);
    const event = r.event;
    if (event !== 0) this.eventLog.record(total);
    this.walks++;
    if (!dteHit) this.walksDteFetched++;
    const raw = this.raw;
    const refs = r.walkReferences, ad = r.adUpdates;
    raw[R_PDE]! += r.pdeHits;
    raw[R_WALK_REFS]! += refs;
    raw[R_LINE_HITS]! += r.tableLineHits;
    raw[R_AD]! += ad;
    raw[R_CYCLES]! += r.cycles;
    const other = r.memoryReferences - refs - ad - (dteHit ? 0 : 1) - (event !== 0 ? 1 : 0);
    if (other > 0) raw[R_OTHER_REFS]! += other;
    if (r.gcr3CacheHit) raw[R_GCR3_HIT]!++;
    if (event !== 0) raw[R_EVENTS]!++;
  }

  /** Sum of the walker service cycles of every walk (walkerService's sum with the pending run's). */
  serviceCycles(): number {
    return addRepeated(this.walkerService.sum, this.runService, this.runLength);
  }

  /** Add the pending run of walks to the histograms and counts (before anything else touches them). */
  flushRun(): void {
    const n = this.runLength;
    if (n === 0) return;
    this.walks += n;
    if (!this.runDteHit) this.walksDteFetched += n;
    this.addRun(this.walkerService, this.walkPdeHit, this.walkPdeMiss, this.raw);
    this.runLength = 0;
  }

  /** The pending run's samples and counts, added to the given histograms and raw counts (the live ones or copies). */
  private addRun(service: LatencyHistogram, pdeHit: LatencyHistogram, pdeMiss: LatencyHistogram, raw: Float64Array): void {
    const n = this.runLength;
    service.recordRepeated(this.runService, n);
    (this.runPdeHits > 0 ? pdeHit : pdeMiss).recordRepeated(this.runTotal, n);
    const refs = this.runWalkRefs, ad = this.runAd;
    raw[R_PDE]! += this.runPdeHits * n;
    raw[R_WALK_REFS]! += refs * n;
    raw[R_LINE_HITS]! += this.runLineHits * n;
    raw[R_AD]! += ad * n;
    addRepeatedAt(raw, R_CYCLES, this.runCycles, n);
    const other = this.runRefs - refs - ad - (this.runDteHit ? 0 : 1);
    if (other > 0) raw[R_OTHER_REFS]! += other * n;
    if (this.runGcr3Hit) raw[R_GCR3_HIT]! += n;
  }

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
    this.runLength = 0; this.runCycles = -1; this.runTotal = 0; this.runService = 0; this.runDteHit = false;
    this.runPdeHits = 0; this.runWalkRefs = 0; this.runLineHits = 0; this.runAd = 0; this.runRefs = 0; this.runGcr3Hit = false;
    this.otherTranslations = 0; this.walks = 0; this.walksDteFetched = 0; this.maxWalkerQueue = 0;
    this.hitsDteCached = 0; this.hitsDteFetched = 0; this.hitCycles = 0; this.plainHitsDteCached = 0; this.plainHitsDteFetched = 0;
  }

  snapshot(walkerBusyCycles: number, inFlightUntil: number, p: TimingProfile): TimingStatsSnapshot {
    const b = Float64Array.from(this.breakdown);
    // the pending run of walks, added to copies (a snapshot changes nothing)
    const raw = Float64Array.from(this.raw);
    const runN = this.runLength;
    const walkerService = this.walkerService.copy(), walkPdeHit = this.walkPdeHit.copy(), walkPdeMiss = this.walkPdeMiss.copy();
    if (runN > 0) this.addRun(walkerService, walkPdeHit, walkPdeMiss, raw);
    const walks = this.walks + runN;
    const walksDteFetched = this.walksDteFetched + (this.runDteHit ? 0 : runN);
    // walks: one DTE (cached or fetched) and one IOTLB look-up each; every queueing delay is a walk's
    raw[R_DTE_HIT]! += walks - walksDteFetched;
    raw[R_DTE_MISS]! += walksDteFetched;
    raw[R_IOTLB]! += walks;
    raw[R_QUEUE] = this.walkerQueue.sum;
    priceCounts(raw, p, b);
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
    histograms.walkerService = walkerService.summary();
    histograms.walkPdeHit = walkPdeHit.summary();
    histograms.walkPdeMiss = walkPdeMiss.summary();
    histograms.walkerQueue = this.walkerQueue.withZeros(walks - this.walkerQueue.count).summary();
    const hits = this.iotlbHit.withValue(p.dteCacheHit + p.iotlbHit, this.plainHitsDteCached).withValue(p.memoryReference + p.iotlbHit, this.plainHitsDteFetched);
    histograms.iotlbHit = hits.summary();
    histograms.translation = this.translation.merged(hits).merged(walkPdeHit).merged(walkPdeMiss).summary();
    return {
      timedTranslations: this.otherTranslations + walks + plainCached + plainFetched, walks, maxWalkerQueue: this.maxWalkerQueue,
      walkerBusyCycles, inFlightUntil, histograms, breakdown, breakdownShare,
    };
  }
}
