/**
 * AmdIommu: one AMD IOMMU (one PCI segment) with its v2 features, driven through its MMIO
 * registers and in-memory tables exactly as a driver would (docs/ARCHITECTURE.md section 4).
 *
 * It wires the hardware blocks together: the register file, the device table and its
 * cache, the IOTLB, page-directory and GCR3 caches, the translator (v1, guest, nested),
 * the command processor, the event and PPR logs, and the downstream endpoints (ATS, PRI).
 * No global state: everything hangs off the instance.
 */
import type { MemoryPort } from "../memory/memory-port.js";
import {
  CONTROL, MMIO_COMMAND_BUFFER_BASE, MMIO_COMMAND_BUFFER_HEAD, MMIO_COMMAND_BUFFER_TAIL, MMIO_CONTROL,
  MMIO_EVENT_LOG_BASE, MMIO_EVENT_LOG_HEAD, MMIO_EVENT_LOG_TAIL, MMIO_PPR_LOG_BASE, MMIO_PPR_LOG_HEAD, MMIO_PPR_LOG_TAIL,
  STATUS,
} from "../spec/registers.js";
import { DeviceTable } from "./device-table.js";
import { Iotlb } from "./caches/iotlb.js";
import { PdeCache } from "./caches/pde-cache.js";
import { Gcr3Cache } from "./caches/gcr3-cache.js";
import { LogRing } from "./log-ring.js";
import { MmioRegisters } from "./mmio-registers.js";
import { CommandProcessor, STEP_DONE, STEP_WAIT } from "./command-processor.js";
import { PprLog, type PageRequest, type PageRequestOutcome } from "./ppr-log.js";
import type { EndpointPort } from "./endpoint-port.js";
import type { InvalidationTarget } from "./invalidation.js";
import { extendedFeature2Value, extendedFeatureValue, featurePresent } from "./feature-registers.js";
import {
  resolveFeatures, resolveQuirks, type AmdIommuOptions, type FeatureOptions, type InterruptSource, type QuirkOptions,
} from "./options.js";
import { checkOptionNames } from "./options.js";
import { resolveTimingProfile, type TimingProfile } from "./timing-profile.js";
import { Translator } from "./translation/translator.js";
import { Kind } from "./translation/request.js";
import { TranslationResult, type MemoryAccess, type TranslationRequest } from "./translation/request.js";
import { V1_SHIFT } from "./translation/host-walk.js";
import { TimingModel } from "./timing/timing-model.js";
import type { TraceDocument, TraceOptions } from "./timing/trace-recorder.js";
import { InvalidationNotifiers, notifyMap, type Mapping } from "../embedding/invalidation-notifiers.js";
import { replayMappings, type ReplayIterator, type ReplayOptions } from "../embedding/mapping-replay.js";
import { applySnapshot, snapshotOptions, takeSnapshot, type IommuSnapshot } from "../embedding/iommu-snapshot.js";
import { SteppedTranslation, type SteppedOptions } from "../embedding/stepped-translation.js";
import { IrteCache } from "./interrupts/irte-cache.js";
import { GaLog } from "./interrupts/ga-log.js";
import { InterruptRemapper } from "./interrupts/interrupt-remapping.js";
import { InterruptRemapResult, type InterruptRequest } from "./interrupts/interrupt-request.js";
import { PerfCounters } from "./perf-counters.js";
import { MMIO_WINDOW_BYTES } from "../spec/registers.js";
import { PERF_EVENT_CODE, PERF_WINDOW_BYTES } from "../spec/perf-counters.js";
import {
  MMIO_EVENT_LOG_B_BASE, MMIO_EVENT_LOG_B_HEAD, MMIO_EVENT_LOG_B_TAIL, MMIO_PPR_LOG_B_BASE, MMIO_PPR_LOG_B_HEAD, MMIO_PPR_LOG_B_TAIL,
  MMIO_XT_GA_INT_CTRL, MMIO_XT_GENERAL_INT_CTRL, MMIO_XT_PPR_INT_CTRL,
} from "../spec/registers.js";
import { decodeXtInterruptControl, type XtInterruptControl } from "../spec/interrupts.js";

function checkMemory(m: unknown): MemoryPort {
  const x = m as MemoryPort;
  if (x === null || typeof x !== "object" || typeof x.load32 !== "function" || typeof x.store32 !== "function" ||
    typeof x.cas32 !== "function" || typeof x.contains !== "function" || typeof x.bytes !== "number") {
    throw new TypeError("AmdIommu: options.memory must be a PhysicalMemory (or a MemoryPort with bytes, contains, load32, store32, cas32, storeNotify32)");
  }
  return x;
}

function geometry(name: string, g: unknown, def: { entries: number; ways: number }): { entries: number; ways: number; replacement?: "lru" | "fifo" | "random"; minLevel?: number } {
  if (g === undefined) return { ...def };
  if (g === null || typeof g !== "object") throw new TypeError(`options.${name} must be an object like { entries: ${def.entries} }`);
  const o = g as { entries?: unknown; ways?: unknown };
  if (typeof o.entries !== "number") throw new TypeError(`options.${name}.entries must be a number, got ${typeof o.entries}`);
  const entries = o.entries;
  const ways = o.ways === undefined ? (entries === 0 ? 0 : Math.min(entries, def.ways)) : o.ways;
  return { ...(g as object), entries, ways: ways as number };
}

