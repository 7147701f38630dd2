/**
 * COMPLETION_WAIT (opcode 01h; docs/spec-readings.md cmd 1.3 and 4.3): the s (store), i
 * (interrupt) and f (fence) flags, the store address and data fields, and the guarantee that
 * it completes only after every earlier command, including ATS invalidations sent to device
 * TLBs, has taken effect.
 */
import { describe, expect, it } from "vitest";
import { IommuTestbench } from "../../src/builders/testbench.js";
import { PcieEndpoint } from "../../src/device/pcie-endpoint.js";
import { STEP_DONE, STEP_WAIT } from "../../src/iommu/command-processor.js";
import { buildCompletionWait, buildInvalidateDevtabEntry, buildInvalidateIotlbPages, commandByName } from "../../src/spec/commands.js";
import { EV_COMMAND_HARDWARE_ERROR } from "../../src/spec/events.js";
import { CONTROL, MMIO_COMMAND_BUFFER_HEAD, MMIO_CONTROL, MMIO_STATUS, STATUS } from "../../src/spec/registers.js";
import { headOf, regBit } from "../device/sva-fixture.js";
import type { InterruptSource } from "../../src/iommu/options.js";

const OP_CW = commandByName("COMPLETION_WAIT").opcode;

function bench(iommu: ConstructorParameters<typeof IommuTestbench>[0] = {}): { tb: IommuTestbench; irqs: InterruptSource[] } {
  const irqs: InterruptSource[] = [];
  const tb = new IommuTestbench({ bytes: 8 * 1024 * 1024, deviceTableEntries: 256, ...iommu, iommu: { ...(iommu.iommu ?? {}), onInterrupt: (s) => irqs.push(s) } });
  return { tb, irqs };
}

/** Clear Status bits by writing 1s (W1C) to the half that holds them. */
function clearStatus(tb: IommuTestbench, ref: { half: 0 | 1; mask: number }): void {
  tb.iommu.mmioWrite32(MMIO_STATUS + 4 * ref.half, ref.mask);
}

describe("COMPLETION_WAIT s: the store", () => {
  it("s = 1 writes the 64-bit StoreData (dw3:dw2) to the 8-byte StoreAddress (dw1[19:0]:dw0[31:3])", () => {
    const { tb } = bench();
    const at = tb.semaphore + 0x18;
    tb.memory.write64(at, 0xffff_ffff_ffff_ffffn);
    tb.submit(buildCompletionWait({ store: true, address: at, data: 0x1122_3344_5566_7788n }));
    tb.iommu.runUntilIdle();
    expect(tb.memory.read64(at)).toBe(0x1122_3344_5566_7788n);
    expect(tb.memory.read64(at - 8)).toBe(0n);
    expect(tb.memory.read64(at + 8)).toBe(0n);
  });

  it("StoreAddress[51:32] is part of the address: a store 4 GiB above the semaphore lies outside memory (COMMAND_HARDWARE_ERROR), nothing lands below", () => {
    const { tb } = bench();
    tb.submit(buildCompletionWait({ store: true, address: BigInt(tb.semaphore) + (1n << 32n), data: 5n }));
    tb.iommu.runUntilIdle();
    expect(tb.memory.read64(tb.semaphore)).toBe(0n);
    expect(tb.events().map((e) => e.code)).toEqual([EV_COMMAND_HARDWARE_ERROR]);
  });

  it("s = 0 writes nothing: a pure barrier that still retires (Head moves on)", () => {
    const { tb } = bench();
    tb.memory.write64(tb.semaphore, 0xabn);
    const cw = buildCompletionWait({ store: false, address: tb.semaphore, data: 0x99n });
    tb.submit(cw);
    tb.iommu.runUntilIdle();
    expect(tb.memory.read64(tb.semaphore)).toBe(0xabn);
    expect(headOf(tb.iommu, MMIO_COMMAND_BUFFER_HEAD)).toBe(16);
    expect(tb.iommu.commands.stats.completionWaits).toBe(1);
  });

  it("f = 1 (fence) is a legal flag: the command completes like any other wait", () => {
    const { tb } = bench();
    tb.submit(buildCompletionWait({ store: true, fence: true, address: tb.semaphore, data: 4n }), buildInvalidateDevtabEntry(3));
    tb.iommu.runUntilIdle();
    expect(tb.events()).toEqual([]);
    expect(tb.memory.read64(tb.semaphore)).toBe(4n);
    expect(headOf(tb.iommu, MMIO_COMMAND_BUFFER_HEAD)).toBe(32);
  });
});

