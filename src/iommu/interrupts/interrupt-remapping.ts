/**
 * Interrupt remapping (spec: "Interrupt Remapping", DTE bits 255:128 and the interrupt
 * remapping table; docs/spec-readings.md irq 1.2-1.9, 2.3).
 *
 * An MSI write (address in 0xFEE0_0000-0xFEEF_FFFF, data) from DeviceID is decided in the
 * order of digest 1.4:
 *   IommuEn = 0 -> forwarded unchanged. DTE unreadable -> DEV_TAB_HARDWARE_ERROR (I = 1).
 *   DTE.IV = 0 -> forwarded. Interrupt half illegal (reserved bits, IntCtl = 11b,
 *   IntTabLen > 11) -> ILLEGAL_DEV_TABLE_ENTRY (I = 1). PASID prefix -> IO_PAGE_FAULT.
 *   Class: in 2048-entry mode (Control.NumIntRemapMode = 01b with EFR2.NumIntRemapSup) a
 *   message with address DM = 1 is remappable with index data[10:0]; otherwise data[10:8]:
 *   fixed/arbitrated -> DTE.IntCtl (00b abort, 01b forward, 10b remap, index data[10:0]);
 *   NMI/INIT/ExtINT -> NMIPass/InitPass/EIntPass (forward, else abort; DM = 1 aborts);
 *   SMI -> quirks.smiInterrupts; 011b/110b reserved -> abort. Policy aborts log no event.
 *   Remap: index >= 2^IntTabLen -> IO_PAGE_FAULT (I = 1, PR = 0); the IRTE at root + index x 4
 *   (Control.GAEn = 0) or x 16 (GAEn = 1), from the IRTE cache unless Control.IRTCacheDis;
 *   RemapEn = 0 -> IO_PAGE_FAULT; GuestMode = 1 -> guest delivery when GAEn and GAMEn = 001b,
 *   else IO_PAGE_FAULT (RZ); IntType not 000b/001b or reserved bits -> IO_PAGE_FAULT (PR, RZ).
 *   Delivered: IRTE vector, IntType, DM, destination (Destination[7:0], or 32 bits with XTEn).
 *   Guest mode: atomic OR of the vector's IRR bit in the vAPIC backing page; IsRun = 1 rings a
 *   doorbell at the physical APIC ID; IsRun = 0 with GALogIntr = 1 appends a GA log entry.
 *   IsRun, Destination, GATag and GALogIntr are re-read from memory even on an IRTE-cache hit.
 * IO_PAGE_FAULT for interrupts: DomainID in dw1[15:0], I = 1, RW = 0, address = the MSI
 * address; suppressed by IRTE.SupIOPF (faults found through the entry) and by DTE.IG
 * (quirks.interruptIgScope). Requests never throw for guest-controlled values.
 */
import type { MemoryPort } from "../../memory/memory-port.js";
import { DTE_RESERVED_INTERRUPT, decodeDte, emptyDte } from "../../spec/dte.js";
import {
  EV_DEV_TAB_HARDWARE_ERROR, EV_ILLEGAL_DEV_TABLE_ENTRY, EV_IO_PAGE_FAULT, EV_PAGE_TAB_HARDWARE_ERROR, EVT_I, EVT_PR, EVT_RZ,
  EVT_TYPE_SHIFT, encodeEvent,
} from "../../spec/events.js";
import {
  IRTE128_GUEST_GAPPIDIS, IRTE128_GUEST_RESERVED, IRTE128_GUEST_UNCACHED, IRTE128_RESERVED, IRTE32_RESERVED, IrteFields,
  MSI_ADDR_DM, MSI_ADDR_RH, MSI_DATA_INDEX_MASK, MSI_DATA_TRIGGER_LEVEL_MASK, MSI_WINDOW_BASE, MSI_WINDOW_BYTES,
  VAPIC_IRR_OFFSET, VAPIC_IRR_STRIDE, decodeIrte,
} from "../../spec/interrupts.js";
import { CONTROL, MMIO_CONTROL, MMIO_DEVICE_TABLE_BASE } from "../../spec/registers.js";
import { PERF_EVENT_CODE } from "../../spec/perf-counters.js";
import { DTE_HARDWARE_ERROR, DTE_ILLEGAL, type DeviceTable } from "../device-table.js";
import type { LogRing } from "../log-ring.js";
import type { MmioRegisters } from "../mmio-registers.js";
import type { FeatureOptions, QuirkOptions } from "../options.js";
import type { TimingProfile } from "../timing-profile.js";
import type { GaLog } from "./ga-log.js";
import type { IrteCache } from "./irte-cache.js";
import type { PerfCounters } from "../perf-counters.js";
import { InterruptRemapResult, type InterruptFault, type InterruptRequest, type InterruptStats } from "./interrupt-request.js";

