/**
 * Performance counters as Linux's perf driver programs and reads them
 * (docs/spec-readings.md irq 3.1-3.5): EFR.PCSup, the configuration register at 0x4000,
 * counter registers at 0x40000 | bank << 12 | counter << 8 | r, event codes counting what
 * the model does, 48-bit wrap, match registers on direct events.
 */
import { describe, expect, it } from "vitest";
import { builders, spec } from "../../src/index.js";
import { DEV, MSI, irSetup } from "./interrupts/ir-setup.js";

const S = spec;
const reg = S.perfCounterRegister;

/** Linux's start order: source, PASID, DomainID, DeviceID match, counter = 0 (two 32-bit halves, low first). */
function start(io: builders.IommuTestbench["iommu"], bank: number, c: number, code: number, match: { dev?: [number, number] } = {}) {
  io.mmioWrite64(reg(bank, c, S.PERF_REG.CounterSource), BigInt(code));
  io.mmioWrite64(reg(bank, c, S.PERF_REG.PasidMatch), 0n);
  io.mmioWrite64(reg(bank, c, S.PERF_REG.DomainIdMatch), 0n);
  const dm = match.dev ? (BigInt(match.dev[1]) << 32n) | (1n << 31n) | BigInt(match.dev[0]) : 0n;
  io.mmioWrite64(reg(bank, c, S.PERF_REG.DeviceIdMatch), dm);
  io.mmioWrite32(reg(bank, c, 0), 0);
  io.mmioWrite32(reg(bank, c, 0) + 4, 0);
}
const read = (io: builders.IommuTestbench["iommu"], bank: number, c: number) =>
  io.mmioRead32(reg(bank, c, 0)) + io.mmioRead32(reg(bank, c, 0) + 4) * 2 ** 32;

function tbWithMapping() {
  const tb = new builders.IommuTestbench({ iommu: { features: { perfCounters: true } } });
  const v1 = new builders.V1PageTable(tb.memory, tb.pages, 4);
  for (let i = 0; i < 8; i++) v1.map(0x10_0000 + i * 4096, 0x20_0000 + i * 4096, { size: 4096, readable: true, writable: true });
  tb.deviceTable.set(0x10, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: v1.root, IR: true, IW: true, DomainID: 3 });
  return tb;
}

describe("discovery (digest 3.1, 3.2)", () => {
  it("EFR.PCSup = 1 and the configuration register at 0x4000 gives counters per bank (10:7) and banks (17:12)", () => {
    const tb = new builders.IommuTestbench({ iommu: { features: { perfCounters: true, perfCounterBanks: 2, perfCountersPerBank: 4 } } });
    expect(Number(tb.iommu.mmioRead64(S.MMIO_EXTENDED_FEATURE) >> 9n) & 1).toBe(1);
    const cfg = tb.iommu.mmioRead32(S.PERF_CONFIG_OFFSET);
    expect([(cfg >>> 7) & 0xf, (cfg >>> 12) & 0x3f]).toEqual([4, 2]);
  });
  it("without PCSup the window is 16 KiB: 0x4000 and the banks are outside it", () => {
    const tb = new builders.IommuTestbench({ iommu: { features: { perfCounters: false } } });
    expect(Number(tb.iommu.mmioRead64(S.MMIO_EXTENDED_FEATURE) >> 9n) & 1).toBe(0);
    expect(() => tb.iommu.mmioRead32(S.PERF_CONFIG_OFFSET)).toThrow(/outside/);
    expect(() => tb.iommu.mmioRead32(reg(0, 0, 0))).toThrow(/outside/);
  });
  it("with PCSup the window is 512 KiB: offsets without a counter register read 0 and ignore writes; beyond 0x7FFFF is refused", () => {
    const tb = new builders.IommuTestbench({ iommu: { features: { perfCounters: true } } });
    tb.iommu.mmioWrite32(0x5000, 0xffff_ffff);
    expect(tb.iommu.mmioRead32(0x5000)).toBe(0);
    expect(tb.iommu.mmioRead32(reg(2, 0, 0))).toBe(0); // bank 2 of 2
    expect(() => tb.iommu.mmioRead32(0x80000)).toThrow(/outside/);
  });
});