/**
 * The exported type shows the public surface only: the blocks it wires (register file,
 * caches, translator, timing model, command processor) and the calls the command processor
 * makes into it (InvalidationTarget) are marked internal and left out of the package's
 * declarations (tsconfig stripInternal); code inside the package uses them as before.
 */
export class AmdIommu {
  readonly memory: MemoryPort;
  readonly features: Readonly<FeatureOptions>;
  readonly quirks: Readonly<QuirkOptions>;
  readonly timing: Readonly<TimingProfile>;
  readonly segment: number;
  /** @internal */
  readonly regs: MmioRegisters;
  /** @internal */
  readonly deviceTable: DeviceTable;
  /** @internal */
  readonly iotlb: Iotlb;
  /** @internal */
  readonly pdeCache: PdeCache;
  /** @internal */
  readonly gcr3Cache: Gcr3Cache;
  /** @internal */
  readonly eventLog: LogRing;
  /** @internal */
  readonly pprLog: LogRing;
  /** The IOMMU side of PRI: page requests into the PPR log (ppr-log.ts). */
  readonly ppr: PprLog;
  /** @internal */
  readonly translator: Translator;
  /** Interrupt remapping (interrupts/interrupt-remapping.ts), its IRTE cache and the GA log. */
  readonly irteCache: IrteCache;
  readonly gaLog: GaLog;
  readonly interruptRemapper: InterruptRemapper;
  /** Performance counters (perf-counters.ts) when EFR.PCSup, else null (16 KiB window). */
  readonly perf: PerfCounters | null;
  /** @internal Timed mode: walker slots, latency statistics, the trace (timing/timing-model.ts). */
  readonly timingModel: TimingModel;
  /** No command work is possible until the next MMIO write (lets timed requests skip the command processor). */
  private commandsIdle = false;
  /** @internal */
  readonly commands: CommandProcessor;
  /** @internal */
  readonly endpoints = new Map<number, EndpointPort>();
  /** Invalidation (UNMAP, DEVICE-TLB UNMAP) and MAP notifiers for embedders (embedding/invalidation-notifiers.ts). */
  readonly notifiers = new InvalidationNotifiers();
  /** Current cycle of the IOMMU clock. */
  now = 0;
  /**
   * The issue cycle of the next translateTimedAt() (element 0). An element of a typed array, not
   * an argument: V8 hands a number that is not a small integer (a cycle count above 2^31, so any
   * simulation past 2.1 s of a 1 GHz clock) to a call it does not inline as a newly allocated
   * heap number, one per translation (README "Allocation").
   */
  readonly timedIssue = new Float64Array(1);
  private readonly onInterrupt: ((s: InterruptSource) => void) | undefined;
  readonly interrupts = { "event-log": 0, "ppr-log": 0, "completion-wait": 0, "ga-log": 0 };
  private readonly scratch = new TranslationResult();

