/**
 * The command processor (spec: "Command Buffer"; commands-events-ppr.md sections 1 and 4).
 *
 * Software writes 16-byte commands at Tail and moves Tail (the doorbell); the processor
 * fetches at Head while IommuEn = 1, CmdBufEn = 1 and CmdBufRun = 1, runs each command in
 * order and advances Head (wrapping at 2^ComLen entries). It never runs inside an MMIO
 * write: the IOMMU calls step() when time advances. An unreadable entry gives
 * COMMAND_HARDWARE_ERROR and an illegal one (unknown opcode, reserved bit set, opcode of a
 * feature not advertised) ILLEGAL_COMMAND_ERROR with the command's SPA; either halts with
 * Head on the bad entry and CmdBufRun = 0 until software sets CmdBufEn again.
 *
 * Ordering: commands are serial. INVALIDATE_IOTLB_PAGES sends an ATS invalidation and does
 * not wait; a later COMPLETION_WAIT waits until every earlier one has completed or timed out
 * (IOTLB_INV_TIMEOUT). The f (fence) bit needs no extra action in this serial model.
 */
import type { MemoryPort } from "../memory/memory-port.js";
import {
  COMMAND_BYTES, OP_COMPLETE_PPR_REQUEST, OP_COMPLETION_WAIT, OP_INVALIDATE_DEVTAB_ENTRY, OP_INVALIDATE_INTERRUPT_TABLE,
  OP_INVALIDATE_IOMMU_ALL, OP_INVALIDATE_IOMMU_PAGES, OP_INVALIDATE_IOTLB_PAGES, OP_PREFETCH_IOMMU_PAGES, commandSpec,
  decodeInvalidationRange, opcodeOf,
} from "../spec/commands.js";
import { EV_COMMAND_HARDWARE_ERROR, EV_ILLEGAL_COMMAND_ERROR, EV_IOTLB_INV_TIMEOUT, EVT_TYPE_SHIFT, encodeEvent } from "../spec/events.js";
import {
  CONTROL, INV_TIMEOUT_NS, MMIO_COMMAND_BUFFER_BASE, MMIO_COMMAND_BUFFER_HEAD, MMIO_COMMAND_BUFFER_TAIL, MMIO_CONTROL,
  MMIO_STATUS, RING_MIN_LEN, STATUS,
} from "../spec/registers.js";
import type { EndpointPort } from "./endpoint-port.js";
import type { FeatureOptions, QuirkOptions } from "./options.js";
import type { MmioRegisters } from "./mmio-registers.js";
import type { LogRing } from "./log-ring.js";
import type { TimingProfile } from "./timing-profile.js";
import { featurePresent } from "./feature-registers.js";
import type { InvalidationTarget } from "./invalidation.js";

export interface CommandStats {
  executed: number; byOpcode: Record<string, number>; illegal: number; hardwareErrors: number;
  atsInvalidationsSent: number; atsTimeouts: number; completionWaits: number; pprResponses: number; pprResponsesDropped: number;
  busyCycles: number;
}

interface PendingAts { due: number; timeoutAt: number; deviceId: number; cmdAddr: number }

export const STEP_IDLE = 0;
export const STEP_DONE = 1;
/** The processor is waiting for a device (COMPLETION_WAIT behind an ATS invalidation). */
export const STEP_WAIT = 2;

export class CommandProcessor {
  readonly stats: CommandStats = {
    executed: 0, byOpcode: {}, illegal: 0, hardwareErrors: 0, atsInvalidationsSent: 0, atsTimeouts: 0,
    completionWaits: 0, pprResponses: 0, pprResponsesDropped: 0, busyCycles: 0,
  };
  /** Cycle at which the processor is free for the next command. */
  freeAt = 0;
  /** When STEP_WAIT was returned: the cycle at which progress is possible (Infinity = never). */
  waitUntil = 0;
  private readonly pending: PendingAts[] = [];
  private readonly dw = new Uint32Array(4);
  private readonly ev = new Uint32Array(4);
  /** Called for every command executed (traces, notifiers): opcode, SPA of the command, its dwords, start and end cycles. */
  onCommand: ((opcode: number, addr: number, dw: Uint32Array, start: number, end: number) => void) | null = null;

