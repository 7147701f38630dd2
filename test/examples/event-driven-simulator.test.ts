/**
 * Example: a small event-driven system simulator with two DMA devices behind the IOMMU.
 *
 * The simulator owns time and memory latency. Each device keeps its own translation cache,
 * filled from the IOMMU's MAP notifications and pruned by its UNMAP notifications (the way
 * an embedder keeps a device model's TLB coherent). A miss is a stepped translation: every
 * memory request the IOMMU makes (DTE, table reads, A/D compare-exchange, event-log writes)
 * is answered by the simulator's memory MEM_LATENCY cycles later. Half-way, the host unmaps
 * a page of device A and flushes it with INVALIDATE_IOMMU_PAGES + COMPLETION_WAIT; the
 * command processor runs as the simulator advances the IOMMU's clock.
 *
 * (In a project that installed the package, import from "amd-iommu-v2-model" instead.)
 */
import { expect, it } from "vitest";
import { builders, spec, unmapCovers, type Mapping, type MemoryRequest, type SteppedTranslation, type TranslationRequest } from "../../src/index.js";

const MEM_LATENCY = 80;     // cycles per memory request in this system
const TLB_HIT = 1;          // a device's own TLB
const A = 0x0100, B = 0x0200, PASID = 1;

/** A discrete-event queue: actions ordered by time (ties in insertion order). */
class EventQueue {
  private q: { t: number; n: number; fn: (t: number) => void }[] = [];
  private n = 0;
  now = 0;
  at(t: number, fn: (t: number) => void): void {
    this.q.push({ t, n: this.n++, fn });
    this.q.sort((x, y) => x.t - y.t || x.n - y.n);
  }
  run(each: (t: number) => void): void {
    for (let e = this.q.shift(); e !== undefined; e = this.q.shift()) { this.now = e.t; each(e.t); e.fn(e.t); }
  }
}

interface Dma { device: number; address: bigint; issued: number; done: number; ok: boolean; spa: number; walked: boolean }

