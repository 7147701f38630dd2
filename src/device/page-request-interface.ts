/**
 * The Page Request Interface (PRI) of a PCIe function (PCIe PRI capability; the device
 * side of docs/spec-readings.md cmd 3.3-3.4 and 5.e).
 *
 * The function sends Page Requests in Page Request Groups: every request of a group carries
 * the same PRG Index (9 bits) and the last one has L = 1. Each request uses one unit of the
 * Outstanding Page Request Allocation (`outstanding`, Linux programs 32); the units of a
 * group come back when its PRG Response arrives. A response for an index with nothing
 * outstanding (or, with `prgResponsePasidRequired`, a wrong PASID) sets the UPRGI status
 * (Unexpected PRG Index) and is otherwise ignored. Codes: 0h Success (retry the ATS
 * translation), 1h Invalid Request (do not retry), Fh Response Failure: the RF status bit is
 * set and the function sends no more page requests until software resets PRI. Reserved
 * codes are treated as Response Failure.
 *
 * Group state lives in fixed arrays indexed by PRG Index: no allocation per request.
 */
import { PPR_RESPONSE } from "../spec/commands.js";
import type { PrgResponse } from "../iommu/endpoint-port.js";
import type { PageRequest } from "../iommu/ppr-log.js";
import type { UpstreamPort } from "./upstream-port.js";

export const PRG_INDEXES = 512;
export const PRG_FREE = 0;
/** Requests sent, no response yet. */
export const PRG_WAITING = 1;
/** The PRG Response arrived; responseCode(index) holds it until release(index). */
export const PRG_ANSWERED = 2;

export interface PriOptions {
  /** Outstanding Page Request Allocation (default 32, what Linux programs). */
  outstanding?: number;
  /** PRI "PRG Response PASID Required": responses must carry the group's PASID. */
  prgResponsePasidRequired?: boolean;
}

/** One page of a page request group. */
export interface PageRequestPage {
  address: number | bigint;
  read?: boolean;
  write?: boolean;
  execute?: boolean;
  privileged?: boolean;
}

export interface PriStats {
  pageRequests: number; groups: number; responses: number; success: number; invalidRequest: number; responseFailure: number;
  unexpectedResponses: number; refusedByIommu: number; droppedByIommu: number;
}

const TWO32 = 4294967296;

export class PageRequestInterface {
  /** PRI Enable (control). */
  enabled = true;
  /** RF status: a Response Failure arrived; no page requests until reset(). */
  responseFailure = false;
  /** UPRGI status: a response named a group with nothing outstanding. */
  unexpectedResponse = false;
  readonly capacity: number;
  readonly pasidRequired: boolean;
  /** Page requests sent whose group has not been answered. */
  outstanding = 0;
  readonly stats: PriStats = {
    pageRequests: 0, groups: 0, responses: 0, success: 0, invalidRequest: 0, responseFailure: 0, unexpectedResponses: 0,
    refusedByIommu: 0, droppedByIommu: 0,
  };
  private readonly state = new Uint8Array(PRG_INDEXES);
  private readonly count = new Uint16Array(PRG_INDEXES);
  private readonly code = new Uint8Array(PRG_INDEXES);
  private readonly pasidOf = new Int32Array(PRG_INDEXES);
  private next = 0;
  private readonly req: PageRequest = { deviceId: 0, address: 0, prgIndex: 0, last: false };

  constructor(private readonly upstream: UpstreamPort, readonly deviceId: number, o: PriOptions = {}) {
    const cap = o.outstanding ?? 32;
    if (!Number.isInteger(cap) || cap < 1) throw new RangeError(`pri.outstanding must be a positive integer, got ${String(cap)}`);
    this.capacity = cap;
    this.pasidRequired = o.prgResponsePasidRequired === true;
    this.req.deviceId = deviceId;
  }

  /** PRI may send page requests now (enabled, no Response Failure). */
  get usable(): boolean { return this.enabled && !this.responseFailure; }

  /** A free PRG index, or -1. */
  private freeIndex(): number {
    for (let i = 0; i < PRG_INDEXES; i++) {
      const k = (this.next + i) & (PRG_INDEXES - 1);
      if (this.state[k] === PRG_FREE) return k;
    }
    return -1;
  }

