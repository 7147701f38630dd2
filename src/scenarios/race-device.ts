/**
 * A DMA-capable PCIe function for the race scenario: it reads and writes a process's memory
 * by virtual address with a PASID, either with untranslated requests (every access goes
 * through iommu.translate) or with ATS (a small device TLB, ATC, filled by ATS Translation
 * Requests, answering INVALIDATE_IOTLB_PAGES) and PRI (a page request when a translation
 * grants too little; the access is retried after the PRG Response).
 *
 * Every completed access is judged by the RaceChecker before it touches memory. The scenario
 * uses it for its untranslated devices; its ATS devices are the src/device endpoint behind a
 * bus analyser (race-endpoint.ts), and this device's small ATC remains as an option
 * (WorldOptions.atsModel "race-device") for comparison.
 *
 * Stall cycles: what a DMA waits for beyond a TLB hit: the walk of an IOTLB miss, the ATS
 * round trip of an ATC miss, and a page request until its PRG Response arrives.
 */
import type { Mm } from "../host/address-space.js";
import type { AmdIommu } from "../iommu/amd-iommu.js";
import type { AtsInvalidation, EndpointPort, PrgResponse } from "../iommu/endpoint-port.js";
import { TranslationResult } from "../iommu/translation/request.js";
import type { PhysicalMemory } from "../memory/physical-memory.js";
import type { Provenance, RaceChecker } from "./race-checker.js";

const PAGE = 4096;

interface AtcEntry { page: number; spa: number; writable: boolean; prov: Provenance }

export interface RaceDeviceStats {
  /** Accesses attempted. */
  dma: number;
  /** Accesses that reached memory (or were judged and suppressed). */
  completed: number;
  /** Accesses refused by a translation (IO page fault, or an ATS answer without the right). */
  faults: number;
  /** PRI page requests sent. */
  pageRequests: number;
  /** Page requests the IOMMU did not log (INVALID_PPR_REQUEST or a full log). */
  pageRequestsRejected: number;
  prgResponses: { success: number; invalid: number; failure: number };
  stallCycles: number;
  atcHits: number;
  atsInvalidations: number;
}

export interface RaceDeviceOptions {
  deviceId: number;
  ats: boolean;
  /** ATC entries (FIFO replacement). Default 32. */
  atcEntries?: number;
  /** Outstanding page requests allowed (Linux enables PRI with 32). */
  priBudget?: number;
}

export class RaceDevice implements EndpointPort {
  readonly deviceId: number;
  readonly ats: boolean;
  readonly stats: RaceDeviceStats = {
    dma: 0, completed: 0, faults: 0, pageRequests: 0, pageRequestsRejected: 0, prgResponses: { success: 0, invalid: 0, failure: 0 },
    stallCycles: 0, atcHits: 0, atsInvalidations: 0,
  };
  /** The process and PASID this function works for; null = stopped. */
  target: { mm: Mm; pasid: number } | null = null;
  private readonly atc = new Map<number, AtcEntry>();
  private readonly atcEntries: number;
  private readonly priBudget: number;
  /** Outstanding page requests: PRG index -> page and send cycle. */
  private readonly pending = new Map<number, { page: number; sent: number }>();
  private nextPrg = 0;
  private readonly result = new TranslationResult();
  private token = 0;

  constructor(private readonly iommu: AmdIommu, private readonly memory: PhysicalMemory, private readonly checker: RaceChecker,
    private readonly now: () => number, o: RaceDeviceOptions) {
    this.deviceId = o.deviceId;
    this.ats = o.ats;
    this.atcEntries = o.atcEntries ?? 32;
    this.priBudget = o.priBudget ?? 32;
  }

  /** Pages with a page request outstanding. */
  get outstanding(): number { return this.pending.size; }

