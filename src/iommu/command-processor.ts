/**
 * The command processor (spec: "Command Buffer"; docs/spec-readings.md cmd 1 and cmd 4).
 *
 * Software writes 16-byte commands at Tail and moves Tail (the doorbell); the processor
 * fetches at Head while IommuEn = 1, CmdBufEn = 1 and CmdBufRun = 1, runs each command in
 * order and advances Head (wrapping at 2^ComLen entries). It never runs inside an MMIO
 * write: the IOMMU calls step() when time advances. An unreadable entry gives
 * COMMAND_HARDWARE_ERROR and an illegal one (unknown opcode, reserved bit set, opcode of a
 * feature not advertised) ILLEGAL_COMMAND_ERROR with the command's SPA; either halts with
 * Head on the bad entry and CmdBufRun = 0 until software sets CmdBufEn again.
 *
 * A field that needs an EFR feature the IOMMU does not advertise (INVALIDATE_IOTLB_PAGES
 * Type without InvIotlbTypeSup) counts as reserved. With quirks.unsupportedOpcodeIsIllegal
 * off, a command of an absent feature is fetched, accepted and ignored.
 *
 * Ordering: commands are serial. INVALIDATE_IOTLB_PAGES sends an ATS invalidation and does
 * not wait; a later COMPLETION_WAIT waits (holding its latched entry, Head on it) until
 * every earlier one has completed or timed out, so its store and interrupt come after the
 * device's answer. Invalidations finish (timeouts log IOTLB_INV_TIMEOUT with the SPA of the
 * INVALIDATE_IOTLB_PAGES command) as time advances, with or without a COMPLETION_WAIT
 * behind them. The f (fence) bit needs no extra action in this serial model.
 */
import type { MemoryPort } from "../memory/memory-port.js";
import {
  COMMAND_BYTES, OP_COMPLETE_PPR_REQUEST, OP_COMPLETION_WAIT, OP_INVALIDATE_DEVTAB_ENTRY, OP_INVALIDATE_INTERRUPT_TABLE,
  OP_INVALIDATE_IOMMU_ALL, OP_INVALIDATE_IOMMU_PAGES, OP_INVALIDATE_IOTLB_PAGES, OP_PREFETCH_IOMMU_PAGES, commandSpec,
  commandByName, decodeInvalidationRange, opcodeOf,
} from "../spec/commands.js";
import { EV_COMMAND_HARDWARE_ERROR, EV_ILLEGAL_COMMAND_ERROR, EV_IOTLB_INV_TIMEOUT, EVT_TYPE_SHIFT, HW_ERROR_TYPE, encodeEvent } from "../spec/events.js";
import { dwordMask, field } from "../spec/bitfield.js";
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

/** A field that lies in one dword: which dword, its shift and its in-dword mask (from spec-tables/commands.json). */
interface Slot { readonly w: number; readonly shift: number; readonly mask: number }
function slot(command: string, name: string): Slot {
  const f = field(commandByName(command).fields, name);
  const w = f.lo >>> 5;
  if (f.hi >>> 5 !== w) throw new Error(`${command}.${name} spans two dwords`);
  return { w, shift: f.lo & 31, mask: dwordMask(w, f.lo, f.hi) };
}
function fieldOf(dw: Uint32Array, s: Slot): number { return (dw[s.w]! & s.mask) >>> s.shift; }