  constructor(options: AmdIommuOptions) {
    if (options === null || typeof options !== "object") throw new TypeError("AmdIommu: options must be an object { memory, ... }");
    this.memory = checkMemory(options.memory);
    this.features = resolveFeatures(options.features);
    this.quirks = resolveQuirks(options.quirks);
    this.timing = resolveTimingProfile(options.timing);
    const seed = checkOptionNames(options);
    const segment = options.segment ?? 0;
    if (!Number.isInteger(segment) || segment < 0 || segment > 0xffff) throw new RangeError(`options.segment must be an integer 0..65535, got ${String(segment)}`);
    this.segment = segment;
    if (options.onInterrupt !== undefined && typeof options.onInterrupt !== "function") throw new TypeError("options.onInterrupt must be a function");
    this.onInterrupt = options.onInterrupt;
    const conc = options.concurrency ?? "single";
    if (conc !== "single" && conc !== "shared") throw new RangeError(`options.concurrency must be "single" or "shared", got ${String(conc)}`);
    const f = this.features;
    const present = (name: string) => featurePresent(f, name);
    this.regs = new MmioRegisters(present, new Map([["ExtendedFeature", extendedFeatureValue(f)], ["ExtendedFeature2", extendedFeature2Value(f)]]));
    this.regs.onWrite = (off, lo, hi) => this.afterWrite(off, lo, hi);
    this.iotlb = new Iotlb(geometry("iotlb", options.iotlb, { entries: 64, ways: 4 }), seed);
    // default minLevel 3: PDPE/PML4E entries cached, so a warm walk reads the PDE and the PTE (2 references, docs/calibration.md B3/B18)
    this.pdeCache = new PdeCache({ minLevel: 3, ...geometry("pdeCache", options.pdeCache, { entries: 64, ways: 4 }) }, seed + 1);
    this.gcr3Cache = new Gcr3Cache(geometry("gcr3Cache", options.gcr3Cache, { entries: 64, ways: 4 }), seed + 2);
    this.deviceTable = new DeviceTable(this.regs, this.memory, f, this.quirks, geometry("dteCache", options.dteCache, { entries: 256, ways: 8 }), seed + 3, present);
    this.eventLog = new LogRing(this.regs, this.memory, {
      baseReg: MMIO_EVENT_LOG_BASE, headReg: MMIO_EVENT_LOG_HEAD, tailReg: MMIO_EVENT_LOG_TAIL,
      logEn: CONTROL.EventLogEn, intEn: CONTROL.EventIntEn, run: STATUS.EventLogRun, overflow: STATUS.EventOverflow, int: STATUS.EventLogInt,
    }, () => this.raise("event-log"), f.dualEventLog ? {
      baseReg: MMIO_EVENT_LOG_B_BASE, headReg: MMIO_EVENT_LOG_B_HEAD, tailReg: MMIO_EVENT_LOG_B_TAIL,
      overflow: STATUS.EventOverflowB, active: STATUS.EventLogActive, dualEn: CONTROL.DualEventLogEn,
    } : null);
    this.pprLog = new LogRing(this.regs, this.memory, {
      baseReg: MMIO_PPR_LOG_BASE, headReg: MMIO_PPR_LOG_HEAD, tailReg: MMIO_PPR_LOG_TAIL,
      logEn: CONTROL.PPRLogEn, intEn: CONTROL.PprIntEn, run: STATUS.PprLogRun, overflow: STATUS.PprOverflow, int: STATUS.PprInt,
    }, () => this.raise("ppr-log"), f.dualPprLog ? {
      baseReg: MMIO_PPR_LOG_B_BASE, headReg: MMIO_PPR_LOG_B_HEAD, tailReg: MMIO_PPR_LOG_B_TAIL,
      overflow: STATUS.PprOverflowB, active: STATUS.PprLogActive, dualEn: CONTROL.DualPprLogEn,
    } : null);
    this.translator = new Translator(this.memory, this.regs, f, this.quirks, this.deviceTable, this.iotlb, this.pdeCache,
      this.gcr3Cache, this.eventLog, this.timing, conc === "shared");
    this.timingModel = new TimingModel(this.timing, this.translator, this.timedIssue);
    this.commands = new CommandProcessor(this.regs, this.memory, f, this.quirks, this.eventLog, this.timing, this,
      this.endpoints, () => this.raise("completion-wait"));
    this.commands.onCommand = (_op, addr, dw, start, end) => this.timingModel.command(dw, addr, start, end);
    this.ppr = new PprLog(this.regs, f, this.deviceTable, this.pprLog, this.eventLog, this.timing, this.endpoints, () => this.raise("ppr-log"));
    this.irteCache = new IrteCache(geometry("irteCache", options.irteCache, { entries: 128, ways: 8 }), seed + 4);
    this.gaLog = new GaLog(this.regs, this.memory, () => this.raise("ga-log"));
    this.interruptRemapper = new InterruptRemapper(this.regs, this.memory, f, this.quirks, this.deviceTable, this.irteCache,
      this.eventLog, this.gaLog, this.timing, conc === "shared");
    this.perf = f.perfCounters ? new PerfCounters(f.perfCounterBanks, f.perfCountersPerBank, (code) => this.perfDerived(code)) : null;
    if (this.perf !== null) this.perf.onWatchChange = (w) => { this.perfWatch = w; };
    this.interruptRemapper.perf = this.perf;
  }

  /**
   * A performance counter counts a derived memory-request event under a match register
   * (PerfCounters.watch): each memory request's share of the events is then attributed to its
   * DeviceID, DomainID and PASID (perfMark before, perfAttribute after). A plain boolean, so
   * the translation path pays one load while nothing is watched.
   */
  private perfWatch = false;
  private readonly perfCodes = new Uint8Array(32);
  private perfCodeCount = 0;
  private readonly perfMarks = new Float64Array(32);
  private readonly perfDelta = new Float64Array(32);

  /** Note the watched events' totals before a memory request. */
  private perfMark(): void {
    const p = this.perf!;
    this.perfCodeCount = p.watchedCodes(this.perfCodes);
    for (let i = 0; i < this.perfCodeCount; i++) { const c = this.perfCodes[i]!; this.perfMarks[c] = this.perfDerived(c); }
  }

  /** Attribute the request's share of the watched events (DomainID from the DTE the IOMMU holds, else the table in memory). */
  private perfAttribute(request: TranslationRequest): void {
    const delta = this.perfDelta;
    delta.fill(0);
    for (let i = 0; i < this.perfCodeCount; i++) { const c = this.perfCodes[i]!; delta[c] = this.perfDerived(c) - this.perfMarks[c]!; }
    const id = request.deviceId;
    const d = this.deviceTable.cached(id) ?? this.deviceTable.lookup(id, true);
    this.perf!.attribute(delta, id, d !== null && d.f.V ? d.f.DomainID : -1, request.pasid ?? null);
  }

