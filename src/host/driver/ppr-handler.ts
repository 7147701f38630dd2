/**
 * PPR fault service of the old iommu_v2 driver (spec: "Peripheral Page Request Log";
 * docs/spec-readings.md cmd 3.1, 3.4 and 5.e; Linux iommu.c iommu_poll_ppr_log and
 * iommu_v2.c ppr_notifier, do_fault, finish_pri_tag).
 *
 *   drain()        the IRQ thread: for each entry from Head to Tail copy it, zero it, advance
 *                  Head and write it at once, then hand the copy to ppr_notifier
 *   ppr_notifier   unknown PPR code: ignored. No binding for (DeviceID, PASID), or a binding
 *                  being torn down: COMPLETE_PPR_REQUEST(Invalid) at once. Otherwise count the
 *                  request in inflight[tag], note the group's last request, queue a work item
 *   runWorkQueue() do_fault (v4.x+): no VMA, or a requested right missing from the VMA, is an
 *                  error; otherwise handle_mm_fault; an error gives Invalid. finish_pri_tag:
 *                  when a tag's inflight count reaches 0 and its last request was seen,
 *                  queue COMPLETE_PPR_REQUEST(DeviceID, PASID, GN = priTlp, tag, status)
 *                  (no COMPLETION_WAIT of its own), then reset the tag
 *
 * Cost: each work item charges the profile's hostPprDispatch (docs/calibration.md A2/A9) on the host
 * clock; handle_mm_fault charges its own faultService through the mm.
 */
import { buildCompletePprRequest, PPR_RESPONSE } from "../../spec/commands.js";
import { decodePprEntry, PPR_CODE_PAGE_SERVICE_REQUEST, type DecodedPprEntry } from "../../spec/ppr.js";
import type { IommuDriver, PasidBinding } from "./iommu-driver.js";

export const PPR_SUCCESS = PPR_RESPONSE.Success as number;
export const PPR_INVALID = PPR_RESPONSE.InvalidRequest as number;
export const PPR_FAILURE = PPR_RESPONSE.ResponseFailure as number;

interface TagState { inflight: number; finish: boolean; status: number }
interface WorkItem { binding: PasidBinding; entry: DecodedPprEntry }

export interface PprHandlerStats {
  /** PPR log entries drained. */
  entries: number;
  /** Entries with a code other than PAGE_SERVICE_REQUEST (ignored). */
  unknown: number;
  /** Work items run (do_fault). */
  faultsHandled: number;
  /** do_fault outcomes that made the group fail. */
  faultErrors: number;
  /** COMPLETE_PPR_REQUEST commands queued, by response code. */
  responses: { success: number; invalid: number; failure: number };
}

export class PprFaultHandler {
  readonly stats: PprHandlerStats = { entries: 0, unknown: 0, faultsHandled: 0, faultErrors: 0, responses: { success: 0, invalid: 0, failure: 0 } };
  private readonly work: WorkItem[] = [];
  /** Per (DeviceID, PASID): 512 tag slots, as iommu_v2's pasid_state.pri[]. */
  private readonly tags = new Map<string, TagState[]>();
  private readonly dispatchCost: number;

  constructor(private readonly driver: IommuDriver) {
    this.dispatchCost = driver.iommu.timing.hostPprDispatch;
  }

  /** Work items waiting for the worker. */
  get pending(): number { return this.work.length; }

  /** The IRQ thread's PPR half: consume the log; returns the number of entries read. */
  drain(): number {
    const d = this.driver;
    const io = d.iommu;
    const mem = d.memory;
    const { base, bytes, headReg, tailReg } = d.pprRing();
    let head = Number(io.mmioRead64(headReg) & 0x7fff0n) % bytes;
    const tail = Number(io.mmioRead64(tailReg) & 0x7fff0n) % bytes;
    const dw = new Uint32Array(4);
    let n = 0;
    while (head !== tail) {
      for (let i = 0; i < 4; i++) { dw[i] = mem.read32(base + head + 4 * i); mem.write32(base + head + 4 * i, 0); }
      head = (head + 16) % bytes;
      io.mmioWrite64(headReg, BigInt(head));
      d.clock.advance(d.cost.mmioRead);
      this.stats.entries++;
      n++;
      this.notify(decodePprEntry(dw));
    }
    return n;
  }

  private tagsOf(b: PasidBinding): TagState[] {
    const k = `${b.device.deviceId}:${b.pasid}`;
    let t = this.tags.get(k);
    if (!t) {
      t = Array.from({ length: 512 }, () => ({ inflight: 0, finish: false, status: PPR_SUCCESS }));
      this.tags.set(k, t);
    }
    return t;
  }

  /** ppr_notifier for one entry. */
  private notify(e: DecodedPprEntry): void {
    if (e.code !== PPR_CODE_PAGE_SERVICE_REQUEST) { this.stats.unknown++; return; }
    const b = this.driver.findBinding(e.deviceId, e.pasid);
    if (!b || !b.valid) {
      const dev = this.driver.devices.get(e.deviceId);
      if (!dev) return; // not managed by iommu_v2: no response is sent
      this.respond(e.deviceId, e.pasid, dev.priTlp, e.prgIndex, PPR_INVALID);
      return;
    }
    const t = this.tagsOf(b)[e.prgIndex]!;
    t.inflight++;
    if (e.last) t.finish = true;
    this.work.push({ binding: b, entry: e });
  }

  /** Run every queued work item (the dedicated workqueue); returns how many ran. */
  runWorkQueue(): number {
    let n = 0;
    while (this.work.length > 0) {
      const w = this.work.shift()!;
      n++;
      this.driver.clock.advance(this.dispatchCost);
      const status = this.doFault(w);
      this.finishTag(w, status);
    }
    if (n > 0) this.driver.kick();
    return n;
  }

  private doFault(w: WorkItem): number {
    this.stats.faultsHandled++;
    const { mm } = w.binding;
    const e = w.entry;
    const va = Number(e.address & ~0xfffn);
    let ok = !mm.exited && Number.isSafeInteger(va) && va < mm.pageTable.vaLimit;
    if (ok) {
      const vma = mm.findVma(va);
      ok = vma !== undefined && (!e.exec || vma.prot.exec) && (!e.read || vma.prot.read) && (!e.write || vma.prot.write);
      if (ok) ok = mm.handleFault(va, e.write, e.exec) === "ok";
    }
    if (!ok) this.stats.faultErrors++;
    return ok ? PPR_SUCCESS : PPR_INVALID;
  }

  private finishTag(w: WorkItem, status: number): void {
    const b = w.binding;
    const t = this.tagsOf(b)[w.entry.prgIndex]!;
    if (status !== PPR_SUCCESS) t.status = status;
    t.inflight--;
    if (t.inflight <= 0 && t.finish) {
      this.respond(b.device.deviceId, b.pasid, b.device.priTlp, w.entry.prgIndex, t.status);
      t.inflight = 0; t.finish = false; t.status = PPR_SUCCESS;
    }
  }

  private respond(deviceId: number, pasid: number, gn: boolean, prgIndex: number, code: number): void {
    const r = this.stats.responses;
    if (code === PPR_SUCCESS) r.success++; else if (code === PPR_INVALID) r.invalid++; else r.failure++;
    this.driver.queue.queue(buildCompletePprRequest({ deviceId, pasid, gn, prgIndex, responseCode: code }));
  }
}