/** Every field the processor reads, by its spec name. */
const F = {
  cwS: slot("COMPLETION_WAIT", "S"), cwI: slot("COMPLETION_WAIT", "I"),
  cwAddrLo: slot("COMPLETION_WAIT", "StoreAddress_31_3"), cwAddrHi: slot("COMPLETION_WAIT", "StoreAddress_51_32"),
  cwData: field(commandByName("COMPLETION_WAIT").fields, "StoreData").lo >>> 5,
  devtabDevice: slot("INVALIDATE_DEVTAB_ENTRY", "DeviceID"),
  intTableDevice: slot("INVALIDATE_INTERRUPT_TABLE", "DeviceID"),
  ipPasid: slot("INVALIDATE_IOMMU_PAGES", "PASID"), ipDomain: slot("INVALIDATE_IOMMU_PAGES", "DomainID"),
  ipS: slot("INVALIDATE_IOMMU_PAGES", "S"), ipPDE: slot("INVALIDATE_IOMMU_PAGES", "PDE"), ipGN: slot("INVALIDATE_IOMMU_PAGES", "GN"),
  itDevice: slot("INVALIDATE_IOTLB_PAGES", "DeviceID"), itPasid19: slot("INVALIDATE_IOTLB_PAGES", "PASID_19_16"),
  itPasid15: slot("INVALIDATE_IOTLB_PAGES", "PASID_15_8"), itPasid7: slot("INVALIDATE_IOTLB_PAGES", "PASID_7_0"),
  itS: slot("INVALIDATE_IOTLB_PAGES", "S"), itGN: slot("INVALIDATE_IOTLB_PAGES", "GN"),
  pfDevice: slot("PREFETCH_IOMMU_PAGES", "DeviceID"), pfCount: slot("PREFETCH_IOMMU_PAGES", "PFCount"),
  pfPasid: slot("PREFETCH_IOMMU_PAGES", "PASID"), pfS: slot("PREFETCH_IOMMU_PAGES", "S"), pfGN: slot("PREFETCH_IOMMU_PAGES", "GN"),
  pfInval: slot("PREFETCH_IOMMU_PAGES", "Inval"),
  cpDevice: slot("COMPLETE_PPR_REQUEST", "DeviceID"), cpPasid: slot("COMPLETE_PPR_REQUEST", "PASID"),
  cpGN: slot("COMPLETE_PPR_REQUEST", "GN"), cpPrg: slot("COMPLETE_PPR_REQUEST", "PRGIndex"), cpCode: slot("COMPLETE_PPR_REQUEST", "ResponseCode"),
  /** Address[31:12] and Address[63:32]: the same positions in the three range commands. */
  pageLo: slot("INVALIDATE_IOMMU_PAGES", "Address_31_12"), pageHi: slot("INVALIDATE_IOMMU_PAGES", "Address_63_32"),
} as const;
for (const c of ["INVALIDATE_IOTLB_PAGES", "PREFETCH_IOMMU_PAGES"]) {
  const lo = slot(c, "Address_31_12"), hi = slot(c, "Address_63_32");
  if (lo.w !== F.pageLo.w || lo.mask !== F.pageLo.mask || hi.w !== F.pageHi.w || hi.mask !== F.pageHi.mask) throw new Error(`${c}: Address moved`);
}
/** Page numbers held by Address_31_12 (2^20). */
const PAGE_LO_SPAN = 2 ** (F.pageLo.mask >>> F.pageLo.shift).toString(2).length;
/** Lowest "first clear bit" that the spec codec reads as all pages (found once from decodeInvalidationRange). */
const ALL_PAGES_BIT = (() => {
  for (let n = 12; n < 64; n++) if (decodeInvalidationRange(((1n << BigInt(n)) - 1n) & ~0xfffn, true).all) return n;
  return 64;
})();
const PAGE_BYTES = 4096n;

export interface CommandStats {
  executed: number; byOpcode: Record<string, number>; illegal: number; hardwareErrors: number;
  atsInvalidationsSent: number; atsTimeouts: number; completionWaits: number; pprResponses: number; pprResponsesDropped: number;
  busyCycles: number;
}

/**
 * Outstanding ATS invalidations the IOMMU can track: the PCIe Invalidate Request's ITag is
 * 5 bits, so at most 32 are in flight. An INVALIDATE_IOTLB_PAGES that finds every ITag in
 * use waits (the command processor stalls, as a COMPLETION_WAIT does) until the first
 * outstanding one completes or times out; with InvTimeOut = 0 and a device that never
 * answers it waits for good, and the list never grows past 32.
 */
export const ATS_ITAGS = 32;

interface PendingAts { due: number; timeoutAt: number; deviceId: number; cmdAddr: number }

export const STEP_IDLE = 0;
export const STEP_DONE = 1;
/** The processor is waiting for a device (COMPLETION_WAIT behind an ATS invalidation). */
export const STEP_WAIT = 2;

