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
