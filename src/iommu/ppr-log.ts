/**
 * The IOMMU side of PRI: PCIe Page Requests into the Peripheral Page Request log
 * (spec: "Peripheral Page Request Log", PAGE_SERVICE_REQUEST entries, code 1;
 * docs/spec-readings.md cmd 3.1-3.4 and 5.e steps 1-2).
 *
 * A page request (PRG Index, L, R/W/X/privileged, page address, PASID prefix) from the
 * function at DeviceID is checked in this order (the readings of docs/spec-readings.md cmd 6.7):
 *
 *   1. EFR.PPRSup = 0, IommuEn = 0 or Control.PPREn = 0     -> INVALID_PPR_REQUEST event
 *   2. the DTE cannot be fetched, is illegal, has V = 0,
 *      or has DTE.PPR = 0                                    -> INVALID_PPR_REQUEST event
 *   3. otherwise the request is accepted and written to the PPR log (LogRing: entry first,
 *      then Tail; PprInt and the interrupt when PPRIntEn).
 *   4. an accepted request that cannot be written (log full: PprOverflow set and PprLogRun
 *      cleared by the LogRing, nothing overwritten; log stopped or PPRLogEn = 0; ring outside
 *      memory) is dropped, and when it closes its group (L = 1) the IOMMU itself sends the
 *      PRG Response `overflowResponseCode` (default Response Failure, Fh) so the function
 *      learns its group was lost instead of waiting forever (docs/spec-readings.md cmd 6.11 leaves this
 *      open; real devices then stop using PRI until software resets it).
 *
 * INVALID_PPR_REQUEST uses the PPR-log layout (event code 9). No PRG Response is sent for
 * it: software sees DeviceID, PASID and tag in the event and may answer with
 * COMPLETE_PPR_REQUEST.
 */
import { EV_INVALID_PPR_REQUEST } from "../spec/events.js";
import { PPR_CODE_PAGE_SERVICE_REQUEST, encodePprEntry, type PprRequestFields } from "../spec/ppr.js";
import { PPR_RESPONSE } from "../spec/commands.js";
import { CONTROL, MMIO_CONTROL } from "../spec/registers.js";
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
export type PageRequestOutcome = "logged" | "invalid" | "dropped";

export interface PprStats {
  requests: number; logged: number; invalid: number; dropped: number; failureResponses: number;
}

const TWO32 = 4294967296;

export class PprLog {
  readonly stats: PprStats = { requests: 0, logged: 0, invalid: 0, dropped: 0, failureResponses: 0 };
  /** PRG Response code the IOMMU sends for a dropped group (default Fh, Response Failure). */
  overflowResponseCode: number = PPR_RESPONSE.ResponseFailure;
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
    encodePprEntry(this.entry, PPR_CODE_PAGE_SERVICE_REQUEST, f);
    if (this.ring.append(this.entry)) {
      this.stats.logged++;
      this.cycles += p.pprLogWrite;
      if (regs.test(MMIO_CONTROL, CONTROL.PprIntEn)) this.cycles += p.interruptDelivery;
      return "logged";
    }
    this.stats.dropped++;
    if (f.last) {
      const ep = this.endpoints.get(f.deviceId);
      if (ep !== undefined) {
        this.stats.failureResponses++;
        const resp: PrgResponse = {
          deviceId: f.deviceId, pasid: f.pasid, gn: f.gn, prgIndex: f.prgIndex, responseCode: this.overflowResponseCode,
          cycle: now + this.cycles + p.pcieLinkLatency,
        };
        ep.prgResponse(resp);
      }
    }
    return "dropped";
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
