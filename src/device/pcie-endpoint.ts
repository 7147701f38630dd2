/**
 * A PCIe function attached below the IOMMU at a DeviceID (bus << 8 | dev << 3 | fn): its
 * DMA engine, its ATS device TLB (ATC) and its Page Request Interface, and the downstream
 * port (EndpointPort) through which the IOMMU reaches it with ATS Invalidate Requests
 * (INVALIDATE_IOTLB_PAGES) and PRG Responses (COMPLETE_PPR_REQUEST).
 *
 * An ATS Invalidate Request drops the matching ATC entries at once and is answered with an
 * Invalidate Completion after `invalidationLatency` cycles, or never (null: the IOMMU's
 * InvTimeOut then expires with IOTLB_INV_TIMEOUT). A PRG Response goes to the PRI unit;
 * accesses waiting for it continue at run().
 *
 *   const ep = new PcieEndpoint(iommu, { deviceId: 0x0100, ats: { entries: 32 }, pri: { outstanding: 32 } });
 *   const r = ep.write32({ address: va, pasid: 1 }, 0x1234);   // "done", or "stalled" on a page request
 *   ...software answers the PPR entry with COMPLETE_PPR_REQUEST, iommu.runUntilIdle()...
 *   ep.run();                                                 // retries; ep.dma.completions.get(r.ticket)
 */
import type { AtsInvalidation, EndpointPort, PrgResponse } from "../iommu/endpoint-port.js";
import { AtsDeviceTlb, type AtcGeometry } from "./ats-device-tlb.js";
import { DmaEngine, DmaResult, type DmaRequest } from "./dma-engine.js";
import { PageRequestInterface, type PageRequestPage, type PriOptions } from "./page-request-interface.js";
import type { UpstreamPort } from "./upstream-port.js";

export interface PcieEndpointOptions {
  /** Requester ID, 0..65535. */
  deviceId: number;
  /** ATS and its device TLB; false = no ATS (untranslated requests only). Default { entries: 32 }. */
  ats?: AtcGeometry | false;
  /** PRI (needs ATS); false = none. Default { outstanding: 32 } when ATS is on. */
  pri?: PriOptions | false;
  /** Cycles from an ATS Invalidate Request to its Completion; null = never answers. Default timing.atsInvalidationDevice. */
  invalidationLatency?: number | null;
  /** Scope of an ATS invalidation without PASID (default "every-pasid"). */
  untaggedInvalidationScope?: "every-pasid" | "untagged-only";
}

export interface EndpointStats { atsInvalidations: number; atsInvalidationsUnanswered: number; atcEntriesInvalidated: number; prgResponses: number }

function checkLatency(v: unknown): number | null {
  if (v === null) return null;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new RangeError(`invalidationLatency must be a non-negative number of cycles or null, got ${String(v)}`);
  return v;
}

export class PcieEndpoint implements EndpointPort {
  readonly deviceId: number;
  readonly atc: AtsDeviceTlb | null;
  readonly pri: PageRequestInterface | null;
  readonly dma: DmaEngine;
  readonly stats: EndpointStats = { atsInvalidations: 0, atsInvalidationsUnanswered: 0, atcEntriesInvalidated: 0, prgResponses: 0 };
  /** The last ATS Invalidate Request received (a copy), for tests and traces. */
  lastInvalidation: AtsInvalidation | null = null;
  private latency: number | null;