  /** Totals of the "derived" performance events (spec-tables/perf-counters.json readings), read when a counter is read or started. */
  private perfDerived(code: number): number {
    const t = this.translator.stats;
    const ir = this.interruptRemapper.stats;
    const op = (names: string[]) => { const b = this.commands.stats.byOpcode; return names.reduce((s, n) => s + (b[n] ?? 0), 0); };
    switch (code) {
      case PERF_EVENT_CODE.mem_pass_untrans: return t.passUntranslated;
      case PERF_EVENT_CODE.mem_pass_pretrans: return t.passPretranslated;
      case PERF_EVENT_CODE.mem_pass_excl: return t.passExcluded;
      case PERF_EVENT_CODE.page_tbl_read_nst: return t.nestedTableReads;
      case PERF_EVENT_CODE.page_tbl_read_gst: return t.guestTableReads;
      case PERF_EVENT_CODE.mem_target_abort: return t.faults;
      case PERF_EVENT_CODE.mem_trans_total: return t.requests;
      case PERF_EVENT_CODE.mem_iommu_tlb_pte_hit: return this.iotlb.tags.stats.hits;
      case PERF_EVENT_CODE.mem_iommu_tlb_pte_mis: return this.iotlb.tags.stats.misses;
      case PERF_EVENT_CODE.mem_iommu_tlb_pde_hit: return this.pdeCache.tags.stats.hits;
      case PERF_EVENT_CODE.mem_iommu_tlb_pde_mis: return this.pdeCache.tags.stats.misses;
      case PERF_EVENT_CODE.mem_dte_hit: return this.deviceTable.cache.stats.hits - ir.dteHits;
      case PERF_EVENT_CODE.mem_dte_mis: return this.deviceTable.cache.stats.misses - ir.dteMisses;
      case PERF_EVENT_CODE.page_tbl_read_tot: return t.referencesPerWalk.reduce((s, n, i) => s + n * i, 0);
      case PERF_EVENT_CODE.cmd_processed: return this.commands.stats.executed;
      case PERF_EVENT_CODE.cmd_processed_inv:
        return op(["INVALIDATE_DEVTAB_ENTRY", "INVALIDATE_IOMMU_PAGES", "INVALIDATE_IOTLB_PAGES", "INVALIDATE_INTERRUPT_TABLE", "INVALIDATE_IOMMU_ALL"]);
      case PERF_EVENT_CODE.tlb_inv: return op(["INVALIDATE_IOMMU_PAGES", "INVALIDATE_IOMMU_ALL"]);
      default: return 0;
    }
  }

  /** Offsets beyond the 16 KiB register file: the performance-counter window (EFR.PCSup) or an error. */
  private perfOffset(name: string, offset: number, width: 4 | 8): boolean {
    if (typeof offset !== "number" || !Number.isInteger(offset) || offset < MMIO_WINDOW_BYTES || this.perf === null) return false;
    if (offset + width > PERF_WINDOW_BYTES) throw new RangeError(`${name}: offset 0x${offset.toString(16)} is outside the 512 KiB MMIO window`);
    if (offset % width !== 0) throw new RangeError(`${name}: offset 0x${offset.toString(16)} is not ${width}-byte aligned`);
    return true;
  }
  private reservedAccess(offset: number): void {
    if (this.perf !== null && PerfCounters.isReservedRegister(offset)) this.perf.count(PERF_EVENT_CODE.ign_rd_wr_mmio_1ff8h!, 0, 0, null);
  }

  private raise(source: InterruptSource): void {
    this.interrupts[source]++;
    if (this.onInterrupt) {
      // the callback may make timed translations of its own: the timed translation under way
      // (an event-log interrupt raised by its walk) reads its issue cycle from timedIssue[0] after
      const at = this.timedIssue, issue = at[0]!;
      this.onInterrupt(source);
      at[0] = issue;
    }
  }

  // ---- MMIO ------------------------------------------------------------------------------

  mmioRead32(offset: number): number {
    if (this.perfOffset("mmioRead32", offset, 4)) return this.perf!.read32(offset);
    this.regs.checkOffset("mmioRead32", offset, 4);
    this.reservedAccess(offset);
    return this.regs.read32(offset);
  }
  mmioWrite32(offset: number, value: number): void {
    const perf = this.perfOffset("mmioWrite32", offset, 4);
    if (!perf) this.regs.checkOffset("mmioWrite32", offset, 4);
    if (typeof value !== "number" || !Number.isInteger(value) || value < -0x80000000 || value > 0xffffffff) {
      throw new RangeError(`mmioWrite32: value must be a 32-bit integer, got ${String(value)}`);
    }
    if (perf) { this.perf!.write32(offset, value >>> 0); return; }
    this.reservedAccess(offset);
    this.regs.write32(offset, value >>> 0);
  }
  mmioRead64(offset: number): bigint {
    if (this.perfOffset("mmioRead64", offset, 8)) return (BigInt(this.perf!.read32(offset + 4)) << 32n) | BigInt(this.perf!.read32(offset));
    this.regs.checkOffset("mmioRead64", offset, 8);
    this.reservedAccess(offset);
    return this.regs.read64(offset);
  }
  mmioWrite64(offset: number, value: bigint): void {
    const perf = this.perfOffset("mmioWrite64", offset, 8);
    if (!perf) this.regs.checkOffset("mmioWrite64", offset, 8);
    if (typeof value !== "bigint") throw new TypeError(`mmioWrite64: value must be a bigint, got ${typeof value}`);
    if (value < 0n || value > 0xffff_ffff_ffff_ffffn) throw new RangeError(`mmioWrite64: value must be 0..2^64-1, got ${value}`);
    if (perf) {
      const v = BigInt.asUintN(64, value);
      this.perf!.write32(offset, Number(v & 0xffffffffn));
      this.perf!.write32(offset + 4, Number(v >> 32n));
      return;
    }
    this.reservedAccess(offset);
    this.regs.write64(offset, value);
  }

