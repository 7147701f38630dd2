/**
 * The command buffer ring (docs/spec-readings.md cmd 1.1): doorbell, Head/Tail, wrap, enable,
 * halting on illegal and unreadable commands, restart by toggling CmdBufEn.
 */
import { describe, expect, it } from "vitest";
import { IommuTestbench } from "../../src/builders/testbench.js";
import {
  buildCompletionWait, buildInvalidateDevtabEntry, buildInvalidateInterruptTable, buildInvalidateIommuAll, buildInvalidateIotlbPages,
  buildPrefetchIommuPages, buildCompletePprRequest, commandByName, encodeCommand, opcodeOf,
} from "../../src/spec/commands.js";
import { EV_COMMAND_HARDWARE_ERROR, EV_ILLEGAL_COMMAND_ERROR, HW_ERROR_TYPE } from "../../src/spec/events.js";
import { setField } from "../../src/spec/bitfield.js";
import { MMIO_COMMAND_BUFFER_BASE, MMIO_COMMAND_BUFFER_HEAD, MMIO_COMMAND_BUFFER_TAIL, MMIO_STATUS, STATUS } from "../../src/spec/registers.js";
import { headOf, regBit } from "../device/sva-fixture.js";

function bench(o: ConstructorParameters<typeof IommuTestbench>[0] = {}): IommuTestbench {
  return new IommuTestbench({ bytes: 8 * 1024 * 1024, deviceTableEntries: 256, ...o });
}

function store(tb: IommuTestbench, data: bigint, at = tb.semaphore): Uint32Array {
  return buildCompletionWait({ store: true, address: at, data });
}

/** The same command with one extra bit set (absolute bit number inside the 128-bit entry). */
function withBit(cmd: Uint32Array, bit: number): Uint32Array {
  const c = cmd.slice();
  setField(c, bit, bit, 1);
  return c;
}

