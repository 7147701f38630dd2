/**
 * The DMA engine of a PCIe function: 32-bit reads and writes of memory through the IOMMU
 * (PCIe Address Translation Services and PRI as the function uses them; docs/spec-readings.md cmd 5
 * 4.4 and 5.e).
 *
 * Without an ATC every access is an untranslated request: the IOMMU translates and checks
 * it (iommu.translate); a refused one is a failed access ("fault"). With an ATC:
 *
 *   1. ATC hit with the needed permission -> translated request straight to memory.
 *   2. otherwise an ATS Translation Request; the completion (permissions, page size) fills
 *      the ATC. A refused translation request (an event was logged: DTE.I = 0, bad DTE, ...)
 *      fails the access.
 *   3. no needed permission in the completion -> with PRI, a Page Request (a group of one,
 *      L = 1, R or W, X, privileged, PASID) and the access stalls until the PRG Response;
 *      without PRI, or after a Response Failure, the access fails.
 *   4. run(): stalled accesses whose group was answered go on: Success retries from step 1
 *      (a fresh ATS translation), Invalid Request fails with "invalid-request", Response
 *      Failure with "pri-failure". Accesses that found no outstanding-request unit are retried.
 *
 * Every access reports its modelled cycles (ATC hit, ATS round trip plus the IOMMU's
 * translation, memory reference). An untranslated request pays its translation less the root
 * complex's own handling of the request, which the IOMMU's look-ups overlap (timing
 * rootComplexOverlap, dmaAddedCycles; docs/calibration.md section 9): the translation's own
 * cycles (TranslationResult.cycles) are unchanged. An ATS Translation Request pays the
 * IOMMU's translation whole, after atsRoundTrip (no anchor splits that round trip). A translated request whose SPA lies outside memory is an
 * Unsupported Request ("unsupported-request"), never an exception.
 */
import type { MemoryPort } from "../memory/memory-port.js";
import { PPR_RESPONSE } from "../spec/commands.js";
import { TranslationResult, type FaultReason, type TranslationRequest } from "../iommu/translation/request.js";
import { dmaAddedCycles } from "../iommu/timing-profile.js";
import { ATC_NO_PASID, ATC_R, ATC_U, ATC_W, ATC_X, type AtsDeviceTlb } from "./ats-device-tlb.js";
import { PRG_ANSWERED, type PageRequestInterface } from "./page-request-interface.js";
import type { UpstreamPort } from "./upstream-port.js";

export type DmaStatus = "done" | "stalled" | "fault" | "invalid-request" | "pri-failure" | "unsupported-request";

export interface DmaRequest {
  /** Device address (IOVA, GPA or GVA), 4-byte aligned. */
  address: number | bigint;
  /** Present = the request carries a PASID prefix. */
  pasid?: number;
  execute?: boolean;
  privileged?: boolean;
}

export class DmaResult {
  status: DmaStatus = "done";
  /** Data read (read32), or written (write32). */
  value = 0;
  /** System physical address reached. */
  spa = 0;
  /** Modelled cycles spent by this attempt. */
  cycles = 0;
  atcHit = false;
  atsRequests = 0;
  pageRequests = 0;
  /** Why the IOMMU refused, when it did. */
  fault: FaultReason | null = null;
  /** Ticket of a stalled access; its completion is reported under this number. */
  ticket = 0;
  reset(): void {
    this.status = "done"; this.value = 0; this.spa = 0; this.cycles = 0; this.atcHit = false; this.atsRequests = 0;
    this.pageRequests = 0; this.fault = null; this.ticket = 0;
  }
}

/** An access waiting for a PRG Response (prg >= 0) or for an outstanding-request unit (prg = -1). */
export interface StalledAccess {
  readonly ticket: number; readonly write: boolean; readonly value: number; readonly pasid: number;
  readonly aHi: number; readonly aLo: number; readonly execute: boolean; readonly privileged: boolean; prg: number;
}

export interface DmaStats { reads: number; writes: number; atcHits: number; atsRequests: number; stalls: number; faults: number; completedAfterStall: number }

const TWO32 = 4294967296;

export class DmaEngine {
  readonly stats: DmaStats = { reads: 0, writes: 0, atcHits: 0, atsRequests: 0, stalls: 0, faults: 0, completedAfterStall: 0 };
  /** Accesses waiting, oldest first. */
  readonly stalled: StalledAccess[] = [];
  /** Results of stalled accesses that finished, by ticket (when no onComplete callback is set). */
  readonly completions = new Map<number, DmaResult>();
  onComplete: ((ticket: number, result: DmaResult) => void) | null = null;
  /** Cycles of an ATC look-up that hits. */
  atcHitCycles = 1;
  private readonly tr = new TranslationResult();
  private readonly req: TranslationRequest = { deviceId: 0, address: 0 };
  private tickets = 0;
  // the access being served
  private aHi = 0;
  private aLo = 0;
  private pasid = -1;
  private write = false;
  private execute = false;
  private privileged = false;
  private value = 0;

