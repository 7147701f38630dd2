/**
 * Timed mode (docs/ARCHITECTURE.md section 6, "Functional core, timing annotation"): a request
 * carries its issue cycle and gets its completion cycle.
 *
 * The architectural result comes from the one functional path (the one translateInto() takes,
 * Translator.translateUntranslated), so both modes agree on every bit of it; this block only
 * places what that path recorded on a timeline:
 *
 *   issue -> DTE look-up -> IOTLB look-up -> (miss) wait for a free walker -> walk -> done
 *
 * An IOTLB hit (or a request refused before any walk) completes at issue + cycles. A walk
 * takes one of profile.walkers slots (WalkerPool) for everything after the IOTLB look-up
 * (walk overhead, table reads, page-directory-cache hits, A/D updates, the event write of a
 * fault); when all are busy it queues. The latest completion handed out is the fence a
 * COMPLETION_WAIT waits for ("translations already in flight").
 *
 * Simplification: the functional effects (A/D, IOTLB fill) happen at issue, so a hit under
 * an outstanding miss to the same page sees the fill early (no miss merging).
 *
 * Host time: the common cases cost a few tests and one counter on top of the functional
 * path. A plain hit (DTE cached, latency exactly DTE-cache hit + IOTLB hit) is only counted;
 * a walk like the one before (same latencies and counts, no queueing, no event) only
 * lengthens the pending run of TimingStatistics. snapshot() turns the counts into the same
 * histograms and breakdown that recording every translation one by one gives
 * (test/timing/timing-reference.test.ts).
 */
import type { TimingProfile } from "../timing-profile.js";
import type { Translator } from "../translation/translator.js";
import type { TranslationStats } from "../translation/translation-stats.js";
import type { TranslationRequest, TranslationResult } from "../translation/request.js";
import { OP_COMPLETION_WAIT, opcodeOf } from "../../spec/commands.js";
import { WalkerPool } from "./walker-pool.js";
import { TimingStatistics, countBreakdown, explainTranslation, type TimingStatsSnapshot } from "./timing-statistics.js";
import { TraceRecorder, type TraceDocument, type TraceOptions } from "./trace-recorder.js";

export class TimingModel {
  readonly walkers: WalkerPool;
  readonly stats = new TimingStatistics();
  private recorder: TraceRecorder | null = null;
  /** Latest completion cycle of a timed translation that did not walk (walks: walkers.latestEnd). */
  private doneUntil = 0;
  /** Queueing delay of the last timed translation. */
  lastQueue = 0;

  /** Latency of a plain IOTLB hit with the DTE cached: DTE-cache hit + IOTLB hit. */
  private readonly plainHit: number;
  /** plainHit, or -1 (no latency) while a trace is recorded: translate()'s fast case then never matches. */
  private fastHitCycles: number;
  /** The translator's counters (the same object for the translator's life: a snapshot restore assigns into it). */
  private readonly translatorStats: TranslationStats;
  /** Cycles before a walk needs a walker: DTE look-up (cached / fetched) + IOTLB look-up. */
  private readonly preWalkDteCached: number;
  private readonly preWalkDteFetched: number;

  /**
   * @param issue element 0: the issue cycle of the next translate() (AmdIommu.timedIssue). Read
   *   from this typed array, not handed down as an argument: V8 hands a number that is not a
   *   small integer (a cycle count above 2^31) to a call it does not inline as a newly
   *   allocated heap number (README "Allocation").
   */
  constructor(private readonly profile: TimingProfile, private readonly translator: Translator, private readonly issue: Float64Array) {
    this.walkers = new WalkerPool(profile.walkers, () => this.stats.serviceCycles());
    this.plainHit = profile.dteCacheHit + profile.iotlbHit;
    this.fastHitCycles = this.plainHit;
    this.translatorStats = translator.stats;
    this.preWalkDteCached = profile.dteCacheHit + profile.iotlbHit;
    this.preWalkDteFetched = profile.memoryReference + profile.iotlbHit;
  }

  /** Latest completion cycle of any timed translation (the COMPLETION_WAIT fence). */
  get inFlightUntil(): number {
    const w = this.walkers.latestEnd;
    return w > this.doneUntil ? w : this.doneUntil;
  }
  set inFlightUntil(v: number) { this.doneUntil = v; }

  /** Non-null while a trace is recorded. */
  get trace(): TraceRecorder | null { return this.recorder; }
  set trace(t: TraceRecorder | null) {
    this.recorder = t;
    this.fastHitCycles = t === null ? this.plainHit : -1;
  }

  /** Translate `req` issued at cycle issue[0]; out.completionCycle is set. */
  translate(req: TranslationRequest, out: TranslationResult): TranslationResult {
    // Kept small so it inlines into the caller: the common case (an IOTLB hit with the DTE
    // cached, costing exactly DTE-cache hit + IOTLB hit) is one counter; walks and everything
    // else are placed on the timeline out of line.
    const ts = this.translatorStats;
    const walks = ts.walks;
    this.translator.translateUntranslated(req, out); // the functional path translateInto() takes
    const cycles = out.cycles;
    if (out.iotlbHit === true && out.dteCacheHit === true && cycles === this.fastHitCycles && out.event === 0) {
      // (the issue cycle read after the translation, as walk() and other() read it: an interrupt
      // callback's own timed translation during it puts timedIssue[0] back, AmdIommu.raise)
      const done = this.issue[0]! + cycles;
      out.completionCycle = done;
      this.lastQueue = 0;
      if (done > this.doneUntil) this.doneUntil = done;
      this.stats.plainHitsDteCached++; // one translation, one iotlbHit sample, its breakdown: all added at snapshot
      return out;
    }
    return ts.walks !== walks ? this.walk(req, out) : this.other(req, out);
  }