it("two DMA devices, a device TLB kept by notifiers, stepped translations against a slow memory, and an unmap in the middle", () => {
  // ---- the system: memory, IOMMU, tables (a host v1 domain for A, a PASID for B) ----
  const tb = new builders.IommuTestbench({ bytes: 16 * 1024 * 1024, deviceTableEntries: 1024 });
  const io = tb.iommu, mem = tb.memory;
  const v1 = new builders.V1PageTable(mem, tb.pages, 4);
  const guest = new builders.LongModeTable(mem, tb.pages, 4);
  const gcr3 = new builders.Gcr3Table(mem, tb.pages);
  gcr3.set(PASID, guest.root);
  const frames = Array.from({ length: 8 }, () => tb.pages.alloc());
  for (let i = 0; i < 4; i++) v1.map(0x1000_0000 + i * 4096, frames[i]!);
  for (let i = 0; i < 4; i++) guest.map(0x7000_0000_0000n + BigInt(i) * 4096n, frames[4 + i]!);
  tb.deviceTable.set(A, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: v1.root, IR: true, IW: true, DomainID: 1, HAD: 3 });
  tb.deviceTable.set(B, { V: true, TV: true, GV: true, GLX: 0, GCR3TableRootPtr: gcr3.root, IR: true, IW: true, DomainID: 2 });
  tb.sync();

  // ---- device TLBs kept coherent by the IOMMU's notifiers ----
  const tlb = new Map<number, Mapping[]>([[A, []], [B, []]]);
  io.notifiers.on("map", (m) => tlb.get(m.deviceId)?.push(m));
  io.notifiers.on("unmap", (e) => { for (const [d, list] of tlb) tlb.set(d, list.filter((m) => !unmapCovers(e, m))); });
  const lookup = (d: number, a: bigint) => tlb.get(d)!.find((m) => a >= m.address && a < m.address + BigInt(m.pageSize));

  // ---- the simulator ----
  const sim = new EventQueue();
  const dmas: Dma[] = [];
  const answer = (st: SteppedTranslation, r: MemoryRequest) => {
    if (r.kind === "read") st.complete(Array.from({ length: r.bytes / 4 }, (_, i) => mem.read32(r.pa + 4 * i)));
    else if (r.kind === "cas") st.complete(mem.cas32(r.pa, r.expected, r.value));
    else { mem.write32(r.pa, r.value); st.complete(); }
  };
  const issue = (device: number, address: bigint, t: number) => {
    const dma: Dma = { device, address, issued: t, done: -1, ok: false, spa: 0, walked: false };
    dmas.push(dma);
    const hit = lookup(device, address);
    if (hit) { sim.at(t + TLB_HIT, (now) => Object.assign(dma, { done: now, ok: true, spa: hit.spa + Number(address - hit.address) })); return; }
    const req: TranslationRequest = device === B ? { deviceId: B, address, pasid: PASID, write: true } : { deviceId: A, address, write: true };
    const st = io.translateStepped(req);
    dma.walked = true;
    const step = (now: number) => {
      const r = st.next();
      if (r === null) { Object.assign(dma, { done: now + st.result.cycles, ok: st.result.ok, spa: st.result.spa }); return; }
      sim.at(now + MEM_LATENCY, (later) => { answer(st, r); step(later); });
    };
    step(t);
  };
  for (let k = 0; k < 24; k++) {
    sim.at(k * 100, (t) => issue(A, BigInt(0x1000_0000 + (k % 4) * 4096 + 8 * k), t));
    sim.at(k * 100 + 50, (t) => issue(B, 0x7000_0000_0000n + BigInt((k % 4) * 4096 + 8 * k), t));
  }
  // the host unmaps A's page 2 at cycle 1200 and flushes it; software waits on the completion-wait store
  let flushedAt = Infinity;
  sim.at(1200, () => {
    mem.write64(v1.entryAddress(0x1000_2000, 1), 0n);
    tb.submit(spec.buildInvalidateIommuPages({ domainId: 1, address: 0x1000_2000 }), spec.buildCompletionWait({ store: true, address: tb.semaphore, data: 99n }));
  });
  sim.run((t) => {
    io.advanceTo(t); // the command processor runs as time passes
    if (flushedAt === Infinity && mem.read64(tb.semaphore) === 99n) flushedAt = t;
  });

  // ---- what the system saw ----
  expect(dmas).toHaveLength(48);
  expect(dmas.every((d) => d.done >= d.issued)).toBe(true);
  const aPage2 = dmas.filter((d) => d.device === A && (d.address >> 12n) === 0x1000_2n);
  expect(aPage2.filter((d) => d.issued < 1200).every((d) => d.ok)).toBe(true);
  expect(aPage2.filter((d) => d.issued > flushedAt).every((d) => !d.ok)).toBe(true);
  expect(aPage2.some((d) => d.issued > flushedAt)).toBe(true);
  expect(tb.events().filter((e) => e.name === "IO_PAGE_FAULT").every((e) => e.deviceId === A && e.address >> 12n === 0x1000_2n)).toBe(true);
  for (const d of dmas.filter((x) => x.ok)) {
    const frame = d.device === A ? frames[Number((d.address >> 12n) - 0x1000_0n)]! : frames[4 + Number((d.address >> 12n) - 0x7000_0000_0n)]!;
    expect(d.spa).toBe(frame + Number(d.address & 0xfffn));
  }
  // device-TLB hits cost one cycle; walks wait for the slow memory
  const hits = dmas.filter((d) => !d.walked), walks = dmas.filter((d) => d.walked && d.ok);
  expect(hits.length).toBeGreaterThan(0);
  expect(hits.every((d) => d.done - d.issued === TLB_HIT)).toBe(true);
  expect(walks.every((d) => d.done - d.issued > MEM_LATENCY)).toBe(true);
  expect(io.stats().translation.requests).toBe(walks.length + dmas.filter((d) => d.walked && !d.ok).length);
});