  /** Side effects of software register writes (never processes commands inline). */
  private afterWrite(offset: number, oldLo: number, oldHi: number): void {
    this.commandsIdle = false;
    const r = this.regs;
    const f = this.features;
    if (offset === MMIO_CONTROL) {
      const was = (b: { half: 0 | 1; mask: number }) => ((b.half === 0 ? oldLo : oldHi) & b.mask) !== 0;
      this.commands.onControl(was(CONTROL.CmdBufEn));
      this.eventLog.onControl(was(CONTROL.EventLogEn));
      this.pprLog.onControl(was(CONTROL.PPRLogEn));
      if (f.guestVapic) this.gaLog.onControl(was(CONTROL.GALogEn));
    } else if (this.quirks.baseWriteResetsPointers) {
      const pairs: [number, number, number][] = [
        [MMIO_COMMAND_BUFFER_BASE, MMIO_COMMAND_BUFFER_HEAD, MMIO_COMMAND_BUFFER_TAIL],
        [MMIO_EVENT_LOG_BASE, MMIO_EVENT_LOG_HEAD, MMIO_EVENT_LOG_TAIL],
        [MMIO_PPR_LOG_BASE, MMIO_PPR_LOG_HEAD, MMIO_PPR_LOG_TAIL],
      ];
      for (const [b, h, t] of pairs) if (offset === b) { r.setLo(h, 0); r.setHi(h, 0); r.setLo(t, 0); r.setHi(t, 0); }
    }
  }

  // ---- time ------------------------------------------------------------------------------

  /**
   * Advance time until the command processor is idle (or blocked forever on a device that
   * never answers with InvTimeOut = 0). Afterwards every effect of earlier MMIO writes and
   * requests is visible in memory and registers. Returns the current cycle.
   */
  runUntilIdle(): number {
    const cp = this.commands;
    for (let guard = 0; guard < 1 << 24; guard++) {
      const r = cp.step(this.now);
      if (r === STEP_DONE) { if (cp.freeAt > this.now) this.now = cp.freeAt; continue; }
      if (r === STEP_WAIT && cp.waitUntil !== Infinity) { this.now = Math.max(this.now, cp.waitUntil); continue; }
      break;
    }
    return this.now;
  }

  /**
   * Timed mode: advance the clock to `cycle`, running only the commands that start before it
   * (a command that starts earlier runs to its end, which may lie beyond `cycle`). Returns now.
   */
  advanceTo(cycle: number): number {
    if (typeof cycle !== "number" || !(cycle >= 0) || cycle === Infinity) throw new RangeError(`advanceTo: cycle must be a finite non-negative number, got ${String(cycle)}`);
    const cp = this.commands;
    for (let guard = 0; guard < 1 << 24; guard++) {
      if (Math.max(this.now, cp.freeAt) >= cycle) break;
      const r = cp.step(this.now);
      if (r === STEP_DONE) continue;
      if (r === STEP_WAIT && cp.waitUntil < cycle) { this.now = Math.max(this.now, cp.waitUntil); continue; }
      if (r !== STEP_WAIT) this.commandsIdle = true;
      break;
    }
    if (cycle > this.now) this.now = cycle;
    return this.now;
  }

  /**
   * Timed mode: translate a request issued at `issueCycle`. The architectural result is the
   * one translate() gives (same code path); out.completionCycle adds walker queueing. Commands
   * that start before the issue cycle run first.
   */
  translateTimed(request: TranslationRequest, issueCycle: number, out: TranslationResult = new TranslationResult()): TranslationResult {
    if (typeof issueCycle !== "number" || !(issueCycle >= 0) || issueCycle === Infinity) throw this.timingModel.issueCycleError("translateTimed: issueCycle", issueCycle);
    this.timedIssue[0] = issueCycle;
    return this.translateTimedAt(request, out);
  }

  /**
   * translateTimed() of a request issued at cycle `timedIssue[0]`: the same translation, with
   * the issue cycle handed over in the IOMMU's typed array rather than as an argument
   * (`io.timedIssue[0] = cycle; io.translateTimedAt(req, out)`), so that the caller hands over
   * no heap number for a cycle above 2^31 (the timing model reads it from there too).
   */
  translateTimedAt(request: TranslationRequest, out: TranslationResult = new TranslationResult()): TranslationResult {
    const issueCycle = this.timedIssue[0]!;
    if (!(issueCycle >= 0) || issueCycle === Infinity) throw this.timingModel.issueCycleError("translateTimedAt: timedIssue[0]", issueCycle);
    if (issueCycle > this.now) { if (this.commandsIdle === true) this.now = issueCycle; else this.advanceTo(issueCycle); }
    const watch = this.perfWatch;
    if (watch === true) this.perfMark();
    this.timingModel.translate(request, out); // reads timedIssue[0]
    if (watch === true) this.perfAttribute(request);
    if (this.notifiers.hasMap) notifyMap(this, request, out, "untranslated");
    return out;
  }