  /**
   * One page request as a group of one (L = 1). Returns the PRG index, or -1 when it cannot
   * be sent now (PRI not usable, no outstanding-request units, no free index).
   */
  request(pasid: number, aHi: number, aLo: number, read: boolean, write: boolean, execute: boolean, privileged: boolean): number {
    if (!this.usable || this.outstanding + 1 > this.capacity) return -1;
    const k = this.freeIndex();
    if (k < 0) return -1;
    this.open(k, pasid, 1);
    this.send(k, pasid, aHi < 0x200000 ? aHi * TWO32 + aLo : (BigInt(aHi) << 32n) | BigInt(aLo), true, read, write, execute, privileged);
    return k;
  }

  /** A group of page requests (L = 1 on the last). Returns the PRG index, or -1 as request(). pasid -1 = no PASID. */
  requestGroup(pasid: number, pages: readonly PageRequestPage[]): number {
    if (!Array.isArray(pages) || pages.length === 0) throw new RangeError("requestGroup: pages must be a non-empty array");
    if (!this.usable || this.outstanding + pages.length > this.capacity) return -1;
    const k = this.freeIndex();
    if (k < 0) return -1;
    this.open(k, pasid, pages.length);
    for (let i = 0; i < pages.length; i++) {
      const p = pages[i]!;
      this.send(k, pasid, p.address, i === pages.length - 1, p.read === true, p.write === true, p.execute === true, p.privileged === true);
      if (this.state[k] !== PRG_WAITING) break; // answered (dropped by the IOMMU) while sending
    }
    return k;
  }

  private open(k: number, pasid: number, n: number): void {
    this.state[k] = PRG_WAITING;
    this.count[k] = n;
    this.pasidOf[k] = pasid;
    this.outstanding += n;
    this.next = (k + 1) & (PRG_INDEXES - 1);
    this.stats.groups++;
  }

  private send(k: number, pasid: number, address: number | bigint, last: boolean, read: boolean, write: boolean, execute: boolean, privileged: boolean): void {
    const r = this.req;
    r.pasid = pasid < 0 ? undefined : pasid;
    r.address = address; r.prgIndex = k; r.last = last;
    r.read = read; r.write = write; r.execute = execute; r.privileged = privileged;
    this.stats.pageRequests++;
    const outcome = this.upstream.pageRequest(r);
    if (outcome === "invalid") this.stats.refusedByIommu++;
    else if (outcome === "dropped") this.stats.droppedByIommu++;
  }

  /** A PRG Response from the IOMMU (COMPLETE_PPR_REQUEST, or the IOMMU's own failure answer). */
  onResponse(resp: PrgResponse): void {
    const k = resp.prgIndex & (PRG_INDEXES - 1);
    this.stats.responses++;
    if (this.state[k] !== PRG_WAITING || (this.pasidRequired && this.pasidOf[k]! >= 0 && (!resp.gn || resp.pasid !== this.pasidOf[k]))) {
      this.stats.unexpectedResponses++;
      this.unexpectedResponse = true;
      return;
    }
    let code = resp.responseCode;
    if (code !== PPR_RESPONSE.Success && code !== PPR_RESPONSE.InvalidRequest) code = PPR_RESPONSE.ResponseFailure;
    if (code === PPR_RESPONSE.Success) this.stats.success++;
    else if (code === PPR_RESPONSE.InvalidRequest) this.stats.invalidRequest++;
    else { this.stats.responseFailure++; this.responseFailure = true; }
    this.state[k] = PRG_ANSWERED;
    this.code[k] = code;
    this.outstanding -= this.count[k]!;
  }

  groupState(k: number): number { return this.state[k]!; }
  /** Response code of an answered group. */
  responseCode(k: number): number { return this.code[k]!; }
  /** Free an answered group's index for reuse. */
  release(k: number): void { if (this.state[k] === PRG_ANSWERED) this.state[k] = PRG_FREE; }

  /** Software resets PRI (PCIe PRI Control "Reset"): clears RF and UPRGI, forgets every group. */
  reset(): void {
    this.state.fill(PRG_FREE);
    this.outstanding = 0;
    this.responseFailure = false;
    this.unexpectedResponse = false;
  }
}