const TWO32 = 4294967296;
const PERF_INT_DTE_HIT = PERF_EVENT_CODE.int_dte_hit!;
const PERF_INT_DTE_MIS = PERF_EVENT_CODE.int_dte_mis!;
const PERF_VAPIC_NON_GUEST = PERF_EVENT_CODE.vapic_int_non_guest!;
const PERF_VAPIC_GUEST = PERF_EVENT_CODE.vapic_int_guest!;
const PERF_SMI_RECV = PERF_EVENT_CODE.smi_recv!;
const PERF_SMI_BLK = PERF_EVENT_CODE.smi_blk!;

export class InterruptRemapper {
  readonly stats: InterruptStats = {
    requests: 0, forwarded: 0, remapped: 0, posted: 0, aborted: 0, faults: 0, eventsLogged: 0, eventsSuppressed: 0,
    doorbells: 0, gaLogEntries: 0, dteHits: 0, dteMisses: 0, vapicNonGuest: 0, smiReceived: 0, smiBlocked: 0,
  };
  /** Called for every doorbell (guest-mode interrupt with IsRun = 1): physical APIC ID, guest vector, DeviceID. */
  onDoorbell: ((destination: number, vector: number, deviceId: number) => void) | null = null;
  /** Performance counters counting the interrupt events (0Fh, 10h, 15h-18h), when EFR.PCSup. */
  perf: PerfCounters | null = null;
  private readonly ev = new Uint32Array(4);
  private readonly raw = new Uint32Array(4);
  private readonly again = new Uint32Array(4);
  private readonly irte = new IrteFields();
  private readonly dteScratch = new Uint32Array(8);
  private readonly dteFields = emptyDte();
  // request being served
  private peek = false;
  private addrLo = 0;
  private addrHi = 0;
  private deviceId = 0;
  private domain = 0;
  private ig = false;
  private refs = 0;

  constructor(
    private readonly regs: MmioRegisters,
    private readonly mem: MemoryPort,
    private readonly features: FeatureOptions,
    private readonly quirks: QuirkOptions,
    private readonly deviceTable: DeviceTable,
    private readonly cache: IrteCache,
    private readonly eventLog: LogRing,
    private readonly gaLog: GaLog,
    private readonly profile: TimingProfile,
    private readonly shared: boolean,
  ) {}