  constructor(readonly upstream: UpstreamPort, options: PcieEndpointOptions) {
    if (upstream === null || typeof upstream !== "object" || typeof upstream.translateAts !== "function" || typeof upstream.pageRequest !== "function") {
      throw new TypeError("PcieEndpoint: upstream must be an AmdIommu (or an UpstreamPort)");
    }
    if (options === null || typeof options !== "object") throw new TypeError("PcieEndpoint: options must be an object { deviceId, ... }");
    const id = options.deviceId;
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id > 0xffff) throw new RangeError(`PcieEndpoint: options.deviceId must be an integer 0..65535, got ${String(id)}`);
    this.deviceId = id;
    const ats = options.ats === undefined ? { entries: 32 } : options.ats;
    if (ats !== false && (ats === null || typeof ats !== "object")) throw new TypeError("PcieEndpoint: options.ats must be false or { entries, ways?, replacement?, seed? }");
    this.atc = ats === false ? null : new AtsDeviceTlb(ats);
    const scope = options.untaggedInvalidationScope ?? "every-pasid";
    if (scope !== "every-pasid" && scope !== "untagged-only") throw new RangeError(`PcieEndpoint: options.untaggedInvalidationScope must be "every-pasid" or "untagged-only", got ${String(scope)}`);
    if (this.atc) this.atc.untaggedScope = scope;
    const pri = options.pri === undefined ? (ats === false ? false : {}) : options.pri;
    if (pri !== false && (pri === null || typeof pri !== "object")) throw new TypeError("PcieEndpoint: options.pri must be false or { outstanding?, prgResponsePasidRequired? }");
    if (pri !== false && ats === false) throw new RangeError("PcieEndpoint: options.pri needs options.ats (PRI answers come back as ATS translations)");
    this.pri = pri === false ? null : new PageRequestInterface(upstream, id, pri);
    this.latency = checkLatency(options.invalidationLatency === undefined ? upstream.timing.atsInvalidationDevice : options.invalidationLatency);
    this.dma = new DmaEngine(upstream, id, this.atc, this.pri);
    upstream.attachEndpoint(id, this);
  }

  /** Cycles to answer an ATS invalidation; null = never answer. */
  get invalidationLatency(): number | null { return this.latency; }
  set invalidationLatency(v: number | null) { this.latency = checkLatency(v); }

  // ---- DMA ------------------------------------------------------------------------------

  read32(request: DmaRequest, out?: DmaResult): DmaResult { return this.dma.read32(request, out); }
  write32(request: DmaRequest, value: number, out?: DmaResult): DmaResult { return this.dma.write32(request, value, out); }
  /** Let stalled accesses continue (after PRG Responses); returns how many finished. */
  run(): number { return this.dma.run(); }

  /**
   * Send a page request group directly (PRG index chosen by the function): returns the PRG
   * index, or -1 when PRI cannot send it now. pasid undefined = no PASID prefix.
   */
  pageRequestGroup(pasid: number | undefined, pages: readonly PageRequestPage[]): number {
    if (this.pri === null) throw new Error("pageRequestGroup: this endpoint has no PRI (options.pri)");
    if (pasid !== undefined && (!Number.isInteger(pasid) || pasid < 0 || pasid > 0xfffff)) throw new RangeError(`pageRequestGroup: pasid must be an integer 0..1048575, got ${String(pasid)}`);
    return this.pri.requestGroup(pasid ?? -1, pages);
  }

  // ---- EndpointPort (from the IOMMU) -----------------------------------------------------

  /**
   * Invalidate the ATC's entries in the request's range and answer after invalidationLatency
   * cycles, plus, for a range or all pages, the walk of the ATC's other sets (timing
   * invalidationPerSet each): one page is looked up in its set, a range cannot be.
   */
  atsInvalidate(req: AtsInvalidation): number | null {
    this.stats.atsInvalidations++;
    this.lastInvalidation = { ...req };
    let walk = 0;
    if (this.atc !== null) {
      const first = req.all ? 0 : Number(req.start >> 12n);
      const pages = req.all ? Infinity : Number(req.size >> 12n);
      this.stats.atcEntriesInvalidated += this.atc.invalidate(req.gn, req.pasid, first, pages);
      if (pages !== 1) walk = (this.atc.sets - 1) * this.upstream.timing.invalidationPerSet;
    }
    if (this.latency === null) { this.stats.atsInvalidationsUnanswered++; return null; }
    return this.latency + walk;
  }

  prgResponse(resp: PrgResponse): void {
    this.stats.prgResponses++;
    if (this.pri !== null) this.pri.onResponse(resp);
  }
}
