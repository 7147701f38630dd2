/**
 * The IOMMU side of PRI: PCIe Page Requests into the Peripheral Page Request log
 * (spec: "Peripheral Page Request Log", PAGE_SERVICE_REQUEST entries, code 1;
 * docs/spec-readings.md cmd 3.1-3.4 and 5.e steps 1-2).
 *
 * A page request (PRG Index, L, R/W/X/privileged, page address, PASID prefix) from the
 * function at DeviceID is checked in this order (the readings of docs/spec-readings.md cmd 6.7):
 *
 *   1. EFR.PPRSup = 0, IommuEn = 0 or Control.PPREn = 0     -> INVALID_PPR_REQUEST event
 *      (with IommuEn = 0 refused but nothing is logged: an IOMMU that is off writes no log,
 *      log-ring.ts running(); the outcome is still "invalid")
 *   2. the DTE cannot be fetched, is illegal, has V = 0,
 *      or has DTE.PPR = 0                                    -> INVALID_PPR_REQUEST event
 *   3. otherwise the request is accepted and written to the PPR log (LogRing: entry first,
 *      then Tail; PprInt and the interrupt when PPRIntEn).
 *   4. an accepted request that cannot be written (log full: PprOverflow set and PprLogRun
 *      cleared by the LogRing, nothing overwritten; log stopped or PPRLogEn = 0; ring outside
 *      memory) is dropped and nothing is sent to the function, which keeps waiting for its
 *      PRG Response (docs/spec-readings.md irq 4.2, "no extras": what Linux relies on).
 *
 * PPR extras (docs/spec-readings.md irq 4.1, 4.2; every behaviour a reading, UNCERTAIN 19/20):
 *   - Auto-response (EFR.PprAutoRspSup, Control.PprAutoRspEn): a dropped request that closes
 *     its group (L = 1) is answered by the IOMMU itself with PprAutoRspCode (register 0x2080,
 *     COMPLETE_PPR_REQUEST encoding); PprAutoRspMaskGn = 1 sends it without PASID. With
 *     Control.PprAutoRspAon as well, every accepted request is answered that way and not
 *     logged (outcome "answered"), so software never answers a group twice.
 *   - Early overflow warning (EFR.PprOvrflwEarlySup, register 0x2088 PprOvrflwEarlyEn): after a
 *     request is logged, when the valid entries ((tail - head) mod size) reach the 15-bit
 *     threshold (>=), Status.PprOverflowEarly (bit 18) is set once and, with
 *     PprOvrflwEarlyIntEn, the PPR interrupt is raised; it re-arms when software clears the bit.
 *     With dual PPR logs (EFR.DualPprLogSup) an entry written to log B is checked against log
 *     B's own register 0x2090 (same layout; VBox's reading, FreeBSD names 0x2090 "PPR log B
 *     auto response", irq 7.21) and sets Status.PprOverflowEarlyB (bit 17).
 *
 * INVALID_PPR_REQUEST uses the PPR-log layout (event code 9). No PRG Response is sent for
 * it: software sees DeviceID, PASID and tag in the event and may answer with
 * COMPLETE_PPR_REQUEST.
 */
import { EV_INVALID_PPR_REQUEST } from "../spec/events.js";
import { PPR_CODE_PAGE_SERVICE_REQUEST, encodePprEntry, type PprRequestFields } from "../spec/ppr.js";
import { CONTROL, MMIO_CONTROL, MMIO_PPR_AUTO_RESPONSE, MMIO_PPR_LOG_B_OVERFLOW_EARLY, MMIO_PPR_OVERFLOW_EARLY, MMIO_STATUS, STATUS } from "../spec/registers.js";
import type { DeviceTable } from "./device-table.js";
import type { EndpointPort, PrgResponse } from "./endpoint-port.js";
import type { FeatureOptions } from "./options.js";
import type { LogRing } from "./log-ring.js";
import type { MmioRegisters } from "./mmio-registers.js";
import type { TimingProfile } from "./timing-profile.js";