  /** Check the request's shape (embedder misuse throws, naming the field). */
  private check(name: string, req: InterruptRequest): void {
    if (req === null || typeof req !== "object") throw new TypeError(`${name}: request must be an object { deviceId, address, data }`);
    const { deviceId, address, data, pasid } = req;
    if (typeof deviceId !== "number" || !Number.isInteger(deviceId) || deviceId < 0 || deviceId > 0xffff) {
      throw new RangeError(`${name}: request.deviceId must be an integer 0..65535 (bus << 8 | dev << 3 | fn), got ${String(deviceId)}`);
    }
    if (typeof address === "number") {
      if (!Number.isInteger(address) || address < 0 || address > Number.MAX_SAFE_INTEGER) throw new RangeError(`${name}: request.address must be a non-negative integer, got ${String(address)}`);
      this.addrHi = Math.floor(address / TWO32); this.addrLo = address >>> 0;
    } else if (typeof address === "bigint") {
      if (address < 0n || address >= 1n << 64n) throw new RangeError(`${name}: request.address must be below 2^64, got ${String(address)}`);
      this.addrHi = Number(address >> 32n); this.addrLo = Number(address & 0xffffffffn);
    } else {
      throw new TypeError(`${name}: request.address must be a number or bigint, got ${typeof address}`);
    }
    if (typeof data !== "number" || !Number.isInteger(data) || data < 0 || data > 0xffffffff) {
      throw new RangeError(`${name}: request.data must be an integer 0..0xFFFFFFFF, got ${String(data)}`);
    }
    if (pasid !== undefined && (typeof pasid !== "number" || !Number.isInteger(pasid) || pasid < 0 || pasid > 0xfffff)) {
      throw new RangeError(`${name}: request.pasid must be an integer 0..1048575, got ${String(pasid)}`);
    }
  }