  constructor(
    private readonly regs: MmioRegisters,
    private readonly mem: MemoryPort,
    private readonly features: FeatureOptions,
    private readonly quirks: QuirkOptions,
    private readonly eventLog: LogRing,
    private readonly profile: TimingProfile,
    private readonly target: InvalidationTarget,
    private readonly endpoints: Map<number, EndpointPort>,
    private readonly raiseComWait: () => void,
  ) {}

  private ringBytes(): number {
    const len = (this.regs.hi(MMIO_COMMAND_BUFFER_BASE) >>> 24) & 0xf;
    return 2 ** (Math.max(len, RING_MIN_LEN) + 4);
  }

  /** Enabled, running, and Head != Tail. */
  hasWork(): boolean {
    const r = this.regs;
    if (!r.test(MMIO_CONTROL, CONTROL.IommuEn) || !r.test(MMIO_CONTROL, CONTROL.CmdBufEn) || !r.test(MMIO_STATUS, STATUS.CmdBufRun)) return false;
    const size = this.ringBytes();
    return (r.lo(MMIO_COMMAND_BUFFER_HEAD) & 0x7fff0) % size !== (r.lo(MMIO_COMMAND_BUFFER_TAIL) & 0x7fff0) % size;
  }

  /** Outstanding ATS invalidations. */
  get pendingAts(): number { return this.pending.length; }

  /** Control write side effect: CmdBufEn 0 -> 1 (re)starts the processor; 1 -> 0 stops it. */
  onControl(oldEn: boolean): void {
    const en = this.regs.test(MMIO_CONTROL, CONTROL.CmdBufEn);
    if (en && !oldEn) this.regs.setBit(MMIO_STATUS, STATUS.CmdBufRun, true);
    if (!en) this.regs.setBit(MMIO_STATUS, STATUS.CmdBufRun, false);
  }

  private halt(code: number, addr: number, type: number): void {
    encodeEvent(this.ev, code, 0, 0, 0, type << EVT_TYPE_SHIFT, addr >>> 0, Math.floor(addr / 4294967296));
    this.eventLog.append(this.ev);
    this.regs.setBit(MMIO_STATUS, STATUS.CmdBufRun, false);
  }