  /** A translation issued at issue[0] that walked: it waits for a walker after the DTE and IOTLB look-ups. */
  private walk(req: TranslationRequest, out: TranslationResult): TranslationResult {
    const issue = this.issue[0]!;
    const dteHit = out.dteCacheHit === true;
    // a walk's path is host, guest or nested: the DTE and the IOTLB look-up come first
    const pre = dteHit ? this.preWalkDteCached : this.preWalkDteFetched;
    const ready = issue + pre;
    const service = out.cycles - pre;
    const walkStart = this.walkers.acquire(ready, service);
    const queue = walkStart - ready;
    const done = walkStart + service;
    out.completionCycle = done; // the walker's new free cycle: inFlightUntil sees it there
    this.lastQueue = queue;
    this.stats.countWalk(out, dteHit, service, done - issue, queue);
    if (this.recorder !== null) this.traceWalk(req, issue, out, walkStart, queue);
    return out;
  }

  private traceWalk(req: TranslationRequest, issue: number, out: TranslationResult, walkStart: number, queue: number): void {
    this.recorder!.translation(req.deviceId, req.address, req.pasid, req.write === true, issue, out.completionCycle, out, this.walkers.lastSlot, walkStart, out.completionCycle,
      explainTranslation(out, this.profile, queue));
  }

  /** The RangeError of translateTimed() / translateTimedAt() for a bad issue cycle, `what` naming it (kept out of the hot path). */
  issueCycleError(what: string, issueCycle: unknown): RangeError {
    return new RangeError(`${what} must be a finite non-negative number, got ${String(issueCycle)}`);
  }

  /** A translation issued at issue[0] that did not walk and is not an untraced plain hit with the DTE cached: it completes at issue + cycles. */
  private other(req: TranslationRequest, out: TranslationResult): TranslationResult {
    const issue = this.issue[0]!;
    const p = this.profile;
    const s = this.stats;
    const cycles = out.cycles;
    const done = issue + cycles;
    out.completionCycle = done;
    this.lastQueue = 0;
    if (done > this.doneUntil) this.doneUntil = done;
    if (out.iotlbHit && out.event === 0) {
      // a hit: its breakdown (DTE + IOTLB) is summed from counters in snapshot(); a plain one
      // (exactly the DTE look-up and the IOTLB hit) is counted, added to the histograms at snapshot
      if (out.dteCacheHit && cycles === this.plainHit) s.plainHitsDteCached++;
      else if (!out.dteCacheHit && cycles === this.preWalkDteFetched) s.plainHitsDteFetched++;
      else {
        s.otherTranslations++;
        if (out.dteCacheHit) s.hitsDteCached++; else s.hitsDteFetched++;
        s.hitCycles += cycles;
        s.iotlbHit.record(cycles);
      }
    } else {
      s.flushRun(); // the raw counts take additions in order
      s.otherTranslations++;
      s.translation.record(done - issue);
      if (out.event !== 0) s.eventLog.record(done - issue);
      countBreakdown(out, s.raw);
    }
    if (this.recorder !== null) this.recorder.translation(req.deviceId, req.address, req.pasid, req.write === true, issue, done, out, -1, 0, 0, explainTranslation(out, p, 0));
    return out;
  }

  /** The command processor ran one command from `start` to `end` (CommandProcessor.onCommand). */
  command(dw: Uint32Array, addr: number, start: number, end: number): void {
    this.stats.command.record(end - start);
    if (opcodeOf(dw) === OP_COMPLETION_WAIT) this.stats.completionWait.record(end - start);
    if (this.recorder !== null) this.recorder.command(dw, addr, start, end);
  }

  /** A page request issued at `issue` reached the PPR log (or was refused) at `done`. */
  pageRequest(deviceId: number, address: number | bigint, prgIndex: number, outcome: string, issue: number, done: number): void {
    this.stats.pageRequest.record(done - issue);
    if (this.recorder !== null) this.recorder.pageRequest(deviceId, address, prgIndex, outcome, issue, done);
  }

  /**
   * A translation made through an untimed call (translate, translateInto, translateAts) while
   * a trace is recorded: placed at cycle `now`, after the same device's previous untimed call.
   */
  traceUntimed(req: TranslationRequest, out: TranslationResult, now: number): void {
    const r = this.recorder!;
    const start = r.untimedStart(req.deviceId, now);
    const end = start + out.cycles;
    r.untimedDone(req.deviceId, end);
    r.translation(req.deviceId, req.address, req.pasid, req.write === true, start, end, out, -1, 0, 0, explainTranslation(out, this.profile, 0), false);
  }

  /** `domainOf(deviceId)`: the DomainID of the device's cached DTE, or -1 (ties invalidations to the translations they removed). */
  startTrace(o?: TraceOptions, domainOf?: (deviceId: number) => number): void {
    this.trace = new TraceRecorder(this.profile.clockHz, this.profile.walkers, o, domainOf);
  }

  stopTrace(): TraceDocument {
    if (this.recorder === null) throw new Error("stopTrace: no trace is being recorded (call startTrace() first)");
    const doc = this.recorder.document();
    this.trace = null;
    return doc;
  }

  snapshot(): TimingStatsSnapshot {
    return this.stats.snapshot(this.walkers.busyCycles, this.inFlightUntil, this.profile);
  }

  /** Forget queue state and statistics (walkers idle, no translation in flight). */
  reset(): void {
    this.walkers.reset();
    this.stats.reset();
    this.doneUntil = 0;
    this.lastQueue = 0;
  }
}