  /** Remap one interrupt request. peek: decide from memory only (no cache, no event, no IRR/GA-log write, no statistics). */
  remap(name: string, req: InterruptRequest, out: InterruptRemapResult, peek: boolean): InterruptRemapResult {
    this.check(name, req);
    out.reset();
    this.peek = peek;
    this.refs = 0;
    this.deviceId = req.deviceId;
    this.domain = 0;
    this.ig = false;
    if (!peek) this.stats.requests++;
    const data = req.data >>> 0;
    const aLo = this.addrLo;
    if (this.addrHi !== 0 || aLo < MSI_WINDOW_BASE || aLo - MSI_WINDOW_BASE >= MSI_WINDOW_BYTES) return this.abort(out, "not-an-interrupt");
    const regs = this.regs;
    if (!regs.test(MMIO_CONTROL, CONTROL.IommuEn)) return this.forward(out, data, "iommu-disabled");
    // ---- DTE (interrupt half) ----
    const dt = this.deviceTable;
    const d = dt.lookup(req.deviceId, peek);
    out.dteCacheHit = dt.hit;
    if (!dt.hit) this.refs++;
    let f = d?.f;
    if (!peek && dt.cache.entries > 0) {
      if (dt.hit) this.stats.dteHits++; else this.stats.dteMisses++;
      if (this.perf !== null) this.perf.count(dt.hit ? PERF_INT_DTE_HIT : PERF_INT_DTE_MIS, req.deviceId, f?.DomainID ?? 0, req.pasid ?? null);
    }
    if (d === null) {
      if (dt.status === DTE_HARDWARE_ERROR) {
        const a = regs.base(MMIO_DEVICE_TABLE_BASE) + req.deviceId * 32;
        return this.fault(out, "dte-hardware-error", EV_DEV_TAB_HARDWARE_ERROR, EVT_I | (1 << EVT_TYPE_SHIFT), Math.floor(a / TWO32), a >>> 0, false, false);
      }
      // DTE_ILLEGAL: the translation half may be the illegal part; the interrupt half decides here
      if (dt.status !== DTE_ILLEGAL || req.deviceId >= dt.tableEntries()) return this.illegal(out, false);
      const pa = regs.base(MMIO_DEVICE_TABLE_BASE) + req.deviceId * 32;
      for (let i = 0; i < 8; i++) this.dteScratch[i] = this.mem.load32(pa + 4 * i);
      f = decodeDte(this.dteScratch, this.dteFields);
      if (f.IV) {
        for (let w = 4; w < 8; w++) if ((this.dteScratch[w]! & DTE_RESERVED_INTERRUPT[w]!) !== 0) return this.illegal(out, true);
        if (f.IntCtl === 3 || f.IntTabLen > 11) return this.illegal(out, false);
      }
    }
    if (f === undefined || !f.IV) return this.forward(out, data, "not-mapped");
    this.domain = f.DomainID;
    this.ig = f.IG;
    if (req.pasid !== undefined) return this.pageFault(out, "interrupt-with-pasid", 0, false, true);
    // ---- classify ----
    const dm = (aLo & MSI_ADDR_DM) !== 0;
    let remappable = false;
    if (dm && this.features.intRemap2k && regs.get(MMIO_CONTROL, CONTROL.NumIntRemapMode) === 1) {
      remappable = true;
    } else {
      switch ((data >>> 8) & 7) {
        case 0: case 1: remappable = true; break;
        case 4: return this.pass(out, data, f.NMIPass, dm);
        case 5: return this.pass(out, data, f.InitPass, dm);
        case 7: return this.pass(out, data, f.EIntPass, dm);
        case 2: {
          const q = this.quirks.smiInterrupts;
          const r = this.pass(out, data, q === "forward" || (q === "sysmgt" && f.SysMgt === 1), dm);
          if (!peek) {
            this.stats.smiReceived++; if (!r.ok) this.stats.smiBlocked++;
            if (this.perf !== null) { this.perfCount(PERF_SMI_RECV, f.DomainID); if (!r.ok) this.perfCount(PERF_SMI_BLK, f.DomainID); }
          }
          return r;
        }
        default: return this.abort(out, "reserved-delivery-mode");
      }
    }
    if (!remappable) return this.abort(out, "reserved-delivery-mode");
    if (f.IntCtl === 0) return this.abort(out, "remapping-blocked");
    if (f.IntCtl === 1) return this.forward(out, data, "forwarded");
    // ---- IRTE ----
    const index = data & MSI_DATA_INDEX_MASK;
    out.index = index;
    if (index >= 2 ** f.IntTabLen) return this.pageFault(out, "index-out-of-range", 0, true, true);
    const wide = this.features.guestVapic && regs.test(MMIO_CONTROL, CONTROL.GAEn);
    const bytes = wide ? 16 : 4;
    const pa = f.IntTableRootPtr + index * bytes;
    const raw = this.raw;
    const useCache = !peek && !regs.test(MMIO_CONTROL, CONTROL.IRTCacheDis);
    const slot = useCache ? this.cache.lookup(req.deviceId, wide, index) : -1;
    if (slot >= 0) {
      out.irteCacheHit = true;
      this.cache.read(slot, raw);
    } else {
      if (!this.mem.contains(pa, bytes)) {
        return this.fault(out, "irte-hardware-error", EV_PAGE_TAB_HARDWARE_ERROR, EVT_I | (1 << EVT_TYPE_SHIFT), Math.floor(pa / TWO32), pa >>> 0, false, false);
      }
      this.readIrte(pa, wide, raw);
      if (useCache) this.cache.fill(req.deviceId, wide, index, raw);
    }
    if (wide && (raw[0]! & 0x80) !== 0 && slot >= 0) {
      // guest mode: IsRun, Destination, GATag and GALogIntr are not cached (digest 1.8)
      this.readIrte(pa, true, this.again);
      this.refs++;
      for (let w = 0; w < 4; w++) raw[w] = ((raw[w]! & ~IRTE128_GUEST_UNCACHED[w]!) | (this.again[w]! & IRTE128_GUEST_UNCACHED[w]!)) >>> 0;
    }
    const e = decodeIrte(raw, wide, this.irte);
    if (!e.RemapEn) return this.pageFault(out, "irte-not-remapped", 0, true, true, e.SupIOPF);
    if (e.GuestMode) {
      if (!wide || regs.get(MMIO_CONTROL, CONTROL.GAMEn) !== 1) return this.pageFault(out, "guest-mode-not-allowed", EVT_PR | EVT_RZ, false, true, e.SupIOPF);
      if (this.quirks.irteReservedBitsFault && this.reserved(raw, IRTE128_GUEST_RESERVED, IRTE128_GUEST_GAPPIDIS)) {
        return this.pageFault(out, "irte-reserved", EVT_PR | EVT_RZ, false, true, e.SupIOPF);
      }
      return this.guest(out, e);
    }
    if (e.IntType > 1) return this.pageFault(out, "irte-reserved", EVT_PR | EVT_RZ, false, true, e.SupIOPF);
    if (this.quirks.irteReservedBitsFault && this.reserved(raw, wide ? IRTE128_RESERVED : IRTE32_RESERVED, 0)) {
      return this.pageFault(out, "irte-reserved", EVT_PR | EVT_RZ, false, true, e.SupIOPF);
    }
    const dest = wide && this.features.x2apic && regs.test(MMIO_CONTROL, CONTROL.XTEn) ? e.Destination : e.Destination & 0xff;
    out.ok = true;
    out.path = "remapped";
    out.vector = e.Vector;
    out.destination = dest;
    out.deliveryMode = e.IntType;
    out.destinationMode = e.DM ? 1 : 0;
    out.requestEoi = e.RqEoi;
    out.address = (MSI_WINDOW_BASE | ((dest & 0xff) << 12) | (e.RqEoi ? MSI_ADDR_RH : 0) | (e.DM ? MSI_ADDR_DM : 0)) >>> 0;
    out.data = (e.Vector | (e.IntType << 8) | (data & MSI_DATA_TRIGGER_LEVEL_MASK)) >>> 0;
    if (!peek) {
      this.stats.remapped++;
      if (wide) { this.stats.vapicNonGuest++; if (this.perf !== null) this.perfCount(PERF_VAPIC_NON_GUEST, f.DomainID); }
    }
    return this.price(out);
  }

