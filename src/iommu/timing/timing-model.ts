/**
 * Timed mode (ARCHITECTURE.md section 6, "Functional core, timing annotation"): a request
 * carries its issue cycle and gets its completion cycle.
 *
 * The architectural result comes from the one functional path (Translator.translate), so
 * both modes agree on every bit of it; this block only places what that path recorded on a
 * timeline:
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
 */
import type { TimingProfile } from "../timing-profile.js";
import { KIND_UNTRANSLATED, type Translator } from "../translation/translator.js";
import type { TranslationRequest, TranslationResult } from "../translation/request.js";
import { OP_COMPLETION_WAIT, opcodeOf } from "../../spec/commands.js";
import { WalkerPool } from "./walker-pool.js";
import { TimingStatistics, countBreakdown, countWalk, explainTranslation, preWalkCycles, type TimingStatsSnapshot } from "./timing-statistics.js";
import { TraceRecorder, type TraceDocument, type TraceOptions } from "./trace-recorder.js";

export class TimingModel {
  readonly walkers: WalkerPool;
  readonly stats = new TimingStatistics();
  /** Non-null while a trace is recorded. */
  trace: TraceRecorder | null = null;
  /** Latest completion cycle of any timed translation. */
  inFlightUntil = 0;
  /** Queueing delay of the last timed translation. */
  lastQueue = 0;

  constructor(private readonly profile: TimingProfile, private readonly translator: Translator) {
    this.walkers = new WalkerPool(profile.walkers);
  }

  /** Translate `req` issued at cycle `issue`; out.completionCycle is set. */
  translate(req: TranslationRequest, issue: number, out: TranslationResult): TranslationResult {
    const tr = this.translator;
    const walksBefore = tr.stats.walks;
    tr.translate(req, out, KIND_UNTRANSLATED);
    const p = this.profile;
    const s = this.stats;
    const cycles = out.cycles;
    let queue = 0;
    let walker = -1, walkStart = 0, walkEnd = 0;
    let done: number;
    if (tr.stats.walks !== walksBefore) {
      const pre = preWalkCycles(out, p);
      const ready = issue + pre;
      const service = cycles - pre;
      walkStart = this.walkers.acquire(ready, service);
      walker = this.walkers.lastSlot;
      queue = walkStart - ready;
      walkEnd = walkStart + service;
      done = walkEnd;
      s.walks++;
      s.walkerService.record(service);
      if (queue > 0) s.walkerQueue.record(queue); else s.walkerQueueZeros++;
      if (queue > s.maxWalkerQueue) s.maxWalkerQueue = queue;
      if (out.pdeHits > 0) s.walkPdeHit.record(done - issue); else s.walkPdeMiss.record(done - issue);
    } else {
      done = issue + cycles;
      if (out.iotlbHit && out.event === 0) {
        // the common case, kept lean: its breakdown (DTE + IOTLB) is summed from counters in snapshot()
        out.completionCycle = done;
        this.lastQueue = 0;
        if (done > this.inFlightUntil) this.inFlightUntil = done;
        s.timedTranslations++;
        if (out.dteCacheHit) s.hitsDteCached++; else s.hitsDteFetched++;
        s.hitCycles += cycles;
        // a plain hit costs exactly the DTE look-up and the IOTLB hit: counted, added to the
        // iotlbHit (and translation) histograms at snapshot; anything else is recorded
        if (cycles !== (out.dteCacheHit ? p.dteCacheHit : p.memoryReference) + p.iotlbHit) s.iotlbHit.record(cycles);
        else if (out.dteCacheHit) s.plainHitsDteCached++; else s.plainHitsDteFetched++;
        if (this.trace !== null) this.trace.translation(req.deviceId, req.address, req.pasid, req.write === true, issue, out, -1, 0, 0, explainTranslation(out, p, 0));
        return out;
      }
    }
    out.completionCycle = done;
    this.lastQueue = queue;
    if (done > this.inFlightUntil) this.inFlightUntil = done;
    s.timedTranslations++;
    if (walker < 0) s.translation.record(done - issue); // a walk is already in walkPdeHit/walkPdeMiss (merged in snapshot)
    if (out.event !== 0) s.eventLog.record(done - issue);
    if (walker >= 0) countWalk(out, queue, s.raw); else countBreakdown(out, queue, s.raw);
    if (this.trace !== null) {
      this.trace.translation(req.deviceId, req.address, req.pasid, req.write === true, issue, out, walker, walkStart, walkEnd,
        explainTranslation(out, p, queue));
    }
    return out;
  }

  /** The command processor ran one command from `start` to `end` (CommandProcessor.onCommand). */
  command(dw: Uint32Array, addr: number, start: number, end: number): void {
    this.stats.command.record(end - start);
    if (opcodeOf(dw) === OP_COMPLETION_WAIT) this.stats.completionWait.record(end - start);
    if (this.trace !== null) this.trace.command(dw, addr, start, end);
  }

  /** A page request issued at `issue` reached the PPR log (or was refused) at `done`. */
  pageRequest(deviceId: number, address: number | bigint, prgIndex: number, outcome: string, issue: number, done: number): void {
    this.stats.pageRequest.record(done - issue);
    if (this.trace !== null) this.trace.pageRequest(deviceId, address, prgIndex, outcome, issue, done);
  }

  startTrace(o?: TraceOptions): void {
    this.trace = new TraceRecorder(this.profile.clockHz, this.profile.walkers, o);
  }

  stopTrace(): TraceDocument {
    if (this.trace === null) throw new Error("stopTrace: no trace is being recorded (call startTrace() first)");
    const doc = this.trace.document();
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
    this.inFlightUntil = 0;
    this.lastQueue = 0;
  }
}