  constructor(
    private readonly upstream: UpstreamPort,
    readonly deviceId: number,
    private readonly atc: AtsDeviceTlb | null,
    private readonly pri: PageRequestInterface | null,
  ) {
    this.req.deviceId = deviceId;
  }

  private get memory(): MemoryPort { return this.upstream.memory; }

  /** A 32-bit read; `out` receives the result (a new DmaResult when omitted). */
  read32(request: DmaRequest, out: DmaResult = new DmaResult()): DmaResult {
    this.take(request, false, 0);
    this.stats.reads++;
    return this.start(out);
  }

  /** A 32-bit write; `out` receives the result (a new DmaResult when omitted). */
  write32(request: DmaRequest, value: number, out: DmaResult = new DmaResult()): DmaResult {
    if (typeof value !== "number" || !Number.isInteger(value) || value < -0x80000000 || value > 0xffffffff) {
      throw new RangeError(`write32: value must be a 32-bit integer, got ${String(value)}`);
    }
    this.take(request, true, value >>> 0);
    this.stats.writes++;
    return this.start(out);
  }

  /** Check and latch the request (embedder misuse throws, naming the field). */
  private take(r: DmaRequest, write: boolean, value: number): void {
    if (r === null || typeof r !== "object") throw new TypeError("dma: request must be an object { address, pasid?, ... }");
    const a = r.address;
    if (typeof a === "number") {
      if (!Number.isInteger(a) || a < 0 || a > Number.MAX_SAFE_INTEGER) throw new RangeError(`dma: request.address must be a non-negative integer, got ${a}`);
      this.aHi = Math.floor(a / TWO32); this.aLo = a >>> 0;
    } else if (typeof a === "bigint") {
      if (a < 0n || a >= 1n << 64n) throw new RangeError(`dma: request.address must be below 2^64, got ${a}`);
      this.aHi = Number(a >> 32n); this.aLo = Number(a & 0xffffffffn);
    } else throw new TypeError(`dma: request.address must be a number or bigint, got ${typeof a}`);
    if ((this.aLo & 3) !== 0) throw new RangeError(`dma: request.address must be 4-byte aligned, got ${String(a)}`);
    const p = r.pasid;
    if (p !== undefined && (typeof p !== "number" || !Number.isInteger(p) || p < 0 || p > 0xfffff)) {
      throw new RangeError(`dma: request.pasid must be an integer 0..1048575, got ${String(p)}`);
    }
    this.pasid = p === undefined ? -1 : p;
    this.write = write; this.value = value;
    this.execute = r.execute === true; this.privileged = r.privileged === true;
  }

  private start(out: DmaResult): DmaResult {
    out.reset();
    this.attempt(out, -1);
    if (out.status === "stalled") this.settleAnswered(this.stalled.length - 1, out);
    return out;
  }

  private readonly treq: TranslationRequest = { deviceId: 0, address: 0, write: false };

  /** A translated request (AT = 10b) with an SPA: the IOMMU checks DTE.I, then memory is accessed. */
  private translatedAccess(out: DmaResult, spa: number): void {
    const t = this.treq;
    t.deviceId = this.req.deviceId; t.address = spa; t.write = this.write;
    const chk = this.upstream.translatedRequest(t, this.tr);
    if (!chk.ok) { out.status = "fault"; out.fault = chk.fault; this.stats.faults++; return; }
    this.memoryAccess(out, spa);
  }

  /** One try of the latched access; on a stall it is queued (or re-queued under `ticket`). */
  private attempt(out: DmaResult, ticket: number): void {
    const q = this.req;
    q.address = this.aHi < 0x200000 ? this.aHi * TWO32 + this.aLo : (BigInt(this.aHi) << 32n) | BigInt(this.aLo);
    q.pasid = this.pasid < 0 ? undefined : this.pasid;
    q.write = this.write; q.execute = this.execute; q.privileged = this.privileged;
    const up = this.upstream;
    const atc = this.atc;
    if (atc === null) {
      const tr = up.translateInto(q, this.tr);
      out.cycles += dmaAddedCycles(up.timing, tr.cycles);
      if (!tr.ok) { out.status = "fault"; out.fault = tr.fault; this.stats.faults++; return; }
      this.memoryAccess(out, tr.spa);
      return;
    }
    const key = this.pasid < 0 ? ATC_NO_PASID : this.pasid;
    const need = (this.write ? ATC_W : ATC_R) | (this.execute ? ATC_X : 0) | (this.pasid >= 0 && !this.privileged ? ATC_U : 0);
    const s = atc.lookup(key, this.aHi, this.aLo);
    out.cycles += this.atcHitCycles;
    if (s >= 0 && (atc.perms[s]! & need) === need) {
      out.atcHit = true;
      this.stats.atcHits++;
      const k = atc.hitLog2;
      this.translatedAccess(out, atc.spa[s]! + (k < 32 ? this.aLo % 2 ** k : (this.aHi % 2 ** (k - 32)) * TWO32 + this.aLo));
      return;
    }
    // ---- ATS Translation Request ----
    out.atsRequests++;
    this.stats.atsRequests++;
    const tr = up.translateAts(q, this.tr);
    out.cycles += up.timing.atsRoundTrip + tr.cycles;
    if (tr.event !== 0) { out.status = "fault"; out.fault = tr.fault; this.stats.faults++; return; }
    const perms = (tr.readable ? ATC_R : 0) | (tr.writable ? ATC_W : 0) | (tr.executable ? ATC_X : 0) | (tr.user ? ATC_U : 0);
    if ((perms & (ATC_R | ATC_W)) !== 0) {
      const size = tr.pageSize;
      const spaBase = tr.spa - (tr.spa % size);
      atc.insert(key, this.aHi, this.aLo, Math.log2(size), spaBase, perms);
    }
    if ((perms & need) === need) { this.translatedAccess(out, tr.spa); return; }
    // ---- PRI ----
    const pri = this.pri;
    if (pri === null) { out.status = "fault"; out.fault = tr.fault ?? "permission"; this.stats.faults++; return; }
    if (!pri.usable) { out.status = "pri-failure"; out.fault = tr.fault ?? "permission"; this.stats.faults++; return; }
    const prg = pri.request(this.pasid, this.aHi, (this.aLo & ~0xfff) >>> 0, !this.write, this.write, this.execute, this.privileged);
    if (prg >= 0) out.pageRequests++;
    out.status = "stalled";
    this.stats.stalls++;
    if (ticket < 0) {
      ticket = ++this.tickets;
      this.stalled.push({ ticket, write: this.write, value: this.value, pasid: this.pasid, aHi: this.aHi, aLo: this.aLo,
        execute: this.execute, privileged: this.privileged, prg });
    } else {
      const i = this.indexOf(ticket);
      this.stalled[i]!.prg = prg;
    }
    out.ticket = ticket;
  }