  /**
   * Try to run the command at Head at time `now`. Returns STEP_IDLE (nothing to do),
   * STEP_DONE (one command ran; freeAt is when it finished) or STEP_WAIT (blocked until
   * waitUntil).
   */
  step(now: number): number {
    if (!this.hasWork()) return STEP_IDLE;
    const r = this.regs;
    const p = this.profile;
    const size = this.ringBytes();
    const head = (r.lo(MMIO_COMMAND_BUFFER_HEAD) & 0x7fff0) % size;
    const addr = r.base(MMIO_COMMAND_BUFFER_BASE) + head;
    let t = Math.max(now, this.freeAt);
    // fetch: a 64-byte line holds 4 commands; the first command of a line pays the fetch
    if (head % 64 === 0 || t > this.freeAt) t += p.commandFetchPerLine;
    if (!this.mem.contains(addr, COMMAND_BYTES)) {
      this.stats.hardwareErrors++;
      this.halt(EV_COMMAND_HARDWARE_ERROR, addr, 1);
      this.freeAt = t;
      return STEP_DONE;
    }
    const dw = this.dw;
    for (let i = 0; i < 4; i++) dw[i] = this.mem.load32(addr + 4 * i);
    const op = opcodeOf(dw);
    const spec = commandSpec(op);
    let illegal = spec === undefined;
    if (spec) {
      for (let i = 0; i < 4; i++) if ((dw[i]! & spec.reserved[i]!) !== 0) illegal = true;
      if (spec.feature && this.quirks.unsupportedOpcodeIsIllegal && !featurePresent(this.features, spec.feature)) illegal = true;
    }
    if (illegal) {
      this.stats.illegal++;
      this.halt(EV_ILLEGAL_COMMAND_ERROR, addr, 0);
      this.freeAt = t + p.commandDecode;
      return STEP_DONE;
    }
    t += p.commandDecode;
    if (op === OP_COMPLETION_WAIT && this.pending.length > 0) {
      // wait for every earlier ATS invalidation: completion or timeout
      let latest = 0;
      for (const x of this.pending) latest = Math.max(latest, Math.min(x.due, x.timeoutAt));
      if (latest > t) { this.waitUntil = latest; return STEP_WAIT; }
      for (const x of this.pending) {
        if (x.due > x.timeoutAt) {
          this.stats.atsTimeouts++;
          encodeEvent(this.ev, EV_IOTLB_INV_TIMEOUT, x.deviceId, 0, 0, 0, x.cmdAddr >>> 0, Math.floor(x.cmdAddr / 4294967296));
          this.eventLog.append(this.ev);
        }
      }
      this.pending.length = 0;
    }
    const start = t;
    t = this.execute(op, dw, addr, t);
    if (!r.test(MMIO_STATUS, STATUS.CmdBufRun)) { this.freeAt = t; return STEP_DONE; } // halted by a store error
    r.setLo(MMIO_COMMAND_BUFFER_HEAD, (head + COMMAND_BYTES) % size);
    r.setHi(MMIO_COMMAND_BUFFER_HEAD, 0);
    this.stats.executed++;
    const name = spec!.name;
    this.stats.byOpcode[name] = (this.stats.byOpcode[name] ?? 0) + 1;
    this.stats.busyCycles += t - start;
    this.freeAt = t;
    if (this.onCommand !== null) this.onCommand(op, addr, dw, start, t);
    return STEP_DONE;
  }