export class CommandProcessor {
  /** Commands executed per opcode (stats.byOpcode names them). */
  private readonly opCount = new Float64Array(16);
  readonly stats: CommandStats = {
    executed: 0,
    byOpcode: {}, // an accessor over opCount, installed by the constructor
    illegal: 0, hardwareErrors: 0, atsInvalidationsSent: 0, atsTimeouts: 0,
    completionWaits: 0, pprResponses: 0, pprResponsesDropped: 0, busyCycles: 0,
  };
  /** Cycle at which the processor is free for the next command. */
  freeAt = 0;
  /** When STEP_WAIT was returned: the cycle at which progress is possible (Infinity = never). */
  waitUntil = 0;
  private readonly pending: PendingAts[] = [];
  private readonly dw = new Uint32Array(4);
  /** Per opcode: bits that must be zero (reserved, or fields of absent features), 4 dwords each. */
  private readonly mustBeZero = new Uint32Array(64);
  /** Per opcode: 0 illegal, 1 executed, 2 accepted and ignored (absent feature, quirk off). */
  private readonly opKind = new Uint8Array(16);
  private readonly opName: string[] = [];
  /** SPA of a command fetched and latched while it waits (COMPLETION_WAIT behind ATS), or -1. */
  private heldAt = -1;
  /** Decoded range of the command being run (range()). */
  private rFirst = 0;
  private rPages = 1;
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
  ) {
    const counts = this.opCount, names = this.opName;
    Object.defineProperty(this.stats, "byOpcode", {
      enumerable: true,
      get: () => { const o: Record<string, number> = {}; names.forEach((n, op) => { if (n) o[n] = counts[op]!; }); return o; },
    });
    for (let op = 0; op < 16; op++) {
      const spec = commandSpec(op);
      if (spec === undefined) continue;
      const supported = spec.feature === undefined || featurePresent(features, spec.feature);
      this.opKind[op] = supported ? 1 : quirks.unsupportedOpcodeIsIllegal ? 0 : 2;
      this.opName[op] = spec.name;
      for (let i = 0; i < 4; i++) this.mustBeZero[op * 4 + i] = spec.reserved[i]!;
      for (const f of spec.fields) {
        if (f.feature === undefined || featurePresent(features, f.feature)) continue;
        for (let i = 0; i < 4; i++) this.mustBeZero[op * 4 + i] = (this.mustBeZero[op * 4 + i]! | dwordMask(i, f.lo, f.hi)) >>> 0;
      }
    }
  }

  /** Ring size in bytes: 2^ComLen entries of 16 bytes (a reserved ComLen below 8 reads as 8). */
  private ringBytes(): number {
    const len = (this.regs.hi(MMIO_COMMAND_BUFFER_BASE) >>> 24) & 0xf;
    return 1 << ((len < RING_MIN_LEN ? RING_MIN_LEN : len) + 4);
  }

  /** Enabled, running, and Head != Tail. */
  hasWork(): boolean {
    const r = this.regs;
    if (!r.test(MMIO_CONTROL, CONTROL.IommuEn) || !r.test(MMIO_CONTROL, CONTROL.CmdBufEn) || !r.test(MMIO_STATUS, STATUS.CmdBufRun)) return false;
    const mask = this.ringBytes() - 1;
    return (r.lo(MMIO_COMMAND_BUFFER_HEAD) & 0x7fff0 & mask) !== (r.lo(MMIO_COMMAND_BUFFER_TAIL) & 0x7fff0 & mask);
  }

  /** Outstanding ATS invalidations. */
  get pendingAts(): number { return this.pending.length; }

  /** Control write side effect: CmdBufEn 0 -> 1 (re)starts the processor; 1 -> 0 stops it. */
  onControl(oldEn: boolean): void {
    const en = this.regs.test(MMIO_CONTROL, CONTROL.CmdBufEn);
    if (en && !oldEn) this.regs.setBit(MMIO_STATUS, STATUS.CmdBufRun, true);
    if (!en) { this.regs.setBit(MMIO_STATUS, STATUS.CmdBufRun, false); this.heldAt = -1; }
  }

  private halt(code: number, addr: number, type: number): void {
    encodeEvent(this.ev, code, 0, 0, 0, type << EVT_TYPE_SHIFT, addr >>> 0, Math.floor(addr / 4294967296));
    this.eventLog.append(this.ev);
    this.regs.setBit(MMIO_STATUS, STATUS.CmdBufRun, false);
  }

  /**
   * Retire ATS invalidations finished by cycle t: answered, or timed out (IOTLB_INV_TIMEOUT).
   * Returns the latest end among those still outstanding (0 when none).
   */
  private retire(t: number): number {
    const pend = this.pending;
    let latest = 0;
    let j = 0;
    for (let i = 0; i < pend.length; i++) {
      const x = pend[i]!;
      const end = x.due < x.timeoutAt ? x.due : x.timeoutAt;
      if (end <= t) {
        if (x.due > x.timeoutAt) {
          this.stats.atsTimeouts++;
          encodeEvent(this.ev, EV_IOTLB_INV_TIMEOUT, x.deviceId, 0, 0, 0, x.cmdAddr >>> 0, Math.floor(x.cmdAddr / 4294967296));
          this.eventLog.append(this.ev);
        }
        continue;
      }
      if (end > latest) latest = end;
      pend[j++] = x;
    }
    pend.length = j;
    return latest;
  }

  /** Nothing to fetch: finish outstanding ATS invalidations as time allows. */
  private idle(now: number): number {
    if (this.pending.length === 0) return STEP_IDLE;
    this.retire(now);
    let next = Infinity;
    for (const x of this.pending) next = Math.min(next, x.due, x.timeoutAt);
    if (next === Infinity) return STEP_IDLE; // a device that never answers, no timeout: blocked for good
    this.waitUntil = next;
    return STEP_WAIT;
  }

  /**
   * Try to run the command at Head at time `now`. Returns STEP_IDLE (nothing to do),
   * STEP_DONE (one command ran; freeAt is when it finished) or STEP_WAIT (blocked until
   * waitUntil).
   */
  step(now: number): number {
    if (!this.hasWork()) return this.idle(now);
    const r = this.regs;
    const p = this.profile;
    const size = this.ringBytes();
    const head = r.lo(MMIO_COMMAND_BUFFER_HEAD) & 0x7fff0 & (size - 1);
    const addr = r.base(MMIO_COMMAND_BUFFER_BASE) + head;
    const dw = this.dw;
    let t = now > this.freeAt ? now : this.freeAt;
    let op: number;
    if (this.heldAt === addr) {
      op = opcodeOf(dw); // latched while waiting: no second fetch or decode
    } else {
      this.heldAt = -1;
      // fetch: a 64-byte line holds 4 commands; the first command of a line pays the fetch
      if (head % 64 === 0 || t > this.freeAt) t += p.commandFetchPerLine;
      if (!this.mem.contains(addr, COMMAND_BYTES)) {
        this.stats.hardwareErrors++;
        this.halt(EV_COMMAND_HARDWARE_ERROR, addr, HW_ERROR_TYPE.MasterAbort);
        this.freeAt = t;
        return STEP_DONE;
      }
      for (let i = 0; i < 4; i++) dw[i] = this.mem.load32(addr + 4 * i);
      op = opcodeOf(dw);
      const z = op * 4;
      const mz = this.mustBeZero;
      if (this.opKind[op] === 0 || (dw[0]! & mz[z]!) !== 0 || (dw[1]! & mz[z + 1]!) !== 0 || (dw[2]! & mz[z + 2]!) !== 0 || (dw[3]! & mz[z + 3]!) !== 0) {
        this.stats.illegal++;
        this.halt(EV_ILLEGAL_COMMAND_ERROR, addr, 0);
        this.freeAt = t + p.commandDecode;
        return STEP_DONE;
      }
      t += p.commandDecode;
    }
    if (op === OP_INVALIDATE_IOTLB_PAGES && this.pending.length >= ATS_ITAGS) {
      // every ITag in use: the command waits for the first outstanding invalidation to end (answer or timeout)
      this.retire(t);
      if (this.pending.length >= ATS_ITAGS) {
        let first = Infinity;
        for (const x of this.pending) first = Math.min(first, x.due, x.timeoutAt);
        this.heldAt = addr; this.freeAt = t; this.waitUntil = first;
        return STEP_WAIT;
      }
    }
    if (op === OP_COMPLETION_WAIT && this.pending.length > 0) {
      // wait for every earlier ATS invalidation: its completion or its timeout
      const latest = this.retire(t);
      if (latest > t) { this.heldAt = addr; this.freeAt = t; this.waitUntil = latest; return STEP_WAIT; }
    }
    this.heldAt = -1;
    const start = t;
    if (this.opKind[op] === 1) t = this.execute(op, dw, addr, t);
    if (!r.test(MMIO_STATUS, STATUS.CmdBufRun)) { this.freeAt = t; return STEP_DONE; } // halted by a store error
    r.setLo(MMIO_COMMAND_BUFFER_HEAD, (head + COMMAND_BYTES) & (size - 1));
    r.setHi(MMIO_COMMAND_BUFFER_HEAD, 0);
    this.stats.executed++;
    this.opCount[op]!++;
    this.stats.busyCycles += t - start;
    this.freeAt = t;
    if (this.onCommand !== null) this.onCommand(op, addr, dw, start, t);
    return STEP_DONE;
  }

  /**
   * The S-bit range of Address (docs/spec-readings.md cmd 1.4; the same answer as
   * spec decodeInvalidationRange, in numbers) into rFirst / rPages, 4 KiB page numbers;
   * rPages = Infinity for "all pages".
   */
  private range(dw: Uint32Array, s: boolean): void {
    const pn = fieldOf(dw, F.pageHi) * PAGE_LO_SPAN + fieldOf(dw, F.pageLo); // Address[63:12], < 2^52
    if (!s) { this.rFirst = pn; this.rPages = 1; return; }
    let x = pn, k = 0;
    while (k < 52 && x % 2 === 1) { x = (x - 1) / 2; k++; } // k = lowest clear bit above bit 12
    if (k + 12 >= ALL_PAGES_BIT) { this.rFirst = 0; this.rPages = Infinity; return; }
    const pages = 2 ** (k + 1);
    this.rFirst = pn - (pn % pages);
    this.rPages = pages;
  }
  private get rStart(): bigint {
    if (this.rPages === Infinity) return 0n;
    const a = this.rFirst * 4096;
    return a <= Number.MAX_SAFE_INTEGER ? BigInt(a) : BigInt(this.rFirst) << 12n;
  }
  private get rSize(): bigint { return this.rPages === Infinity ? 0n : this.rPages === 1 ? PAGE_BYTES : BigInt(this.rPages) << 12n; }

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
        if (fieldOf(dw, F.cwS) !== 0) {
          const sa = fieldOf(dw, F.cwAddrHi) * 4294967296 + fieldOf(dw, F.cwAddrLo) * 8;
          if (!this.mem.contains(sa, 8)) { this.stats.hardwareErrors++; this.halt(EV_COMMAND_HARDWARE_ERROR, addr, HW_ERROR_TYPE.MasterAbort); return t; }
          this.mem.store32(sa + 4, dw[F.cwData + 1]!);
          this.mem.storeNotify32(sa, dw[F.cwData]!);
          t += p.completionWaitStore;
        }
        if (fieldOf(dw, F.cwI) !== 0) {
          const en = this.regs.test(MMIO_CONTROL, CONTROL.ComWaitIntEn);
          if (en || this.quirks.comWaitIntStatusWithoutEnable) this.regs.setBit(MMIO_STATUS, STATUS.ComWaitInt, true);
          if (en) { this.raiseComWait(); t += p.interruptDelivery; }
        }
        return t;
      }
      case OP_INVALIDATE_DEVTAB_ENTRY:
        tg.invalidateDevtabEntry(fieldOf(dw, F.devtabDevice));
        return t + p.invalidationBase;
      case OP_INVALIDATE_IOMMU_PAGES: {
        this.range(dw, fieldOf(dw, F.ipS) !== 0);
        const sets = tg.invalidatePages(fieldOf(dw, F.ipDomain), fieldOf(dw, F.ipGN) !== 0, fieldOf(dw, F.ipPasid), this.rStart, this.rSize,
          this.rPages === Infinity, fieldOf(dw, F.ipPDE) !== 0);
        return t + p.invalidationBase + sets * p.invalidationPerSet;
      }
      case OP_INVALIDATE_IOTLB_PAGES: {
        const deviceId = fieldOf(dw, F.itDevice);
        const pasid = (fieldOf(dw, F.itPasid19) << 16) | (fieldOf(dw, F.itPasid15) << 8) | fieldOf(dw, F.itPasid7);
        const gn = fieldOf(dw, F.itGN) !== 0;
        this.range(dw, fieldOf(dw, F.itS) !== 0);
        const start = this.rStart, size = this.rSize, all = this.rPages === Infinity;
        this.stats.atsInvalidationsSent++;
        const sendAt = t + p.pcieLinkLatency;
        tg.deviceTlbInvalidation(deviceId, gn, pasid, start, size, all, t);
        const ep = this.endpoints.get(deviceId);
        const latency = ep ? ep.atsInvalidate({ deviceId, gn, pasid, start, size, all, cycle: sendAt }) : null;
        const toNs = INV_TIMEOUT_NS[this.regs.get(MMIO_CONTROL, CONTROL.InvTimeOut)];
        const timeout = toNs === null || toNs === undefined || toNs === 0 ? Infinity : t + toNs * (p.clockHz / 1e9);
        const answered = typeof latency === "number" && latency >= 0 ? sendAt + latency + p.pcieLinkLatency : Infinity;
        this.pending.push({ due: answered, timeoutAt: timeout, deviceId, cmdAddr: addr });
        return t + p.invalidationBase;
      }
      case OP_INVALIDATE_INTERRUPT_TABLE:
        // every cached IRTE of the DeviceID (docs/spec-readings.md irq 1.8)
        if (tg.invalidateInterruptTable) tg.invalidateInterruptTable(fieldOf(dw, F.intTableDevice));
        return t + p.invalidationBase;
      case OP_PREFETCH_IOMMU_PAGES: {
        this.range(dw, fieldOf(dw, F.pfS) !== 0);
        return t + tg.prefetch(fieldOf(dw, F.pfDevice), fieldOf(dw, F.pfGN) !== 0, fieldOf(dw, F.pfPasid), this.rStart,
          fieldOf(dw, F.pfCount), fieldOf(dw, F.pfInval) !== 0);
      }
      case OP_COMPLETE_PPR_REQUEST: {
        const deviceId = fieldOf(dw, F.cpDevice);
        const ep = this.endpoints.get(deviceId);
        if (ep) {
          ep.prgResponse({
            deviceId, pasid: fieldOf(dw, F.cpPasid), gn: fieldOf(dw, F.cpGN) !== 0, prgIndex: fieldOf(dw, F.cpPrg),
            responseCode: fieldOf(dw, F.cpCode), cycle: t + p.pcieLinkLatency,
          });
          this.stats.pprResponses++;
        } else this.stats.pprResponsesDropped++;
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

  /** Plain-data state (embedding/iommu-snapshot.ts): timing, outstanding ATS invalidations, a latched command, counters. */
  snapshot() {
    return {
      freeAt: this.freeAt, waitUntil: this.waitUntil, pending: this.pending.map((x) => ({ ...x })), heldAt: this.heldAt,
      held: [...this.dw], opCount: [...this.opCount], stats: structuredClone(this.stats),
    };
  }
  restore(s: ReturnType<CommandProcessor["snapshot"]>): void {
    this.freeAt = s.freeAt; this.waitUntil = s.waitUntil; this.pending.length = 0; this.pending.push(...s.pending.map((x) => ({ ...x })));
    this.heldAt = s.heldAt ?? -1;
    if (s.held) this.dw.set(s.held);
    this.opCount.fill(0);
    if (s.opCount) this.opCount.set(s.opCount);
    const { byOpcode: _ignored, ...rest } = structuredClone(s.stats);
    Object.assign(this.stats, rest);
  }
}