  /** Timed mode: a PRI page request issued at `issueCycle`; returns the outcome and the cycle the entry (and interrupt) landed. */
  pageRequestTimed(request: PageRequest, issueCycle: number): { outcome: PageRequestOutcome; completionCycle: number } {
    if (typeof issueCycle !== "number" || !(issueCycle >= 0) || issueCycle === Infinity) throw new RangeError(`pageRequestTimed: issueCycle must be a finite non-negative number, got ${String(issueCycle)}`);
    if (issueCycle > this.now) this.advanceTo(issueCycle);
    const outcome = this.ppr.pageRequest(request, issueCycle);
    const completionCycle = issueCycle + this.ppr.cycles;
    this.timingModel.pageRequest(request.deviceId, request.address, request.prgIndex, outcome, issueCycle, completionCycle);
    return { outcome, completionCycle };
  }

  /** Record every timed translation, walk, command and page request until stopTrace(). */
  startTrace(options?: TraceOptions): void {
    this.timingModel.startTrace(options, (id) => this.deviceTable.cached(id)?.f.DomainID ?? -1);
  }
  /** Stop recording; the Chrome trace-event document (JSON.stringify it and open it in Perfetto). */
  stopTrace(): TraceDocument { return this.timingModel.stopTrace(); }
  /** COMPLETION_WAIT fence: the latest completion of a timed translation already issued. */
  translationsInFlightUntil(): number { return this.timingModel.inFlightUntil; }

  // ---- translation -----------------------------------------------------------------------

  /** Translate an untranslated DMA request (sets A/D, fills caches, logs events). */
  translate(request: TranslationRequest): TranslationResult {
    const watch = this.perfWatch;
    if (watch === true) this.perfMark();
    const out = this.translator.translateUntranslated(request, new TranslationResult());
    if (watch === true) this.perfAttribute(request);
    if (this.timingModel.trace !== null) this.timingModel.traceUntimed(request, out, this.now);
    if (this.notifiers.hasMap) notifyMap(this, request, out, "untranslated");
    return out;
  }
  /** translate() into a caller-supplied result object: no allocation. */
  translateInto(request: TranslationRequest, out: TranslationResult): TranslationResult {
    if (this.perfWatch === true) return this.translateWatched(request, out);
    this.translator.translateUntranslated(request, out);
    if (this.timingModel.trace !== null) this.timingModel.traceUntimed(request, out, this.now);
    if (this.notifiers.hasMap) notifyMap(this, request, out, "untranslated");
    return out;
  }
  /**
   * An ATS Translation Request: no event for a page fault, the answer carries the
   * permissions and size found (readable/writable false = "no access"); needs DTE.I = 1.
   */
  translateAts(request: TranslationRequest, out: TranslationResult = new TranslationResult()): TranslationResult {
    const watch = this.perfWatch;
    if (watch === true) this.perfMark();
    this.translator.translateAts(request, out);
    if (watch === true) this.perfAttribute(request);
    if (this.timingModel.trace !== null) this.timingModel.traceUntimed(request, out, this.now);
    if (this.notifiers.hasMap) notifyMap(this, request, out, "ats");
    return out;
  }
  /**
   * A translated request (PCIe AT = 10b): the device used a translation from its ATC and
   * `address` is an SPA. Accepted when the IOMMU is off, DTE.V = 0, or DTE.I = 1; otherwise
   * refused with INVALID_DEVICE_REQUEST (translated request with I = 0).
   */
  translatedRequest(request: TranslationRequest, out: TranslationResult = new TranslationResult()): TranslationResult {
    const watch = this.perfWatch;
    if (watch === true) this.perfMark();
    this.translator.translate(request, out, Kind.Translated);
    if (watch === true) this.perfAttribute(request);
    return out;
  }
  /** translateInto() while a performance counter is watched: the request's share of the events attributed. */
  private translateWatched(request: TranslationRequest, out: TranslationResult): TranslationResult {
    this.perfMark();
    this.translator.translateUntranslated(request, out);
    this.perfAttribute(request);
    if (this.timingModel.trace !== null) this.timingModel.traceUntimed(request, out, this.now);
    if (this.notifiers.hasMap) notifyMap(this, request, out, "untranslated");
    return out;
  }
  /**
   * What the tables say for a request, changing nothing: no A/D update, no cache look-up or
   * fill, no event, no statistics. Reads memory only (for debuggers, oracles, replays).
   */
  peek(request: TranslationRequest, out: TranslationResult = new TranslationResult()): TranslationResult {
    return this.translator.translate(request, out, Kind.Peek);
  }
  /**
   * A translation driven as memory requests the embedder completes one by one (next() /
   * complete(value) / result), with the functional call's result (embedding/stepped-translation.ts).
   */
  translateStepped(request: TranslationRequest, options?: SteppedOptions): SteppedTranslation {
    return new SteppedTranslation(this, request, options);
  }
  /**
   * Every valid mapping of a device as the tables in memory say (peek decides each page):
   * host v1, GCR3 + guest, nested; options.pasid picks one space (null = no PASID).
   */
  replay(deviceId: number, options?: ReplayOptions): ReplayIterator {
    return replayMappings(this, deviceId, options);
  }
  /** Record every memory access of the following translations into `log` (null stops). */
  traceMemoryAccesses(log: MemoryAccess[] | null): void { this.translator.ctx.log = log; }