  /** Run one decoded, legal command starting at cycle t; returns its end cycle. */
  private execute(op: number, dw: Uint32Array, addr: number, t: number): number {
    const p = this.profile;
    const tg = this.target;
    switch (op) {
      case OP_COMPLETION_WAIT: {
        this.stats.completionWaits++;
        // "all prior commands" includes translations already in flight (timed mode): wait for them
        const inFlight = tg.translationsInFlightUntil !== undefined ? tg.translationsInFlightUntil() : 0;
        if (inFlight > t) t = inFlight;
        const s = (dw[0]! & 1) !== 0;
        const i = (dw[0]! & 2) !== 0;
        if (s) {
          const sa = (dw[1]! & 0xfffff) * 4294967296 + ((dw[0]! & 0xfffffff8) >>> 0);
          if (!this.mem.contains(sa, 8)) { this.stats.hardwareErrors++; this.halt(EV_COMMAND_HARDWARE_ERROR, addr, 1); return t; }
          this.mem.store32(sa + 4, dw[3]!);
          this.mem.storeNotify32(sa, dw[2]!);
          t += p.completionWaitStore;
        }
        if (i) {
          const en = this.regs.test(MMIO_CONTROL, CONTROL.ComWaitIntEn);
          if (en || this.quirks.comWaitIntStatusWithoutEnable) this.regs.setBit(MMIO_STATUS, STATUS.ComWaitInt, true);
          if (en) { this.raiseComWait(); t += p.interruptDelivery; }
        }
        tg.commandEvent("completion-wait", t);
        return t;
      }
      case OP_INVALIDATE_DEVTAB_ENTRY: {
        tg.invalidateDevtabEntry(dw[0]! & 0xffff);
        return t + p.invalidationBase;
      }
      case OP_INVALIDATE_IOMMU_PAGES: {
        const pasid = dw[0]! & 0xfffff;
        const domain = dw[1]! & 0xffff;
        const s = (dw[2]! & 1) !== 0, pde = (dw[2]! & 2) !== 0, gn = (dw[2]! & 4) !== 0;
        const a = (BigInt(dw[3]!) << 32n) | BigInt((dw[2]! & 0xfffff000) >>> 0);
        const rng = decodeInvalidationRange(a, s);
        const sets = tg.invalidatePages(domain, gn, pasid, rng.start, rng.size, rng.all, pde);
        return t + p.invalidationBase + sets * p.invalidationPerSet;
      }
      case OP_INVALIDATE_IOTLB_PAGES: {
        const deviceId = dw[0]! & 0xffff;
        const pasid = ((dw[1]! >>> 24) & 0xf) << 16 | ((dw[0]! >>> 16) & 0xff) << 8 | ((dw[1]! >>> 16) & 0xff);
        const s = (dw[2]! & 1) !== 0, gn = (dw[2]! & 4) !== 0;
        const a = (BigInt(dw[3]!) << 32n) | BigInt((dw[2]! & 0xfffff000) >>> 0);
        const rng = decodeInvalidationRange(a, s);
        this.stats.atsInvalidationsSent++;
        const sendAt = t + p.pcieLinkLatency;
        tg.deviceTlbInvalidation(deviceId, gn, pasid, rng.start, rng.size, rng.all, t);
        const ep = this.endpoints.get(deviceId);
        const latency = ep ? ep.atsInvalidate({ deviceId, gn, pasid, start: rng.start, size: rng.size, all: rng.all, cycle: sendAt }) : null;
        const toNs = INV_TIMEOUT_NS[this.regs.get(MMIO_CONTROL, CONTROL.InvTimeOut)];
        const timeout = toNs === null || toNs === undefined || toNs === 0 ? Infinity : t + toNs * (p.clockHz / 1e9);
        this.pending.push({ due: latency === null ? Infinity : sendAt + latency + p.pcieLinkLatency, timeoutAt: timeout, deviceId, cmdAddr: addr });
        return t + p.invalidationBase;
      }
      case OP_INVALIDATE_INTERRUPT_TABLE:
        return t + p.invalidationBase; // interrupt remapping is not modelled: accepted and validated only
      case OP_PREFETCH_IOMMU_PAGES: {
        const deviceId = dw[0]! & 0xffff;
        const count = (dw[0]! >>> 24) & 0xff;
        const pasid = dw[1]! & 0xfffff;
        const s = (dw[2]! & 1) !== 0, gn = (dw[2]! & 4) !== 0, inval = (dw[2]! & 16) !== 0;
        const a = (BigInt(dw[3]!) << 32n) | BigInt((dw[2]! & 0xfffff000) >>> 0);
        const rng = decodeInvalidationRange(a, s);
        return t + tg.prefetch(deviceId, gn, pasid, rng.start, count, inval);
      }
      case OP_COMPLETE_PPR_REQUEST: {
        const deviceId = dw[0]! & 0xffff;
        const ep = this.endpoints.get(deviceId);
        const resp = { deviceId, pasid: dw[1]! & 0xfffff, gn: (dw[2]! & 4) !== 0, prgIndex: dw[3]! & 0x1ff, responseCode: (dw[3]! >>> 12) & 0xf, cycle: t + p.pcieLinkLatency };
        if (ep) { ep.prgResponse(resp); this.stats.pprResponses++; } else this.stats.pprResponsesDropped++;
        tg.commandEvent("complete-ppr", t);
        return t + p.commandDecode;
      }
      case OP_INVALIDATE_IOMMU_ALL: {
        const sets = tg.invalidateAll();
        return t + p.invalidationBase + sets * p.invalidationPerSet;
      }
      default:
        return t;
    }
  }

  snapshot() { return { freeAt: this.freeAt, waitUntil: this.waitUntil, pending: this.pending.map((x) => ({ ...x })), stats: structuredClone(this.stats) }; }
  restore(s: ReturnType<CommandProcessor["snapshot"]>): void {
    this.freeAt = s.freeAt; this.waitUntil = s.waitUntil; this.pending.length = 0; this.pending.push(...s.pending); Object.assign(this.stats, structuredClone(s.stats));
  }
}