describe("counting (digest 3.4, checklist 9)", () => {
  it("source 05h (mem_trans_total), match registers 0, counter 0: N translations -> the counter reads N", () => {
    const tb = tbWithMapping();
    start(tb.iommu, 0, 0, S.PERF_EVENT_CODE.mem_trans_total!);
    for (let i = 0; i < 37; i++) tb.iommu.translate({ deviceId: 0x10, address: 0x10_0000 + (i % 8) * 4096 });
    expect(read(tb.iommu, 0, 0)).toBe(37);
  });
  it("IOTLB hits (06h) and misses (07h), page-table reads (0Ch), target aborts (04h) on counters of two banks", () => {
    const tb = tbWithMapping();
    const C = S.PERF_EVENT_CODE;
    start(tb.iommu, 0, 0, C.mem_iommu_tlb_pte_hit!); start(tb.iommu, 0, 1, C.mem_iommu_tlb_pte_mis!);
    start(tb.iommu, 1, 0, C.page_tbl_read_tot!); start(tb.iommu, 1, 3, C.mem_target_abort!);
    for (let i = 0; i < 8; i++) tb.iommu.translate({ deviceId: 0x10, address: 0x10_0000 + i * 4096 });
    for (let i = 0; i < 8; i++) tb.iommu.translate({ deviceId: 0x10, address: 0x10_0000 + i * 4096 });
    tb.iommu.translate({ deviceId: 0x10, address: 0x90_0000 });
    const st = tb.iommu.stats();
    expect([read(tb.iommu, 0, 0), read(tb.iommu, 0, 1)]).toEqual([8, 9]);
    expect(read(tb.iommu, 1, 0)).toBe(st.translation.referencesPerWalk.reduce((s, n, i) => s + n * i, 0));
    expect(read(tb.iommu, 1, 0)).toBeGreaterThan(8);
    expect(read(tb.iommu, 1, 3)).toBe(1);
  });
  it("a counter counts only from its start: earlier activity is not included", () => {
    const tb = tbWithMapping();
    for (let i = 0; i < 5; i++) tb.iommu.translate({ deviceId: 0x10, address: 0x10_0000 });
    start(tb.iommu, 0, 2, S.PERF_EVENT_CODE.mem_trans_total!);
    tb.iommu.translate({ deviceId: 0x10, address: 0x10_0000 });
    expect(read(tb.iommu, 0, 2)).toBe(1);
  });
  it("stop (source 0) freezes the count; the counter register keeps its value", () => {
    const tb = tbWithMapping();
    start(tb.iommu, 0, 0, S.PERF_EVENT_CODE.mem_trans_total!);
    tb.iommu.translate({ deviceId: 0x10, address: 0x10_0000 });
    tb.iommu.mmioWrite64(reg(0, 0, S.PERF_REG.CounterSource), 0n);
    tb.iommu.translate({ deviceId: 0x10, address: 0x10_0000 });
    expect(read(tb.iommu, 0, 0)).toBe(1);
  });
  it("a loaded counter counts on from the written value and wraps at 48 bits", () => {
    const tb = tbWithMapping();
    start(tb.iommu, 0, 0, S.PERF_EVENT_CODE.mem_trans_total!);
    tb.iommu.mmioWrite32(reg(0, 0, 0), 0xffff_fffe);
    tb.iommu.mmioWrite32(reg(0, 0, 0) + 4, 0xffff);
    for (let i = 0; i < 3; i++) tb.iommu.translate({ deviceId: 0x10, address: 0x10_0000 });
    expect(read(tb.iommu, 0, 0)).toBe(1);
  });
  it("commands processed (11h), invalidation commands (12h) and TLB invalidations (13h)", () => {
    const tb = tbWithMapping();
    const C = S.PERF_EVENT_CODE;
    start(tb.iommu, 0, 0, C.cmd_processed!); start(tb.iommu, 0, 1, C.cmd_processed_inv!); start(tb.iommu, 0, 2, C.tlb_inv!);
    tb.sync(S.buildInvalidateDevtabEntry(0x10), S.buildInvalidateIommuPages({ domainId: 3, address: 0x10_0000 }), S.buildInvalidateInterruptTable(0x10));
    expect([read(tb.iommu, 0, 0), read(tb.iommu, 0, 1), read(tb.iommu, 0, 2)]).toEqual([4, 3, 1]);
  });
  it("accesses to the reserved register 0x1FF8 (14h) are counted and otherwise ignored", () => {
    const tb = tbWithMapping();
    start(tb.iommu, 0, 0, S.PERF_EVENT_CODE.ign_rd_wr_mmio_1ff8h!);
    tb.iommu.mmioWrite32(0x1ff8, 5);
    expect(tb.iommu.mmioRead32(0x1ff8)).toBe(0);
    tb.iommu.mmioRead64(0x1ff8);
    expect(read(tb.iommu, 0, 0)).toBe(3);
  });
  it("interrupt events: int_dte_hit/mis (0Fh/10h), vapic_int_non_guest (15h); the DeviceID match register selects the device", () => {
    const s = irSetup({ iommu: { features: { perfCounters: true } } });
    const io = s.tb.iommu;
    const C = S.PERF_EVENT_CODE;
    s.table.set(1, { RemapEn: true, Vector: 0x33 });
    start(io, 0, 0, C.int_dte_hit!); start(io, 0, 1, C.int_dte_mis!); start(io, 0, 2, C.vapic_int_non_guest!);
    start(io, 0, 3, C.vapic_int_non_guest!, { dev: [DEV + 1, 0] });
    for (let i = 0; i < 4; i++) io.remapInterrupt({ deviceId: DEV, address: MSI, data: 1 });
    expect([read(io, 0, 0), read(io, 0, 1), read(io, 0, 2), read(io, 0, 3)]).toEqual([3, 1, 4, 0]);
    // mask bit 1 = ignore that bit: DeviceID DEV + 1 with mask 1 matches DEV
    start(io, 0, 3, C.vapic_int_non_guest!, { dev: [DEV + 1, 1] });
    io.remapInterrupt({ deviceId: DEV, address: MSI, data: 1 });
    expect(read(io, 0, 3)).toBe(1);
  });
});