describe("COMPLETION_WAIT i: ComWaitInt and the interrupt", () => {
  it("i = 1 with ComWaitIntEn = 1 sets Status.ComWaitInt (W1C) and raises the completion-wait interrupt once", () => {
    const { tb, irqs } = bench();
    tb.control(["ComWaitIntEn"]);
    tb.submit(buildCompletionWait({ interrupt: true }));
    tb.iommu.runUntilIdle();
    expect(regBit(tb.iommu, MMIO_STATUS, STATUS.ComWaitInt)).toBe(true);
    expect(irqs).toEqual(["completion-wait"]);
    clearStatus(tb, STATUS.ComWaitInt);
    expect(regBit(tb.iommu, MMIO_STATUS, STATUS.ComWaitInt)).toBe(false);
  });

  it("i = 1 with ComWaitIntEn = 0 sets ComWaitInt but raises no interrupt (quirks.comWaitIntStatusWithoutEnable, the default)", () => {
    const { tb, irqs } = bench();
    tb.submit(buildCompletionWait({ interrupt: true }));
    tb.iommu.runUntilIdle();
    expect(regBit(tb.iommu, MMIO_STATUS, STATUS.ComWaitInt)).toBe(true);
    expect(irqs).toEqual([]);
  });

  it("i = 1 with ComWaitIntEn = 0 leaves ComWaitInt clear when quirks.comWaitIntStatusWithoutEnable = false", () => {
    const { tb, irqs } = bench({ iommu: { quirks: { comWaitIntStatusWithoutEnable: false } } });
    tb.submit(buildCompletionWait({ interrupt: true }));
    tb.iommu.runUntilIdle();
    expect(regBit(tb.iommu, MMIO_STATUS, STATUS.ComWaitInt)).toBe(false);
    expect(irqs).toEqual([]);
  });

  it("i = 0 leaves ComWaitInt clear and raises nothing, even with ComWaitIntEn = 1", () => {
    const { tb, irqs } = bench();
    tb.control(["ComWaitIntEn"]);
    tb.submit(buildCompletionWait({ store: true, address: tb.semaphore, data: 1n }));
    tb.iommu.runUntilIdle();
    expect(regBit(tb.iommu, MMIO_STATUS, STATUS.ComWaitInt)).toBe(false);
    expect(irqs).toEqual([]);
    expect(regBit(tb.iommu, MMIO_CONTROL, CONTROL.ComWaitIntEn)).toBe(true);
  });
});