  // ---- interrupts ------------------------------------------------------------------------

  /**
   * An MSI write { deviceId, address, data } from a PCIe function (or an IOAPIC/HPET by its
   * DeviceID): forwarded, remapped through the IRTE, posted to a guest vAPIC, or aborted with
   * the event the hardware logs (interrupts/interrupt-remapping.ts).
   */
  remapInterrupt(request: InterruptRequest, out: InterruptRemapResult = new InterruptRemapResult()): InterruptRemapResult {
    return this.interruptRemapper.remap("remapInterrupt", request, out, false);
  }
  /** What the tables say for an interrupt, changing nothing: no cache, no event, no IRR or GA-log write, no statistics. */
  peekInterrupt(request: InterruptRequest, out: InterruptRemapResult = new InterruptRemapResult()): InterruptRemapResult {
    return this.interruptRemapper.remap("peekInterrupt", request, out, true);
  }
  /** Timed mode: an interrupt issued at `issueCycle` (commands that start before it run first); out.completionCycle = issue + cycles. */
  remapInterruptTimed(request: InterruptRequest, issueCycle: number, out: InterruptRemapResult = new InterruptRemapResult()): InterruptRemapResult {
    if (typeof issueCycle !== "number" || !(issueCycle >= 0) || issueCycle === Infinity) throw new RangeError(`remapInterruptTimed: issueCycle must be a finite non-negative number, got ${String(issueCycle)}`);
    if (issueCycle > this.now) this.advanceTo(issueCycle);
    this.interruptRemapper.remap("remapInterruptTimed", request, out, false);
    out.completionCycle = issueCycle + out.cycles;
    return out;
  }

  /**
   * The message the IOMMU's own interrupt for `source` is sent as. With Control.IntCapXTEn (and
   * EFR.XTSup) it comes from the XT interrupt control register: 0x170 for the event log and
   * completion wait, 0x178 for the PPR log, 0x180 for the GA log (which causes use 0x170 is
   * UNCERTAIN 14 in the digest; this is the reading); otherwise from the PCI MSI capability,
   * which the model does not hold (null). IOMMU interrupts are never remapped (digest 1.3).
   */
  interruptMessage(source: InterruptSource): XtInterruptControl | null {
    const off = source === "ppr-log" ? MMIO_XT_PPR_INT_CTRL : source === "ga-log" ? MMIO_XT_GA_INT_CTRL
      : source === "event-log" || source === "completion-wait" ? MMIO_XT_GENERAL_INT_CTRL : -1;
    if (off < 0) throw new RangeError(`interruptMessage: source must be "event-log", "completion-wait", "ppr-log" or "ga-log", got ${String(source)}`);
    if (!this.features.x2apic || !this.regs.test(MMIO_CONTROL, CONTROL.IntCapXTEn)) return null;
    return decodeXtInterruptControl(this.regs.lo(off), this.regs.hi(off));
  }

  // ---- endpoints -------------------------------------------------------------------------

  /** Attach a PCIe function's downstream port (ATS invalidations, PRG responses) at a DeviceID. */
  attachEndpoint(deviceId: number, port: EndpointPort): void {
    if (!Number.isInteger(deviceId) || deviceId < 0 || deviceId > 0xffff) throw new RangeError(`attachEndpoint: deviceId must be an integer 0..65535, got ${String(deviceId)}`);
    if (port === null || typeof port !== "object" || typeof port.atsInvalidate !== "function" || typeof port.prgResponse !== "function") {
      throw new TypeError("attachEndpoint: port must have atsInvalidate(req) and prgResponse(resp)");
    }
    this.endpoints.set(deviceId, port);
  }
  detachEndpoint(deviceId: number): void { this.endpoints.delete(deviceId); }
  /** A PCIe PRI Page Request from the function at request.deviceId (PPR log entry or INVALID_PPR_REQUEST; ppr-log.ts). */
  pageRequest(request: PageRequest): PageRequestOutcome {
    const outcome = this.ppr.pageRequest(request, this.now);
    const tr = this.timingModel.trace;
    if (tr !== null && request !== null && typeof request === "object") {
      const start = tr.untimedStart(request.deviceId, this.now), end = start + this.ppr.cycles;
      tr.untimedDone(request.deviceId, end);
      tr.pageRequest(request.deviceId, request.address, request.prgIndex, outcome, start, end, false);
    }
    return outcome;
  }

  // ---- InvalidationTarget (called by the command processor; internal) ------------------