describe("pass-through and table-read events (digest 3.4: 01h-03h, 0Dh, 0Eh)", () => {
  it("01h counts memory requests passed untranslated (DTE.V = 0, DTE.Mode 0), 02h translated requests passed (DTE.I = 1), 03h requests passed by the exclusion range; ATS and peek requests are not memory requests", () => {
    const tb = tbWithMapping();
    tb.deviceTable.set(0x20, { V: false });
    tb.deviceTable.set(0x21, { V: true, TV: true, Mode: 0, IR: true, IW: true, DomainID: 4, I: true });
    tb.deviceTable.set(0x22, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: 0, IR: true, IW: true, DomainID: 5, EX: true });
    const io = tb.iommu;
    start(io, 0, 0, S.PERF_EVENT_CODE.mem_pass_untrans!);
    start(io, 0, 1, S.PERF_EVENT_CODE.mem_pass_pretrans!);
    start(io, 0, 2, S.PERF_EVENT_CODE.mem_pass_excl!);
    io.translate({ deviceId: 0x20, address: 0x1000 });
    io.translate({ deviceId: 0x21, address: 0x2000, write: true });
    io.translateAts({ deviceId: 0x21, address: 0x2000 }); // (an ATS translation request: not counted)
    io.peek({ deviceId: 0x20, address: 0x1000 }); // (no side effect, no count)
    io.translatedRequest({ deviceId: 0x21, address: 0x3000 });
    io.translatedRequest({ deviceId: 0x21, address: 0x4000 });
    // exclusion range 0x8000_0000 .. +1 MiB, for devices with DTE.EX
    io.mmioWrite64(S.MMIO_EXCLUSION_LIMIT, 0x8000_0000n + 0xf_f000n);
    io.mmioWrite64(S.MMIO_EXCLUSION_BASE, 0x8000_0000n | 1n);
    expect(io.translate({ deviceId: 0x22, address: 0x8000_1000 }).path).toBe("exclusion");
    expect(io.translate({ deviceId: 0x10, address: 0x10_0000 }).path).toBe("host"); // (translated: none of the three)
    expect([read(io, 0, 0), read(io, 0, 1), read(io, 0, 2)]).toEqual([2, 2, 1]);
  });

  it("0Eh counts guest-table reads and 0Dh host-table reads of nested walks (a cold 4x4 nested walk: 4 guest entries, 5 host walks of 4); a v1 walk counts in neither", () => {
    const tb = new builders.IommuTestbench({ iommu: { features: { perfCounters: true }, iotlb: { entries: 0 }, pdeCache: { entries: 0 } } });
    const first = tb.pages.used;
    const guest = new builders.LongModeTable(tb.memory, tb.pages, 4);
    guest.map(0x7f00_0000_0000, 0x4000_0000, { writable: true, accessed: true, dirty: true });
    const gcr3 = new builders.Gcr3Table(tb.memory, tb.pages, 0);
    gcr3.set(1, guest.root);
    const end = tb.pages.used;
    const host = new builders.V1PageTable(tb.memory, tb.pages, 4);
    for (let a = first; a < end; a += 4096) host.map(a, a, { accessed: true, dirty: true });
    host.map(0x4000_0000, 0x5000_0000, { accessed: true, dirty: true });
    tb.deviceTable.set(0x30, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: host.root, IR: true, IW: true, DomainID: 6, GV: true, GLX: 0, GCR3TableRootPtr: gcr3.root });
    const v1 = new builders.V1PageTable(tb.memory, tb.pages, 4);
    v1.map(0x10_0000, 0x20_0000, { accessed: true, dirty: true });
    tb.deviceTable.set(0x31, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: v1.root, IR: true, IW: true, DomainID: 7 });
    const io = tb.iommu;
    start(io, 0, 0, S.PERF_EVENT_CODE.page_tbl_read_gst!);
    start(io, 0, 1, S.PERF_EVENT_CODE.page_tbl_read_nst!);
    start(io, 0, 2, S.PERF_EVENT_CODE.page_tbl_read_tot!);
    const r = io.translate({ deviceId: 0x30, address: 0x7f00_0000_0000, pasid: 1 });
    expect([r.ok, r.path, r.walkReferences]).toEqual([true, "nested", 24]);
    expect(io.translate({ deviceId: 0x31, address: 0x10_0000 }).walkReferences).toBe(4);
    expect([read(io, 0, 0), read(io, 0, 1), read(io, 0, 2)]).toEqual([4, 20, 28]);
  });
});

