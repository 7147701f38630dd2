/**
 * The ATS variant of the race scenario's devices: the general PCIe endpoint model
 * (src/device: DMA engine, ATS device TLB, PRI) with a bus analyser on its upstream link.
 *
 * The analyser is an UpstreamPort between the endpoint and the IOMMU (the place a PCIe
 * switch or a protocol analyser sits). It forwards every ATS Translation Request, translated
 * request and Page Request unchanged, and shows each to the RaceChecker: an ATS completion
 * that grants access records the provenance of the translation (frame, owner, generation);
 * a translated request (AT = 10b, an ATC hit or the access right after a completion) is
 * judged before its memory access goes through the analyser's memory port, which performs
 * it unless the checker forbids it (a write into a page-table frame), notes written values
 * and compares reads of stale frames with the process's view.
 *
 * Stall cycles: the ATS round trip and the IOMMU's translation of every ATS request, and for
 * an access stalled on a page request, the host cycles until it completes.
 */
import type { Mm } from "../host/address-space.js";
import type { AmdIommu } from "../iommu/amd-iommu.js";
import type { EndpointPort } from "../iommu/endpoint-port.js";
import type { PageRequest, PageRequestOutcome } from "../iommu/ppr-log.js";
import type { TranslationRequest, TranslationResult } from "../iommu/translation/request.js";
import type { MemoryPort } from "../memory/memory-port.js";
import { DmaResult } from "../device/dma-engine.js";
import { PcieEndpoint } from "../device/pcie-endpoint.js";
import { PRG_ANSWERED } from "../device/page-request-interface.js";
import { PPR_RESPONSE } from "../spec/commands.js";
import type { UpstreamPort } from "../device/upstream-port.js";
import type { DmaVerdict, Provenance, RaceChecker } from "./race-checker.js";
import type { RaceDeviceStats } from "./race-device.js";

const PAGE = 4096;

export class RaceEndpoint implements UpstreamPort, MemoryPort {
  readonly deviceId: number;
  readonly ats = true;
  readonly endpoint: PcieEndpoint;
  readonly stats: RaceDeviceStats = {
    dma: 0, completed: 0, faults: 0, pageRequests: 0, pageRequestsRejected: 0, prgResponses: { success: 0, invalid: 0, failure: 0 },
    stallCycles: 0, atcHits: 0, atsInvalidations: 0,
  };
  target: { mm: Mm; pasid: number } | null = null;
  /** Provenance of the ATS completions that filled the ATC, by virtual page. */
  private readonly prov = new Map<number, Provenance>();
  private readonly stalledSince = new Map<number, number>();
  private readonly result = new DmaResult();
  /** The access being served: its virtual address, and the verdict on it once judged. */
  private va = 0;
  private verdict: DmaVerdict | null = null;
  /** The last upstream message was an ATS Translation Request for this.va, granting atsFrame. */
  private atsJustDone = false;
  private atsFrame = -1;
  /** During run(): the stalled accesses being retried, in order (their addresses), not yet seen. */
  private retrying: number[] = [];
  private perform = true;
  private token = 0;

  constructor(private readonly iommu: AmdIommu, private readonly checker: RaceChecker, private readonly now: () => number, deviceId: number) {
    this.deviceId = deviceId;
    this.endpoint = new PcieEndpoint(this, { deviceId, ats: { entries: 32 }, pri: { outstanding: 32 } });
    this.endpoint.dma.onComplete = (ticket, r) => this.completed(ticket, r);
  }

  /** Pages with a page request outstanding. */
  get outstanding(): number { return this.endpoint.dma.stalled.length; }

  /** One 4-byte access at `va` (write stores a fresh token). */
  access(va: number, write: boolean): void {
    const t = this.target;
    if (t === null) return;
    this.stats.dma++;
    const req = { address: va - (va % 4), pasid: t.pasid };
    this.va = va;
    this.verdict = null;
    this.atsJustDone = false;
    const r = write
      ? this.endpoint.write32(req, ((this.deviceId << 16) | ((++this.token & 0x7fff) << 1)) >>> 0, this.result)
      : this.endpoint.read32(req, this.result);
    if (r.atcHit) this.stats.atcHits++;
    this.outcome(r);
    if (r.status === "stalled") this.stalledSince.set(r.ticket, this.now());
  }

  /** Let stalled accesses continue after PRG Responses. */
  run(): void {
    if (this.target === null) return;
    const pri = this.endpoint.pri!;
    // the accesses run() will retry: answered with Success, or waiting for a free request unit
    this.retrying = this.endpoint.dma.stalled
      .filter((op) => (op.prg < 0 ? pri.usable : pri.groupState(op.prg) === PRG_ANSWERED && pri.responseCode(op.prg) === PPR_RESPONSE.Success))
      .map((op) => op.aHi * 4294967296 + op.aLo);
    this.atsJustDone = false;
    this.endpoint.run();
    this.retrying = [];
  }