  /** @internal */
  invalidateDevtabEntry(deviceId: number): void {
    this.deviceTable.invalidate(deviceId);
    this.gcr3Cache.invalidateDevice(deviceId);
    if (this.notifiers.hasUnmap) this.notifiers.invalidateDevtabEntry(deviceId, Math.max(this.now, this.commands.freeAt));
  }
  /** @internal */
  invalidatePages(domain: number, gn: boolean, pasid: number, start: bigint, size: bigint, all: boolean, pde: boolean): number {
    const first = all ? 0 : Number(start >> 12n);
    const pages = all ? Infinity : Number(size >> 12n);
    if (this.notifiers.hasUnmap) this.notifiers.invalidatePages(domain, gn, pasid, start, size, all, pde, Math.max(this.now, this.commands.freeAt));
    if (this.timingModel.trace !== null) this.timingModel.trace.invalidatePages(domain, gn, pasid, start, size, all);
    this.iotlb.invalidate(domain, gn, pasid, first, pages);
    // cost: one page is looked up (the set it indexes in each cache); a range or all pages cannot be, so every set is walked
    const one = pages === 1;
    let sets = one ? 1 : this.iotlb.tags.sets;
    if (pde) {
      this.pdeCache.invalidate(domain, gn, pasid, first, pages, (l) => V1_SHIFT[l]!);
      sets += one ? 1 : this.pdeCache.tags.sets;
      if (gn) this.gcr3Cache.invalidatePasid(domain, pasid);
    }
    return sets;
  }
  /** @internal */
  deviceTlbInvalidation(deviceId: number, gn: boolean, pasid: number, start: bigint, size: bigint, all: boolean, cycle: number): void {
    if (this.notifiers.hasDeviceTlb) this.notifiers.deviceTlbInvalidation(deviceId, gn, pasid, start, size, all, cycle);
  }
  /** @internal */
  prefetch(deviceId: number, gn: boolean, pasid: number, start: bigint, count: number, inval: boolean): number {
    let cycles = 0;
    const out = this.scratch;
    for (let i = 0; i < Math.max(count, 1); i++) {
      const address = start + BigInt(i) * 4096n;
      if (address >= 1n << 64n) break;
      if (inval) {
        const d = this.deviceTable.lookup(deviceId);
        if (d) this.iotlb.invalidate(d.f.DomainID, gn, pasid, Number(address >> 12n), 1);
      }
      const req = gn ? { deviceId, address, pasid } : { deviceId, address };
      this.translator.translate(req, out, Kind.Prefetch);
      if (this.notifiers.hasMap) notifyMap(this, req, out, "prefetch");
      cycles += out.cycles;
    }
    return cycles;
  }
  /** @internal */
  invalidateInterruptTable(deviceId: number): void { this.irteCache.invalidateDevice(deviceId); }
  /** @internal */
  invalidateAll(): number {
    if (this.notifiers.hasUnmap) this.notifiers.invalidateAll(Math.max(this.now, this.commands.freeAt));
    if (this.timingModel.trace !== null) this.timingModel.trace.invalidateAll();
    this.deviceTable.invalidateAll();
    this.irteCache.invalidateAll();
    this.iotlb.invalidateAll();
    this.pdeCache.invalidateAll();
    this.gcr3Cache.invalidateAll();
    return this.iotlb.tags.sets + this.pdeCache.tags.sets + this.gcr3Cache.tags.sets + this.deviceTable.cache.sets;
  }

  // ---- snapshots (embedding/iommu-snapshot.ts) --------------------------------------------

  /** The IOMMU's state (registers, caches, counters, clock, command processor) as plain JSON-able data. */
  snapshot(): IommuSnapshot { return takeSnapshot(this); }
  /** Put a snapshot's state into this IOMMU (built with the same cache geometry and features). */
  restore(snapshot: IommuSnapshot): void {
    applySnapshot(this, snapshot);
    this.commandsIdle = false;
  }
  /** A new IOMMU with a snapshot's options and state over `memory` (a copy of the memory the snapshot was taken with). */
  static restore(snapshot: IommuSnapshot, options: { memory: MemoryPort; onInterrupt?: (s: InterruptSource) => void }): AmdIommu {
    if (options === null || typeof options !== "object") throw new TypeError("AmdIommu.restore: options must be an object { memory }");
    const io = new AmdIommu({ ...snapshotOptions(snapshot), ...options });
    applySnapshot(io, snapshot);
    return io;
  }

  // ---- statistics ------------------------------------------------------------------------

  /** Counters of every component, as plain data. */
  stats() {
    return structuredClone({
      cycle: this.now,
      translation: this.translator.stats,
      iotlb: { ...this.iotlb.tags.stats, occupancy: this.iotlb.tags.occupancy, entries: this.iotlb.tags.entries },
      pdeCache: { ...this.pdeCache.tags.stats, occupancy: this.pdeCache.tags.occupancy, entries: this.pdeCache.tags.entries },
      gcr3Cache: { ...this.gcr3Cache.tags.stats, occupancy: this.gcr3Cache.tags.occupancy, entries: this.gcr3Cache.tags.entries },
      dteCache: { ...this.deviceTable.cache.stats, occupancy: this.deviceTable.cache.occupancy, entries: this.deviceTable.cache.entries },
      commands: this.commands.stats,
      eventLog: this.eventLog.stats,
      pprLog: this.pprLog.stats,
      interrupts: this.interrupts,
      interruptRemapping: this.interruptRemapper.stats,
      irteCache: { ...this.irteCache.tags.stats, occupancy: this.irteCache.tags.occupancy, entries: this.irteCache.tags.entries },
      gaLog: this.gaLog.stats,
      ppr: this.ppr.stats,
      timing: this.timingModel.snapshot(),
    });
  }
}