  private indexOf(ticket: number): number {
    for (let i = 0; i < this.stalled.length; i++) if (this.stalled[i]!.ticket === ticket) return i;
    return -1;
  }

  private memoryAccess(out: DmaResult, spa: number): void {
    const m = this.memory;
    out.spa = spa;
    out.cycles += this.upstream.timing.memoryReference;
    if (!m.contains(spa, 4)) { out.status = "unsupported-request"; this.stats.faults++; return; }
    if (this.write) { m.store32(spa, this.value); out.value = this.value; }
    else out.value = m.load32(spa);
    out.status = "done";
  }

  /**
   * If stalled access i's group is already answered with a final (non-Success) code,
   * finish it now (the IOMMU dropped the request and answered at once).
   */
  private settleAnswered(i: number, out: DmaResult): void {
    const op = this.stalled[i]!;
    const pri = this.pri!;
    if (op.prg < 0 || pri.groupState(op.prg) !== PRG_ANSWERED) return;
    const code = pri.responseCode(op.prg);
    if (code === PPR_RESPONSE.Success) return; // retried at run()
    pri.release(op.prg);
    this.stalled.splice(i, 1);
    out.status = code === PPR_RESPONSE.InvalidRequest ? "invalid-request" : "pri-failure";
    this.stats.faults++;
  }

  /**
   * Advance the function: every stalled access whose group was answered, or that waits for
   * an outstanding-request unit, goes on. Returns how many accesses finished.
   */
  run(): number {
    const pri = this.pri;
    if (pri === null) return 0;
    let finished = 0;
    const n = this.stalled.length;
    for (let done = 0, i = 0; done < n && i < this.stalled.length; done++) {
      const op = this.stalled[i]!;
      const out = new DmaResult();
      out.ticket = op.ticket;
      if (op.prg >= 0) {
        if (pri.groupState(op.prg) !== PRG_ANSWERED) { i++; continue; }
        const code = pri.responseCode(op.prg);
        pri.release(op.prg);
        if (code !== PPR_RESPONSE.Success) {
          out.status = code === PPR_RESPONSE.InvalidRequest ? "invalid-request" : "pri-failure";
          this.stats.faults++;
          this.stalled.splice(i, 1);
          this.finish(op.ticket, out);
          finished++;
          continue;
        }
      } else if (!pri.usable) {
        out.status = "pri-failure";
        this.stats.faults++;
        this.stalled.splice(i, 1);
        this.finish(op.ticket, out);
        finished++;
        continue;
      }
      // retry: Success response (a fresh ATS translation) or a free outstanding-request unit
      this.aHi = op.aHi; this.aLo = op.aLo; this.pasid = op.pasid; this.write = op.write; this.value = op.value;
      this.execute = op.execute; this.privileged = op.privileged;
      this.attempt(out, op.ticket);
      if (out.status === "stalled") {
        const j = this.indexOf(op.ticket);
        const before = this.stalled.length;
        this.settleAnswered(j, out);
        if (this.stalled.length === before) { i++; continue; }
      } else {
        this.stalled.splice(i, 1);
      }
      this.finish(op.ticket, out);
      finished++;
    }
    return finished;
  }

  private finish(ticket: number, out: DmaResult): void {
    this.stats.completedAfterStall++;
    if (this.onComplete !== null) this.onComplete(ticket, out);
    else this.completions.set(ticket, out);
  }
}