describe("match registers on derived memory-request events (digest 3.3: count only if every enabled match register matches)", () => {
  function twoDevices() {
    const tb = tbWithMapping();
    const v1 = new builders.V1PageTable(tb.memory, tb.pages, 4);
    for (let i = 0; i < 8; i++) v1.map(0x10_0000 + i * 4096, 0x30_0000 + i * 4096, { size: 4096, readable: true, writable: true });
    tb.deviceTable.set(0x11, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: v1.root, IR: true, IW: true, DomainID: 9 });
    return tb;
  }

  it("a DeviceID match on mem_trans_total (05h) counts only that device's requests; without a match every request counts", () => {
    const tb = twoDevices();
    const io = tb.iommu;
    start(io, 0, 0, S.PERF_EVENT_CODE.mem_trans_total!, { dev: [0x11, 0] });
    start(io, 0, 1, S.PERF_EVENT_CODE.mem_trans_total!);
    for (let i = 0; i < 5; i++) io.translate({ deviceId: 0x10, address: 0x10_0000 + i * 4096 });
    for (let i = 0; i < 3; i++) io.translate({ deviceId: 0x11, address: 0x10_0000 + i * 4096 });
    io.translateAts({ deviceId: 0x10, address: 0x10_0000 }); // (refused, DTE.I = 0: still a request of device 0x10)
    expect([read(io, 0, 0), read(io, 0, 1)]).toEqual([3, 9]);
  });

  it("a DomainID match on page-table reads (0Ch) and IOTLB misses (07h) counts only that domain's walks; the mask bits (1 = ignore) widen it", () => {
    const tb = twoDevices();
    const io = tb.iommu;
    const startDomain = (c: number, code: number, value: number, mask: number) => {
      io.mmioWrite64(reg(0, c, S.PERF_REG.CounterSource), BigInt(code));
      io.mmioWrite64(reg(0, c, S.PERF_REG.DomainIdMatch), (BigInt(mask) << 32n) | (1n << 31n) | BigInt(value));
      io.mmioWrite32(reg(0, c, 0), 0); io.mmioWrite32(reg(0, c, 0) + 4, 0);
    };
    startDomain(0, S.PERF_EVENT_CODE.page_tbl_read_tot!, 9, 0);
    startDomain(1, S.PERF_EVENT_CODE.mem_iommu_tlb_pte_mis!, 3, 0);
    startDomain(2, S.PERF_EVENT_CODE.mem_iommu_tlb_pte_mis!, 1, 0xfffe); // (domain 3 and 9 both odd: bit 0 compared only)
    for (let i = 0; i < 4; i++) io.translate({ deviceId: 0x10, address: 0x10_0000 + i * 4096 }); // domain 3: 4 misses
    for (let i = 0; i < 2; i++) io.translate({ deviceId: 0x11, address: 0x10_0000 + i * 4096 }); // domain 9: walks of 4 reads, then 2 (PDE cache)
    expect([read(io, 0, 0), read(io, 0, 1), read(io, 0, 2)]).toEqual([6, 4, 6]);
  });

  it("a counter whose match register is cleared counts every request again, from the value it had", () => {
    const tb = twoDevices();
    const io = tb.iommu;
    start(io, 0, 0, S.PERF_EVENT_CODE.mem_trans_total!, { dev: [0x11, 0] });
    io.translate({ deviceId: 0x11, address: 0x10_0000 });
    io.translate({ deviceId: 0x10, address: 0x10_0000 });
    io.mmioWrite64(reg(0, 0, S.PERF_REG.DeviceIdMatch), 0n);
    io.translate({ deviceId: 0x10, address: 0x10_1000 });
    expect(read(io, 0, 0)).toBe(2);
  });

  it("command events (11h) have no requester: an enabled match register does not filter them (reading, UNCERTAIN 18)", () => {
    const tb = twoDevices();
    const io = tb.iommu;
    start(io, 0, 0, S.PERF_EVENT_CODE.cmd_processed!, { dev: [0x11, 0] });
    tb.sync(S.buildInvalidateIommuPages({ domainId: 3, address: 0x10_0000 }));
    expect(read(io, 0, 0)).toBe(2); // (the invalidation and sync's COMPLETION_WAIT)
  });
});