  /** One 4-byte access at `va` (write stores a fresh token). */
  access(va: number, write: boolean): void {
    const t = this.target;
    if (t === null) return;
    this.stats.dma++;
    const page = Math.floor(va / PAGE);
    let prov: Provenance | null = null;
    let spa = 0;
    if (this.ats) {
      const e = this.atc.get(page);
      if (e && (!write || e.writable)) {
        this.stats.atcHits++;
        // a translated request (AT = 10b): the IOMMU only checks that the DTE allows ATS
        const tr = this.iommu.translatedRequest({ deviceId: this.deviceId, address: e.spa + (va % PAGE), write }, this.result);
        if (!tr.ok) { this.stats.faults++; return; }
        prov = e.prov;
        spa = e.spa + (va % PAGE);
      } else {
        for (const p of this.pending.values()) if (p.page === page) return; // waits for its PRG Response
        const r = this.iommu.translateAts({ deviceId: this.deviceId, address: va, pasid: t.pasid, write }, this.result);
        this.stats.stallCycles += this.iommu.timing.atsRoundTrip + r.cycles;
        if (!(write ? r.writable : r.readable)) {
          // a read-only answer to a write still filled the IOTLB: note where it points
          if (r.readable) this.checker.translated(t.mm, this.deviceId, t.pasid, va, r.spa, r.iotlbHit);
          else this.checker.failed();
          this.stats.faults++;
          this.pageRequest(t.pasid, page, write);
          return;
        }
        prov = this.checker.translated(t.mm, this.deviceId, t.pasid, va, r.spa, r.iotlbHit);
        spa = r.spa;
        if (this.atc.size >= this.atcEntries) this.atc.delete(this.atc.keys().next().value!);
        this.atc.set(page, { page, spa: r.spa - (r.spa % PAGE), writable: r.writable, prov });
      }
    } else {
      const r = this.iommu.translateInto({ deviceId: this.deviceId, address: va, pasid: t.pasid, write }, this.result);
      if (!r.iotlbHit) this.stats.stallCycles += r.cycles;
      if (!r.ok) { this.checker.failed(); this.stats.faults++; return; }
      prov = this.checker.translated(t.mm, this.deviceId, t.pasid, va, r.spa, r.iotlbHit);
      spa = r.spa;
    }
    this.stats.completed++;
    const { verdict, perform } = this.checker.judge(t.mm, va, prov, write);
    const addr = spa - (spa % 4);
    if (write) {
      // tokens keep bit 0 clear: read as a page-table entry they are not present
      const v = ((this.deviceId << 16) | ((++this.token & 0x7fff) << 1)) >>> 0;
      if (perform) this.memory.write32(addr, v);
      this.checker.noteWrite(va, v);
    } else if (perform && verdict !== "ok") {
      this.checker.compareRead(t.mm, va, this.memory.read32(addr));
    }
  }

  private pageRequest(pasid: number, page: number, write: boolean): void {
    if (this.pending.size >= this.priBudget) return;
    const prgIndex = this.nextPrg;
    this.nextPrg = (this.nextPrg + 1) % 512;
    const outcome = this.iommu.pageRequest({ deviceId: this.deviceId, pasid, address: page * PAGE, prgIndex, last: true, read: !write, write });
    const logged = outcome === "logged";
    this.stats.pageRequests++;
    if (logged) this.pending.set(prgIndex, { page, sent: this.now() });
    else this.stats.pageRequestsRejected++;
  }

  // ---- EndpointPort ------------------------------------------------------------------------------

  atsInvalidate(req: AtsInvalidation): number | null {
    this.stats.atsInvalidations++;
    const first = Number(req.start / BigInt(PAGE));
    const last = req.all ? Infinity : first + Number(req.size / BigInt(PAGE));
    for (const e of [...this.atc.values()]) if (e.page >= first && e.page < last) this.atc.delete(e.page);
    return this.iommu.timing.atsInvalidationDevice;
  }

  prgResponse(resp: PrgResponse): void {
    const p = this.pending.get(resp.prgIndex);
    if (!p) return;
    this.pending.delete(resp.prgIndex);
    this.stats.stallCycles += Math.max(0, resp.cycle - p.sent);
    const r = this.stats.prgResponses;
    if (resp.responseCode === 0) r.success++; else if (resp.responseCode === 1) r.invalid++; else r.failure++;
  }

  /** Stop DMA for the process (the device driver's invalidate-context callback). */
  stop(): void { this.target = null; this.atc.clear(); }
}