describe("COMPLETION_WAIT completes after every earlier command, device TLB invalidations included", () => {
  function ats(latency: number | null) {
    const { tb, irqs } = bench();
    const ep = new PcieEndpoint(tb.iommu, { deviceId: 0x20, invalidationLatency: latency });
    return { tb, irqs, ep, io: tb.iommu, cp: tb.iommu.commands };
  }

  it("the store is not visible until the device's Invalidate Completion has arrived, and then it is", () => {
    const { tb, ep, io, cp } = ats(5000);
    tb.submit(buildInvalidateIotlbPages({ deviceId: 0x20, address: 0x4000 }), buildCompletionWait({ store: true, address: tb.semaphore, data: 1n }));
    expect(cp.step(io.now)).toBe(STEP_DONE); // the ATS invalidation leaves
    const sentAt = ep.lastInvalidation!.cycle;
    const answered = sentAt + 5000 + io.timing.pcieLinkLatency;
    expect(cp.step(cp.freeAt)).toBe(STEP_WAIT);
    expect(cp.waitUntil).toBe(answered);
    expect(tb.memory.read64(tb.semaphore)).toBe(0n);
    expect(headOf(io, MMIO_COMMAND_BUFFER_HEAD)).toBe(16); // Head on the waiting COMPLETION_WAIT
    expect(cp.step(answered - 1)).toBe(STEP_WAIT);
    expect(tb.memory.read64(tb.semaphore)).toBe(0n);
    expect(cp.step(answered)).toBe(STEP_DONE);
    expect(tb.memory.read64(tb.semaphore)).toBe(1n);
    expect(headOf(io, MMIO_COMMAND_BUFFER_HEAD)).toBe(32);
  });

  it("the waiting COMPLETION_WAIT stays latched: it starts at the answer's cycle, without a second fetch and decode", () => {
    const { tb, io, cp } = ats(5000);
    let start = -1;
    io.commands.onCommand = ((prev) => (op: number, a: number, dw: Uint32Array, s: number, e: number) => { prev?.(op, a, dw, s, e); if (op === OP_CW) start = s; })(io.commands.onCommand);
    tb.submit(buildInvalidateIotlbPages({ deviceId: 0x20, address: 0 }), buildCompletionWait({ store: true, address: tb.semaphore, data: 1n }));
    cp.step(io.now);
    cp.step(cp.freeAt);
    const answered = cp.waitUntil;
    io.runUntilIdle();
    expect(start).toBe(answered);
  });

  it("with two devices the wait ends at the later answer; runUntilIdle advances the clock to it", () => {
    const { tb, io } = ats(1000);
    new PcieEndpoint(io, { deviceId: 0x21, invalidationLatency: 9000 });
    let cwStart = -1;
    io.commands.onCommand = ((prev) => (op: number, a: number, dw: Uint32Array, s: number, e: number) => { prev?.(op, a, dw, s, e); if (op === OP_CW) cwStart = s; })(io.commands.onCommand);
    const t0 = io.now;
    tb.submit(buildInvalidateIotlbPages({ deviceId: 0x20, address: 0 }), buildInvalidateIotlbPages({ deviceId: 0x21, address: 0 }),
      buildCompletionWait({ store: true, address: tb.semaphore, data: 2n }));
    io.runUntilIdle();
    expect(tb.memory.read64(tb.semaphore)).toBe(2n);
    expect(cwStart).toBeGreaterThanOrEqual(t0 + 9000 + 2 * io.timing.pcieLinkLatency);
    expect(io.now).toBeGreaterThanOrEqual(cwStart);
  });

  it("the interrupt of a waiting COMPLETION_WAIT is raised only after the answer, too", () => {
    const { tb, irqs, io, cp } = ats(3000);
    tb.control(["ComWaitIntEn"]);
    tb.submit(buildInvalidateIotlbPages({ deviceId: 0x20, address: 0 }), buildCompletionWait({ interrupt: true }));
    cp.step(io.now);
    expect(cp.step(cp.freeAt)).toBe(STEP_WAIT);
    expect(irqs).toEqual([]);
    expect(regBit(io, MMIO_STATUS, STATUS.ComWaitInt)).toBe(false);
    io.runUntilIdle();
    expect(irqs).toEqual(["completion-wait"]);
  });

  it("a device that never answers, with InvTimeOut = 0 (no timeout), blocks the wait for good: no store, Head stays, the queue keeps running", () => {
    const { tb, io } = ats(null);
    tb.control([], ["InvTimeOut"]);
    tb.submit(buildInvalidateIotlbPages({ deviceId: 0x20, address: 0 }), buildCompletionWait({ store: true, address: tb.semaphore, data: 3n }));
    io.runUntilIdle();
    expect(tb.memory.read64(tb.semaphore)).toBe(0n);
    expect(headOf(io, MMIO_COMMAND_BUFFER_HEAD)).toBe(16);
    expect(regBit(io, MMIO_STATUS, STATUS.CmdBufRun)).toBe(true);
    expect(io.commands.pendingAts).toBe(1);
  });

  it("without outstanding device invalidations the wait does not wait (the store lands at the next step)", () => {
    const { tb, io, cp } = ats(5000);
    tb.submit(buildInvalidateDevtabEntry(0x20), buildCompletionWait({ store: true, address: tb.semaphore, data: 6n }));
    expect(cp.step(io.now)).toBe(STEP_DONE);
    expect(cp.step(cp.freeAt)).toBe(STEP_DONE);
    expect(tb.memory.read64(tb.semaphore)).toBe(6n);
  });
});