describe("command buffer: doorbell and Head/Tail", () => {
  it("writing Tail processes nothing inline; the commands run when time advances (runUntilIdle)", () => {
    const tb = bench();
    tb.submit(store(tb, 0x1234n));
    expect(tb.memory.read64(tb.semaphore)).toBe(0n);
    expect(headOf(tb.iommu, MMIO_COMMAND_BUFFER_HEAD)).toBe(0);
    tb.iommu.runUntilIdle();
    expect(tb.memory.read64(tb.semaphore)).toBe(0x1234n);
    expect(headOf(tb.iommu, MMIO_COMMAND_BUFFER_HEAD)).toBe(16);
  });

  it("the IOMMU advances Head to Tail, one 16-byte entry per command, and counts each opcode", () => {
    const tb = bench();
    tb.submit(buildInvalidateDevtabEntry(1), buildInvalidateDevtabEntry(2), store(tb, 9n));
    tb.iommu.runUntilIdle();
    expect(headOf(tb.iommu, MMIO_COMMAND_BUFFER_HEAD)).toBe(48);
    expect(headOf(tb.iommu, MMIO_COMMAND_BUFFER_HEAD)).toBe(headOf(tb.iommu, MMIO_COMMAND_BUFFER_TAIL));
    expect(tb.iommu.commands.stats.byOpcode).toMatchObject({ INVALIDATE_DEVTAB_ENTRY: 2, COMPLETION_WAIT: 1 });
    expect(tb.iommu.commands.stats.executed).toBe(3);
  });

  it("Head wraps to 0 at the end of a 2^ComLen-entry ring (ComLen = 8: 256 entries), never reading 4096", () => {
    const tb = bench({ ringLen: 8 });
    expect(tb.ringBytes).toBe(4096);
    for (let i = 0; i < 250; i++) tb.submit(buildInvalidateDevtabEntry(i));
    tb.iommu.runUntilIdle();
    expect(headOf(tb.iommu, MMIO_COMMAND_BUFFER_HEAD)).toBe(250 * 16);
    for (let i = 0; i < 5; i++) tb.submit(buildInvalidateDevtabEntry(i));
    tb.submit(store(tb, 77n)); // the last slot (255): after it Head wraps to 0
    tb.iommu.runUntilIdle();
    expect(headOf(tb.iommu, MMIO_COMMAND_BUFFER_HEAD)).toBe(0);
    expect(tb.memory.read64(tb.semaphore)).toBe(77n);
    expect(opcodeOf([0, tb.memory.read32(tb.commandBuffer + 255 * 16 + 4)])).toBe(commandByName("COMPLETION_WAIT").opcode);
    tb.submit(store(tb, 78n)); // slot 0 again
    tb.iommu.runUntilIdle();
    expect(tb.memory.read64(tb.semaphore)).toBe(78n);
    expect(headOf(tb.iommu, MMIO_COMMAND_BUFFER_HEAD)).toBe(16);
  });

  it("nothing is fetched while IommuEn = 0, even with CmdBufEn = 1", () => {
    const tb = bench({ leaveDisabled: true });
    tb.submit(store(tb, 5n));
    tb.iommu.runUntilIdle();
    expect(tb.memory.read64(tb.semaphore)).toBe(0n);
    tb.control(["IommuEn"]);
    tb.iommu.runUntilIdle();
    expect(tb.memory.read64(tb.semaphore)).toBe(5n);
  });

  it("CmdBufEn 1 -> 0 stops fetching and clears CmdBufRun, keeping Head and Tail; 0 -> 1 resumes at Head", () => {
    const tb = bench();
    const io = tb.iommu;
    tb.submit(buildInvalidateDevtabEntry(1));
    io.runUntilIdle();
    tb.control([], ["CmdBufEn"]);
    expect(regBit(io, MMIO_STATUS, STATUS.CmdBufRun)).toBe(false);
    tb.submit(store(tb, 3n));
    io.runUntilIdle();
    expect(tb.memory.read64(tb.semaphore)).toBe(0n);
    expect(headOf(io, MMIO_COMMAND_BUFFER_HEAD)).toBe(16);
    expect(headOf(io, MMIO_COMMAND_BUFFER_TAIL)).toBe(32);
    tb.control(["CmdBufEn"]);
    expect(regBit(io, MMIO_STATUS, STATUS.CmdBufRun)).toBe(true);
    io.runUntilIdle();
    expect(tb.memory.read64(tb.semaphore)).toBe(3n);
    expect(headOf(io, MMIO_COMMAND_BUFFER_HEAD)).toBe(32);
  });
});