/** A PCIe PRI Page Request as it reaches the IOMMU. */
export interface PageRequest {
  /** Requester ID (bus << 8 | dev << 3 | fn). */
  deviceId: number;
  /** Present = the request carries a PASID prefix (GN = 1). */
  pasid?: number;
  /** Page address (bits 11:0 are not carried). */
  address: number | bigint;
  /** Page Request Group index, 0..511. */
  prgIndex: number;
  /** L: last request of the group. */
  last: boolean;
  read?: boolean;
  write?: boolean;
  /** Execute Requested (PASID prefix). */
  execute?: boolean;
  /** Privileged Mode Requested (PASID prefix); clears the entry's US flag. */
  privileged?: boolean;
}

/** What became of a page request. */
export type PageRequestOutcome = "logged" | "invalid" | "dropped" | "answered";

export interface PprStats {
  requests: number; logged: number; invalid: number; dropped: number;
  /** PRG responses the IOMMU sent itself (auto-response). */
  autoResponses: number;
  /** Early-overflow warnings raised. */
  earlyWarnings: number;
}

const TWO32 = 4294967296;

export class PprLog {
  readonly stats: PprStats = { requests: 0, logged: 0, invalid: 0, dropped: 0, autoResponses: 0, earlyWarnings: 0 };
  /** Modelled cycles of the last page request (log write, interrupt). */
  cycles = 0;
  private readonly entry = new Uint32Array(4);
  private readonly fields: PprRequestFields = {
    deviceId: 0, pasid: 0, prgIndex: 0, last: false, exec: false, read: false, write: false, user: false, rz: false, gn: false, addrLo: 0, addrHi: 0,
  };

  constructor(
    private readonly regs: MmioRegisters,
    private readonly features: FeatureOptions,
    private readonly deviceTable: DeviceTable,
    private readonly ring: LogRing,
    private readonly eventLog: LogRing,
    private readonly profile: TimingProfile,
    private readonly endpoints: Map<number, EndpointPort>,
    private readonly raise: () => void = () => {},
  ) {}

  /** Take a page request at cycle `now`. Embedder misuse (malformed fields) throws; everything else is data. */
  pageRequest(req: PageRequest, now: number): PageRequestOutcome {
    const f = this.decode(req);
    this.stats.requests++;
    const p = this.profile;
    this.cycles = 0;
    const regs = this.regs;
    let allowed = this.features.ppr && regs.test(MMIO_CONTROL, CONTROL.IommuEn) && regs.test(MMIO_CONTROL, CONTROL.PPREn);
    if (allowed) {
      const d = this.deviceTable.lookup(f.deviceId);
      if (!this.deviceTable.hit) this.cycles += p.memoryReference; else this.cycles += p.dteCacheHit;
      allowed = d !== null && d.f.V && d.f.PPR;
    }
    if (!allowed) {
      this.stats.invalid++;
      encodePprEntry(this.entry, EV_INVALID_PPR_REQUEST, f);
      if (this.eventLog.append(this.entry)) this.cycles += p.eventLogWrite;
      return "invalid";
    }
    const auto = this.features.pprAutoResponse && regs.test(MMIO_CONTROL, CONTROL.PprAutoRspEn);
    if (auto && regs.test(MMIO_CONTROL, CONTROL.PprAutoRspAon)) {
      if (f.last) this.autoRespond(f, now);
      return "answered";
    }
    encodePprEntry(this.entry, PPR_CODE_PAGE_SERVICE_REQUEST, f);
    if (this.ring.append(this.entry)) {
      this.stats.logged++;
      this.cycles += p.pprLogWrite;
      if (regs.test(MMIO_CONTROL, CONTROL.PprIntEn)) this.cycles += p.interruptDelivery;
      if (this.features.pprEarlyOverflow) this.earlyWarning();
      return "logged";
    }
    this.stats.dropped++;
    if (auto && f.last) this.autoRespond(f, now);
    return "dropped";
  }

  /** The IOMMU answers the request's group itself with PprAutoRspCode (register 0x2080). */
  private autoRespond(f: PprRequestFields, now: number): void {
    const ep = this.endpoints.get(f.deviceId);
    if (ep === undefined) return;
    const reg = this.regs.lo(MMIO_PPR_AUTO_RESPONSE);
    const maskGn = (reg & 0x10) !== 0;
    this.stats.autoResponses++;
    const resp: PrgResponse = {
      deviceId: f.deviceId, pasid: maskGn ? 0 : f.pasid, gn: maskGn ? false : f.gn, prgIndex: f.prgIndex, responseCode: reg & 0xf,
      cycle: now + this.cycles + this.profile.pcieLinkLatency,
    };
    ep.prgResponse(resp);
  }