  /**
   * The virtual address of a translated request. After an ATS completion it is that
   * request's; inside run() an ATC hit belongs to the first retried access whose page the
   * ATC maps to this frame (the engine retries in order); otherwise it is the access issued.
   */
  private addressOf(frame: number): number {
    if (this.atsJustDone && frame === this.atsFrame) return this.va;
    for (let i = 0; i < this.retrying.length; i++) {
      const va = this.retrying[i]!;
      if (this.prov.get(Math.floor(va / PAGE))?.frame === frame) { this.retrying.splice(0, i + 1); return va; }
    }
    return this.va;
  }

  stop(): void {
    this.target = null;
    this.prov.clear();
    this.endpoint.atc?.invalidateAll();
  }

  private outcome(r: DmaResult): void {
    if (r.status === "done") this.stats.completed++;
    else this.stats.faults++; // stalled (a page request), refused, or failed
  }

  private completed(ticket: number, r: DmaResult): void {
    const since = this.stalledSince.get(ticket);
    if (since !== undefined) { this.stats.stallCycles += this.now() - since; this.stalledSince.delete(ticket); }
    const p = this.stats.prgResponses;
    if (r.status === "done") { p.success++; this.stats.completed++; } else if (r.status === "invalid-request") p.invalid++; else p.failure++;
  }

  // ---- UpstreamPort: the link to the IOMMU, watched --------------------------------------------

  get memory(): MemoryPort { return this; }
  get timing() { return this.iommu.timing; }

  translateInto(request: TranslationRequest, out: TranslationResult): TranslationResult {
    return this.iommu.translateInto(request, out);
  }

  translateAts(request: TranslationRequest, out: TranslationResult): TranslationResult {
    const r = this.iommu.translateAts(request, out);
    this.va = Number(request.address);
    this.atsJustDone = true;
    this.atsFrame = r.spa - (r.spa % PAGE);
    const i = this.retrying.indexOf(this.va);
    if (i >= 0) this.retrying.splice(0, i + 1);
    this.stats.stallCycles += this.iommu.timing.atsRoundTrip + r.cycles;
    const t = this.target;
    if (t !== null && (r.readable || r.writable)) this.prov.set(Math.floor(this.va / PAGE), this.checker.translated(t.mm, this.deviceId, t.pasid, this.va, r.spa, r.iotlbHit));
    else this.checker.failed();
    return r;
  }

  translatedRequest(request: TranslationRequest, out: TranslationResult): TranslationResult {
    const r = this.iommu.translatedRequest(request, out);
    const t = this.target;
    if (!r.ok || t === null) return r;
    const spa = Number(request.address);
    const frame = spa - (spa % PAGE);
    this.va = this.addressOf(frame);
    this.atsJustDone = false;
    let p = this.prov.get(Math.floor(this.va / PAGE));
    if (p === undefined || p.frame !== frame) p = this.checker.translated(t.mm, this.deviceId, t.pasid, this.va, spa, false);
    const j = this.checker.judge(t.mm, this.va, p, request.write === true);
    this.verdict = j.verdict;
    this.perform = j.perform;
    return r;
  }

  pageRequest(request: PageRequest): PageRequestOutcome {
    this.atsJustDone = false;
    const o = this.iommu.pageRequest(request);
    this.stats.pageRequests++;
    if (o !== "logged") this.stats.pageRequestsRejected++;
    return o;
  }

  attachEndpoint(deviceId: number, port: EndpointPort): void {
    this.iommu.attachEndpoint(deviceId, {
      atsInvalidate: (req) => {
        this.stats.atsInvalidations++;
        // the analyser's view of the ATC follows the invalidation
        const first = Number(req.start / BigInt(PAGE));
        for (const page of [...this.prov.keys()]) if (req.all || (page >= first && page < first + Number(req.size / BigInt(PAGE)))) this.prov.delete(page);
        return port.atsInvalidate(req);
      },
      prgResponse: (resp) => port.prgResponse(resp),
    });
  }

  // ---- MemoryPort: where translated requests land -----------------------------------------------

  get bytes(): number { return this.iommu.memory.bytes; }
  contains(pa: number, length: number): boolean { return this.iommu.memory.contains(pa, length); }
  load32(pa: number): number {
    const v = this.iommu.memory.load32(pa);
    if (this.verdict !== null && this.verdict !== "ok" && this.perform && this.target !== null) this.checker.compareRead(this.target.mm, this.va, v);
    this.verdict = null;
    return v;
  }
  store32(pa: number, value: number): void {
    if (this.verdict === null || this.perform) this.iommu.memory.store32(pa, value);
    if (this.verdict !== null) this.checker.noteWrite(this.va, value);
    this.verdict = null;
  }
  cas32(pa: number, expected: number, replacement: number): number { return this.iommu.memory.cas32(pa, expected, replacement); }
  storeNotify32(pa: number, value: number): void { this.iommu.memory.storeNotify32(pa, value); }
}