describe("command buffer: illegal commands halt the queue", () => {
  const cases: [string, (tb: IommuTestbench) => Uint32Array][] = [
    ["an unknown opcode (0)", () => new Uint32Array(4)],
    ["an unknown opcode (9, INSERT_GUEST_EVENT: vIOMMU, not modelled)", () => { const c = new Uint32Array(4); c[1] = 9 << 28; return c; }],
    ["an unknown opcode (15)", () => { const c = new Uint32Array(4); c[1] = (15 << 28) >>> 0; return c; }],
    ["COMPLETION_WAIT with reserved bits 59:52 set", (tb) => withBit(store(tb, 1n), 52)],
    ["INVALIDATE_DEVTAB_ENTRY with reserved dw0[31:16] set", () => withBit(buildInvalidateDevtabEntry(1), 16)],
    ["INVALIDATE_DEVTAB_ENTRY with reserved dw2 set", () => withBit(buildInvalidateDevtabEntry(1), 64)],
    ["INVALIDATE_IOMMU_PAGES with reserved dw0[31:20] set", () => withBit(encodeCommand("INVALIDATE_IOMMU_PAGES", { DomainID: 1 }), 20)],
    ["INVALIDATE_IOMMU_PAGES with reserved dw2[11:3] set", () => withBit(encodeCommand("INVALIDATE_IOMMU_PAGES", { DomainID: 1 }), 67)],
    ["INVALIDATE_IOTLB_PAGES with reserved dw2 bit 1 set", () => withBit(buildInvalidateIotlbPages({ deviceId: 1, address: 0 }), 65)],
    ["INVALIDATE_IOTLB_PAGES with Type set while the EFR lacks InvIotlbTypeSup", () => withBit(buildInvalidateIotlbPages({ deviceId: 1, address: 0 }), 68)],
    ["INVALIDATE_INTERRUPT_TABLE with reserved dw3 set", () => withBit(buildInvalidateInterruptTable(1), 100)],
    ["PREFETCH_IOMMU_PAGES with reserved dw0[23:16] set", () => withBit(buildPrefetchIommuPages({ deviceId: 1, address: 0 }), 16)],
    ["COMPLETE_PPR_REQUEST with reserved dw2[31:3] set", () => withBit(buildCompletePprRequest({ deviceId: 1, prgIndex: 0, responseCode: 0 }), 70)],
    ["COMPLETE_PPR_REQUEST with reserved dw3[31:16] set", () => withBit(buildCompletePprRequest({ deviceId: 1, prgIndex: 0, responseCode: 0 }), 112)],
    ["INVALIDATE_IOMMU_ALL with any other bit set", () => withBit(buildInvalidateIommuAll(), 0)],
  ];
  for (const [what, make] of cases) {
    it(`${what}: ILLEGAL_COMMAND_ERROR with the entry's address, CmdBufRun = 0, Head stays on it, later commands wait`, () => {
      const tb = bench();
      const io = tb.iommu;
      tb.submit(buildInvalidateDevtabEntry(1), make(tb), store(tb, 8n));
      io.runUntilIdle();
      const ev = tb.events();
      expect(ev).toHaveLength(1);
      expect(ev[0]).toMatchObject({ code: EV_ILLEGAL_COMMAND_ERROR, address: BigInt(tb.commandBuffer + 16), deviceId: 0 });
      expect(regBit(io, MMIO_STATUS, STATUS.CmdBufRun)).toBe(false);
      expect(headOf(io, MMIO_COMMAND_BUFFER_HEAD)).toBe(16);
      expect(tb.memory.read64(tb.semaphore)).toBe(0n);
      io.runUntilIdle();
      expect(tb.events()).toHaveLength(0);
      expect(io.commands.stats.illegal).toBe(1);
    });
  }

  it("software recovers as NOVA does: overwrite the bad slot with a harmless COMPLETION_WAIT, toggle CmdBufEn, and the queue resumes at Head", () => {
    const tb = bench();
    const io = tb.iommu;
    tb.submit(new Uint32Array(4), store(tb, 8n));
    io.runUntilIdle();
    expect(regBit(io, MMIO_STATUS, STATUS.CmdBufRun)).toBe(false);
    const fix = buildCompletionWait({});
    for (let i = 0; i < 4; i++) tb.memory.write32(tb.commandBuffer + 4 * i, fix[i]!);
    tb.control([], ["CmdBufEn"]);
    io.runUntilIdle();
    expect(tb.memory.read64(tb.semaphore)).toBe(0n);
    tb.control(["CmdBufEn"]);
    io.runUntilIdle();
    expect(regBit(io, MMIO_STATUS, STATUS.CmdBufRun)).toBe(true);
    expect(tb.memory.read64(tb.semaphore)).toBe(8n);
    expect(headOf(io, MMIO_COMMAND_BUFFER_HEAD)).toBe(32);
  });

  it("a halted queue restarted without fixing the entry halts on it again", () => {
    const tb = bench();
    tb.submit(new Uint32Array(4));
    tb.iommu.runUntilIdle();
    tb.control([], ["CmdBufEn"]);
    tb.control(["CmdBufEn"]);
    tb.iommu.runUntilIdle();
    expect(tb.events().map((e) => e.code)).toEqual([EV_ILLEGAL_COMMAND_ERROR, EV_ILLEGAL_COMMAND_ERROR]);
    expect(headOf(tb.iommu, MMIO_COMMAND_BUFFER_HEAD)).toBe(0);
  });

  const absent: [string, Partial<Record<"prefetch" | "ppr" | "invalidateAll", boolean>>, (tb: IommuTestbench) => Uint32Array][] = [
    ["PREFETCH_IOMMU_PAGES without EFR.PreFSup", { prefetch: false }, () => buildPrefetchIommuPages({ deviceId: 1, address: 0 })],
    ["COMPLETE_PPR_REQUEST without EFR.PPRSup", { ppr: false }, () => buildCompletePprRequest({ deviceId: 1, prgIndex: 0, responseCode: 0 })],
    ["INVALIDATE_IOMMU_ALL without EFR.IASup", { invalidateAll: false }, () => buildInvalidateIommuAll()],
  ];
  for (const [what, features, make] of absent) {
    it(`${what} is an illegal command (quirks.unsupportedOpcodeIsIllegal, the default)`, () => {
      const tb = bench({ iommu: { features } });
      tb.submit(make(tb), store(tb, 1n));
      tb.iommu.runUntilIdle();
      expect(tb.events().map((e) => e.code)).toEqual([EV_ILLEGAL_COMMAND_ERROR]);
      expect(tb.memory.read64(tb.semaphore)).toBe(0n);
    });
    it(`${what} is fetched and ignored when quirks.unsupportedOpcodeIsIllegal = false`, () => {
      const tb = bench({ iommu: { features, quirks: { unsupportedOpcodeIsIllegal: false } } });
      tb.submit(make(tb), store(tb, 1n));
      tb.iommu.runUntilIdle();
      expect(tb.events()).toEqual([]);
      expect(tb.memory.read64(tb.semaphore)).toBe(1n);
      expect(tb.iommu.commands.stats.pprResponses + tb.iommu.commands.stats.pprResponsesDropped).toBe(0);
    });
  }
});