  /**
   * Early-overflow warning of the ring the entry went to: log A against register 0x2088 and
   * Status.PprOverflowEarly (bit 18), log B against 0x2090 and Status.PprOverflowEarlyB
   * (bit 17). Valid entries >= threshold sets the bit once (PPR interrupt with the register's IntEn).
   */
  private earlyWarning(): void {
    const r = this.regs;
    const ringB = this.ring.lastRingB;
    const reg = r.lo(ringB ? MMIO_PPR_LOG_B_OVERFLOW_EARLY : MMIO_PPR_OVERFLOW_EARLY);
    const bit = ringB ? STATUS.PprOverflowEarlyB : STATUS.PprOverflowEarly;
    if ((reg & 0x8000_0000) === 0 || r.test(MMIO_STATUS, bit)) return;
    if (this.ring.validEntries(ringB) < (reg & 0x7fff)) return;
    r.setBit(MMIO_STATUS, bit, true);
    this.stats.earlyWarnings++;
    if ((reg & 0x4000_0000) !== 0) this.raise();
  }

  /** Check the request's shape (embedder misuse throws, naming the field) and fill the entry fields. */
  private decode(req: PageRequest): PprRequestFields {
    if (req === null || typeof req !== "object") throw new TypeError("pageRequest: request must be an object { deviceId, address, prgIndex, last, ... }");
    const f = this.fields;
    const { deviceId, pasid, prgIndex } = req;
    if (typeof deviceId !== "number" || !Number.isInteger(deviceId) || deviceId < 0 || deviceId > 0xffff) {
      throw new RangeError(`pageRequest: request.deviceId must be an integer 0..65535, got ${String(deviceId)}`);
    }
    if (pasid !== undefined && (typeof pasid !== "number" || !Number.isInteger(pasid) || pasid < 0 || pasid > 0xfffff)) {
      throw new RangeError(`pageRequest: request.pasid must be an integer 0..1048575, got ${String(pasid)}`);
    }
    if (typeof prgIndex !== "number" || !Number.isInteger(prgIndex) || prgIndex < 0 || prgIndex > 0x1ff) {
      throw new RangeError(`pageRequest: request.prgIndex must be an integer 0..511, got ${String(prgIndex)}`);
    }
    if (typeof req.last !== "boolean") throw new TypeError(`pageRequest: request.last must be a boolean, got ${typeof req.last}`);
    const a = req.address;
    if (typeof a === "number") {
      if (!Number.isInteger(a) || a < 0 || a > Number.MAX_SAFE_INTEGER) throw new RangeError(`pageRequest: request.address must be a non-negative integer, got ${a}`);
      f.addrHi = Math.floor(a / TWO32); f.addrLo = a >>> 0;
    } else if (typeof a === "bigint") {
      if (a < 0n || a >= 1n << 64n) throw new RangeError(`pageRequest: request.address must be below 2^64, got ${a}`);
      f.addrHi = Number(a >> 32n); f.addrLo = Number(a & 0xffffffffn);
    } else {
      throw new TypeError(`pageRequest: request.address must be a number or bigint, got ${typeof a}`);
    }
    f.deviceId = deviceId;
    f.gn = pasid !== undefined;
    f.pasid = pasid ?? 0;
    f.prgIndex = prgIndex;
    f.last = req.last;
    for (const k of ["read", "write", "execute", "privileged", "last"] as const) {
      const v = (req as unknown as Record<string, unknown>)[k];
      if (v !== undefined && typeof v !== "boolean") throw new TypeError(`pageRequest: request.${k} must be a boolean, got ${typeof v}`);
    }
    f.read = req.read === true;
    f.write = req.write === true;
    f.exec = req.execute === true;
    f.user = req.privileged !== true;
    f.rz = false;
    return f;
  }
}
