/**
 * MMIO register access semantics (docs/spec-readings.md reg 1-2; docs/spec-readings.md cmd 0).
 */
import { describe, expect, it } from "vitest";
import { AmdIommu, PhysicalMemory, spec } from "../../src/index.js";

const S = spec;
const make = (o: Partial<ConstructorParameters<typeof AmdIommu>[0]> = {}) =>
  new AmdIommu({ memory: new PhysicalMemory({ bytes: 1 << 24 }), ...o });

describe("MMIO registers", () => {
  it("every RW register reads back exactly its defined bits; undefined bits read 0", () => {
    const io = make();
    for (const r of S.REGISTERS) {
      if (!io.regs.implemented(r.offset)) continue;
      const rw = (BigInt(r.writable[1]) << 32n) | BigInt(r.writable[0]);
      if (rw === 0n || r.name === "Control") continue;
      const before = io.mmioRead64(r.offset);
      io.mmioWrite64(r.offset, 0xffff_ffff_ffff_ffffn);
      const w1c = (BigInt(r.w1c[1]) << 32n) | BigInt(r.w1c[0]);
      expect(io.mmioRead64(r.offset) & ~w1c, r.name).toBe(rw | (before & ~rw & ~w1c));
      io.mmioWrite64(r.offset, 0n);
    }
  });
  it("Device Table Base keeps Size 8:0 and base 51:12; reserved bits 11:9 and 63:52 read 0", () => {
    const io = make();
    io.mmioWrite64(S.MMIO_DEVICE_TABLE_BASE, 0xffff_ffff_ffff_ffffn);
    expect(io.mmioRead64(S.MMIO_DEVICE_TABLE_BASE)).toBe(0x000f_ffff_ffff_f1ffn);
  });
  it("head/tail pointers are masked to bits 18:4", () => {
    const io = make();
    for (const off of [S.MMIO_COMMAND_BUFFER_HEAD, S.MMIO_COMMAND_BUFFER_TAIL, S.MMIO_EVENT_LOG_HEAD, S.MMIO_PPR_LOG_HEAD]) {
      io.mmioWrite64(off, 0xffff_ffff_ffff_ffffn);
      expect(io.mmioRead64(off)).toBe(0x7fff0n);
    }
  });
  it("the Extended Feature Register is read-only and ignores writes", () => {
    const io = make();
    const efr = io.mmioRead64(S.MMIO_EXTENDED_FEATURE);
    io.mmioWrite64(S.MMIO_EXTENDED_FEATURE, 0n);
    io.mmioWrite32(S.MMIO_EXTENDED_FEATURE + 4, 0xffffffff);
    expect(io.mmioRead64(S.MMIO_EXTENDED_FEATURE)).toBe(efr);
  });
  it("the EFR advertises exactly the features the model implements, and options turn them off", () => {
    const on = make().mmioRead64(S.MMIO_EXTENDED_FEATURE);
    const bit = (v: bigint, name: string) => { const f = S.EFR_FIELDS.find((x) => x.name === name)!; return Number((v >> BigInt(f.lo)) & ((1n << BigInt(f.hi - f.lo + 1)) - 1n)); };
    expect(["PreFSup", "PPRSup", "NXSup", "GTSup", "IASup", "GIoSup", "HASup", "HDSup", "USSup", "GAUpdateDisSup", "XTSup", "GASup", "GAMSup"].map((n) => bit(on, n))).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect(bit(on, "PCSup")).toBe(1);
    expect(["HESup", "EPHSup", "DualPprLogSup", "DualEventLogSup", "SmiFSup", "PprAutoRspSup", "PprOvrflwEarlySup"].map((n) => bit(on, n))).toEqual([0, 0, 0, 0, 0, 0, 0]);
    const noIr = make({ features: { x2apic: false, guestVapic: false } }).mmioRead64(S.MMIO_EXTENDED_FEATURE);
    expect(["XTSup", "GASup", "GAMSup"].map((n) => bit(noIr, n))).toEqual([0, 0, 0]);
    expect([bit(on, "HATS"), bit(on, "GATS"), bit(on, "GLXSup"), bit(on, "PASmax")]).toEqual([2, 1, 2, 15]);
    const off = make({ features: { ppr: false, guestTranslation: false, prefetch: false, hats: 0 } }).mmioRead64(S.MMIO_EXTENDED_FEATURE);
    expect([bit(off, "PPRSup"), bit(off, "GTSup"), bit(off, "PreFSup"), bit(off, "HATS"), bit(off, "GATS"), bit(off, "PASmax")]).toEqual([0, 0, 0, 0, 0, 0]);
  });
  it("registers of an absent feature read 0 and ignore writes (PPR log without PPRSup)", () => {
    const io = make({ features: { ppr: false } });
    io.mmioWrite64(S.MMIO_PPR_LOG_BASE, 0x0900_0000_0010_0000n);
    expect(io.mmioRead64(S.MMIO_PPR_LOG_BASE)).toBe(0n);
    expect(io.mmioRead64(S.MMIO_PPR_LOG_TAIL)).toBe(0n);
  });
  it("Status run bits are read-only: software cannot set them", () => {
    const io = make();
    io.mmioWrite64(S.MMIO_STATUS, 0xffff_ffffn);
    expect(io.mmioRead64(S.MMIO_STATUS) & 0x98n).toBe(0n);
  });
  it("Status interrupt/overflow bits are write-1-to-clear", () => {
    const io = make();
    io.regs.setBit(S.MMIO_STATUS, S.STATUS.EventOverflow, true);
    io.regs.setBit(S.MMIO_STATUS, S.STATUS.ComWaitInt, true);
    io.mmioWrite64(S.MMIO_STATUS, 0n);
    expect(io.mmioRead64(S.MMIO_STATUS) & 0x5n).toBe(0x5n);
    io.mmioWrite64(S.MMIO_STATUS, 0x4n);
    expect(io.mmioRead64(S.MMIO_STATUS) & 0x5n).toBe(0x1n);
    io.mmioWrite32(S.MMIO_STATUS, 1);
    expect(io.mmioRead64(S.MMIO_STATUS) & 0x5n).toBe(0n);
  });
  it("enabling the command buffer, event log and PPR log in Control sets CmdBufRun, EventLogRun and PprLogRun; disabling clears them", () => {
    const io = make();
    const ctl = (1n << 12n) | (1n << 2n) | (1n << 13n) | 1n; // with IommuEn: the run bits read 0 without it (issue 17)
    io.mmioWrite64(S.MMIO_CONTROL, ctl);
    expect(io.mmioRead64(S.MMIO_STATUS) & 0x98n).toBe(0x98n);
    io.mmioWrite64(S.MMIO_CONTROL, 0n);
    expect(io.mmioRead64(S.MMIO_STATUS) & 0x98n).toBe(0n);
  });
  it("32-bit accesses reach either half of a 64-bit register", () => {
    const io = make();
    io.mmioWrite32(S.MMIO_EXCLUSION_BASE + 4, 0x000a_bcde);
    io.mmioWrite32(S.MMIO_EXCLUSION_BASE, 0x1234_5003);
    expect(io.mmioRead64(S.MMIO_EXCLUSION_BASE)).toBe(0x000a_bcde_1234_5003n);
    expect(io.mmioRead32(S.MMIO_EXCLUSION_BASE + 4)).toBe(0x000a_bcde);
    io.mmioWrite32(S.MMIO_CONTROL + 4, 1 << (58 - 32));
    expect(io.mmioRead64(S.MMIO_CONTROL)).toBe(1n << 58n);
  });
  it("the exclusion limit reads bits 11:0 as ones (inclusive limit)", () => {
    const io = make();
    io.mmioWrite64(S.MMIO_EXCLUSION_LIMIT, 0x5000n);
    expect(io.mmioRead64(S.MMIO_EXCLUSION_LIMIT)).toBe(0x5fffn);
  });
  it("misuse of the MMIO methods names the argument", () => {
    const io = make();
    expect(() => io.mmioRead64(0x80000)).toThrow(/outside the 512 KiB MMIO window/); // PCSup: counters up to 0x7FFFF
    expect(() => make({ features: { perfCounters: false } }).mmioRead64(0x4000)).toThrow(/outside the 16 KiB MMIO window/);
    expect(() => io.mmioRead64(0x4)).toThrow(/not 8-byte aligned/);
    expect(() => io.mmioWrite32(0x18, 2 ** 33)).toThrow(/value must be a 32-bit integer/);
    expect(() => io.mmioWrite64(0x18, 1 as unknown as bigint)).toThrow(/value must be a bigint/);
  });
  it("unimplemented offsets read 0 and ignore writes", () => {
    const io = make();
    io.mmioWrite64(0x1ff8, 0xffffn);
    expect(io.mmioRead64(0x1ff8)).toBe(0n);
  });
});