describe("command buffer: unreadable commands", () => {
  it("a ring outside memory gives COMMAND_HARDWARE_ERROR (master abort) with the entry's address and halts", () => {
    const tb = bench();
    const io = tb.iommu;
    const outside = tb.memory.bytes + 0x10000;
    tb.control([], ["CmdBufEn"]);
    io.mmioWrite64(MMIO_COMMAND_BUFFER_BASE, BigInt(outside) | (9n << 56n));
    io.mmioWrite64(MMIO_COMMAND_BUFFER_HEAD, 0n);
    io.mmioWrite64(MMIO_COMMAND_BUFFER_TAIL, 32n);
    tb.control(["CmdBufEn"]);
    io.runUntilIdle();
    const ev = tb.events();
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ code: EV_COMMAND_HARDWARE_ERROR, address: BigInt(outside) });
    expect(ev[0]!.flags.Type).toBe(HW_ERROR_TYPE.MasterAbort);
    expect(regBit(io, MMIO_STATUS, STATUS.CmdBufRun)).toBe(false);
    expect(headOf(io, MMIO_COMMAND_BUFFER_HEAD)).toBe(0);
  });

  it("a COMPLETION_WAIT whose store address lies outside memory halts with COMMAND_HARDWARE_ERROR on that command", () => {
    const tb = bench();
    tb.submit(buildInvalidateDevtabEntry(1), store(tb, 1n, tb.memory.bytes), store(tb, 2n));
    tb.iommu.runUntilIdle();
    const ev = tb.events();
    expect(ev.map((e) => [e.code, e.address])).toEqual([[EV_COMMAND_HARDWARE_ERROR, BigInt(tb.commandBuffer + 16)]]);
    expect(headOf(tb.iommu, MMIO_COMMAND_BUFFER_HEAD)).toBe(16);
    expect(tb.memory.read64(tb.semaphore)).toBe(0n);
    expect(regBit(tb.iommu, MMIO_STATUS, STATUS.CmdBufRun)).toBe(false);
  });

});