  private perfCount(code: number, domain: number): void { this.perf!.count(code, this.deviceId, domain, null); }

  /** Read an IRTE; a 128-bit entry is read until two reads agree in shared mode (a cmpxchg16b update is never seen half-done). */
  private readIrte(pa: number, wide: boolean, out: Uint32Array): void {
    const m = this.mem;
    this.refs++;
    if (!wide) { out[0] = m.load32(pa); out[1] = 0; out[2] = 0; out[3] = 0; return; }
    for (let i = 0; i < 4; i++) out[i] = m.load32(pa + 4 * i);
    if (!this.shared) return;
    for (let tries = 0; tries < 64; tries++) {
      let same = true;
      for (let i = 0; i < 4; i++) { const v = m.load32(pa + 4 * i); if (v !== out[i]) { same = false; out[i] = v; } }
      if (same) return;
    }
  }

  private reserved(raw: Uint32Array, mask: Uint32Array, extra0: number): boolean {
    return ((raw[0]! & (mask[0]! | extra0)) | (raw[1]! & mask[1]!) | (raw[2]! & mask[2]!) | (raw[3]! & mask[3]!)) !== 0;
  }

  /** Guest-mode delivery (digest 2.3): IRR bit in the backing page, doorbell or GA log entry. */
  private guest(out: InterruptRemapResult, e: IrteFields): InterruptRemapResult {
    const xt = this.features.x2apic && this.regs.test(MMIO_CONTROL, CONTROL.XTEn);
    const dest = xt ? e.Destination : e.Destination & 0xff;
    const v = e.Vector;
    const irr = e.VapicBackingPage + VAPIC_IRR_OFFSET + (v >>> 5) * VAPIC_IRR_STRIDE;
    if (!this.mem.contains(irr, 4)) {
      return this.fault(out, "vapic-hardware-error", EV_PAGE_TAB_HARDWARE_ERROR, EVT_I | (1 << EVT_TYPE_SHIFT), Math.floor(irr / TWO32), irr >>> 0, false, false);
    }
    out.ok = true; out.posted = true; out.path = "guest";
    out.vector = v; out.destination = dest; out.deliveryMode = 0; out.destinationMode = 0;
    out.doorbell = e.IsRun;
    this.refs++;
    if (this.peek) return this.price(out);
    const bit = (1 << (v & 31)) >>> 0;
    let old = this.mem.load32(irr);
    for (let tries = 0; tries < 1 << 16; tries++) {
      const seen = this.mem.cas32(irr, old, (old | bit) >>> 0);
      if (seen === old) break;
      old = seen;
    }
    this.stats.posted++;
    if (this.perf !== null) this.perfCount(PERF_VAPIC_GUEST, this.domain);
    if (e.IsRun) {
      this.stats.doorbells++;
      if (this.onDoorbell !== null) this.onDoorbell(dest, v, this.deviceId);
    } else if (e.GALogIntr) {
      if (this.gaLog.append(e.GATag, this.deviceId)) { out.gaLogged = true; this.stats.gaLogEntries++; this.refs++; }
    }
    return this.price(out);
  }

  private forward(out: InterruptRemapResult, data: number, path: "iommu-disabled" | "not-mapped" | "forwarded"): InterruptRemapResult {
    const a = this.addrLo;
    out.ok = true;
    out.path = path;
    out.address = a;
    out.data = data;
    out.vector = data & 0xff;
    out.deliveryMode = (data >>> 8) & 7;
    out.destinationMode = (a & MSI_ADDR_DM) !== 0 ? 1 : 0;
    out.destination = (a >>> 12) & 0xff;
    if (!this.peek) this.stats.forwarded++;
    return this.price(out);
  }

  /** A pass-through class (NMI, INIT, ExtINT, SMI): forwarded when allowed and physical, else target abort. */
  private pass(out: InterruptRemapResult, data: number, allowed: boolean, dm: boolean): InterruptRemapResult {
    if (dm) return this.abort(out, "logical-pass-through");
    if (!allowed) return this.abort(out, "pass-blocked");
    return this.forward(out, data, "forwarded");
  }

  /** Target abort without an event (the policy aborts; digest UNCERTAIN 2: VBox and QEMU log none). */
  private abort(out: InterruptRemapResult, why: InterruptFault): InterruptRemapResult {
    out.ok = false;
    out.fault = why;
    if (!this.peek) this.stats.aborted++;
    return this.price(out);
  }

  private illegal(out: InterruptRemapResult, rz: boolean): InterruptRemapResult {
    return this.fault(out, "illegal-dte", EV_ILLEGAL_DEV_TABLE_ENTRY, EVT_I | (rz ? EVT_RZ : 0), this.addrHi, (this.addrLo & ~3) >>> 0, false, false);
  }

  /** IO_PAGE_FAULT for an interrupt (I = 1, RW = 0, address = MSI address); `unmapped` faults are the ones IG names. */
  private pageFault(out: InterruptRemapResult, why: InterruptFault, flags: number, unmapped: boolean, igApplies: boolean, supIopf = false): InterruptRemapResult {
    const ig = igApplies && this.ig && (unmapped || this.quirks.interruptIgScope === "all");
    return this.fault(out, why, EV_IO_PAGE_FAULT, EVT_I | flags, this.addrHi, this.addrLo, supIopf || ig, true);
  }

  private fault(out: InterruptRemapResult, why: InterruptFault, code: number, flags: number, hi: number, lo: number, suppressed: boolean, domainTag: boolean): InterruptRemapResult {
    out.ok = false;
    out.fault = why;
    if (this.peek) return this.price(out);
    this.stats.aborted++;
    this.stats.faults++;
    if (suppressed) { this.stats.eventsSuppressed++; return this.price(out); }
    encodeEvent(this.ev, code, this.deviceId, 0, domainTag ? this.domain : 0, flags, lo, hi);
    this.refs++;
    if (this.eventLog.append(this.ev)) { out.event = code; this.stats.eventsLogged++; }
    return this.price(out);
  }

  /** Modelled latency: DTE (cache hit or memory), IRTE (cache hit or memory), other references, event, delivery. */
  private price(out: InterruptRemapResult): InterruptRemapResult {
    const p = this.profile;
    out.memoryReferences = this.refs;
    let c = (out.dteCacheHit ? p.dteCacheHit : 0) + (out.irteCacheHit ? p.dteCacheHit : 0) + this.refs * p.memoryReference;
    if (out.event !== 0) c += p.eventLogWrite - p.memoryReference;
    if (out.ok) c += p.interruptDelivery;
    out.cycles = c;
    return out;
  }
}
