/**
 * The MMIO mailbox, IOMMU agent and host driver of shared mode, in one thread: posted
 * register writes take effect only at the agent's service, in order, with the register
 * side effects of mmioWrite; the doorbell runs the command processor so a COMPLETION_WAIT
 * store has landed when service() returns; the mirror and interrupt counters publish what
 * the IOMMU did; a host that nobody serves times out instead of hanging.
 */
import { describe, expect, it } from "vitest";
import { SharedIommuAgent } from "../../src/shared/iommu-agent.js";
import { MAILBOX_SLOTS } from "../../src/shared/mmio-mailbox.js";
import { SharedHostDriver } from "../../src/shared/host-driver.js";
import { buildCompletionWait } from "../../src/spec/commands.js";
import {
  CONTROL, MMIO_COMMAND_BUFFER_HEAD, MMIO_COMMAND_BUFFER_TAIL, MMIO_CONTROL, MMIO_GA_LOG_BASE, MMIO_GA_LOG_HEAD, MMIO_GA_LOG_TAIL, MMIO_STATUS, STATUS,
} from "../../src/spec/registers.js";
import { InterruptTable } from "../../src/builders/interrupt-table.js";
import { controlBits, sharedRig } from "./shared-setup.js";

function setUp() {
  const rig = sharedRig({ control: ["CmdBufEn", "EventLogEn", "ComWaitIntEn", "IommuEn"] });
  const agent = new SharedIommuAgent({ memory: rig.memory, mailbox: rig.mailbox });
  return { rig, agent };
}

describe("MMIO mailbox", () => {
  it("posted writes take effect only when the agent services the mailbox, in the order posted", () => {
    const { rig, agent } = setUp();
    expect(agent.iommu.mmioRead64(MMIO_CONTROL)).toBe(0n); // the enable sequence is still only posted
    expect(agent.poll()).toBe(true);
    const enabled = agent.iommu.mmioRead64(MMIO_CONTROL);
    expect(enabled & BigInt(CONTROL.IommuEn.mask)).not.toBe(0n);
    // two writes to the same register: the later one wins
    rig.mailbox.postWrite64(MMIO_CONTROL, 0n);
    rig.mailbox.postWrite64(MMIO_CONTROL, enabled);
    agent.service();
    expect(agent.iommu.mmioRead64(MMIO_CONTROL)).toBe(enabled);
    expect(agent.poll()).toBe(false); // nothing left
  });

  it("a write applied by the agent has the register's side effects (CmdBufEn 0 -> 1 sets CmdBufRun)", () => {
    const { agent } = setUp();
    agent.service();
    expect(agent.iommu.regs.test(MMIO_STATUS, STATUS.CmdBufRun)).toBe(true);
    expect(agent.mailbox.read64(MMIO_STATUS) & BigInt(STATUS.CmdBufRun.mask)).not.toBe(0n); // and the mirror shows it
  });

  it("the Tail write is a doorbell: the COMPLETION_WAIT store has landed and Head moved when service() returns", () => {
    const { rig, agent } = setUp();
    agent.service();
    const driver = new SharedHostDriver({
      memory: rig.memory, mailbox: rig.mailbox, semaphore: rig.layout.semaphore,
      commandBuffer: { base: rig.layout.commandBase, bytes: rig.layout.commandBytes },
    });
    driver.submit(buildCompletionWait({ store: true, interrupt: true, address: rig.layout.semaphore, data: 0x1_2345_6789n }));
    expect(rig.memory.read64(rig.layout.semaphore)).toBe(0n);
    const interrupts = rig.mailbox.interrupts("completion-wait");
    agent.service();
    expect(rig.memory.read64(rig.layout.semaphore)).toBe(0x1_2345_6789n);
    expect(rig.mailbox.read64(MMIO_COMMAND_BUFFER_HEAD)).toBe(rig.mailbox.read64(MMIO_COMMAND_BUFFER_TAIL));
    expect(rig.mailbox.interrupts("completion-wait")).toBe(interrupts + 1);
  });

  it("a host whose completion wait nobody serves gets false after timeoutMs instead of hanging", () => {
    const { rig, agent } = setUp();
    agent.service();
    const driver = new SharedHostDriver({
      memory: rig.memory, mailbox: rig.mailbox, semaphore: rig.layout.semaphore,
      commandBuffer: { base: rig.layout.commandBase, bytes: rig.layout.commandBytes }, timeoutMs: 20,
    });
    expect(driver.completionWait()).toBe(false);
    agent.service(); // once served, the store lands
    expect(driver.waitSemaphore(1n, 20)).toBe(true);
  });

  it("a full mailbox blocks the host; with nobody draining it the post fails after timeoutMs", () => {
    const { rig } = setUp();
    for (let i = rig.mailbox.posted; i < MAILBOX_SLOTS; i++) rig.mailbox.postBarrier();
    expect(() => rig.mailbox.postBarrier(20)).toThrow(/timeoutMs/);
    expect(rig.mailbox.waitApplied(rig.mailbox.posted, 10)).toBe(false);
  });
});

describe("MMIO mailbox: GA-log interrupts (docs/spec-readings.md irq 2.3)", () => {
  it("a GA-log interrupt raised by the agent's IOMMU is counted in the mailbox (word 9) and wakes a host waiting for \"ga-log\"", () => {
    const rig = sharedRig({ control: ["CmdBufEn", "EventLogEn", "IommuEn"] });
    const DEV = 0x30;
    const gaLog = rig.pages.allocContiguous(1), backing = rig.pages.alloc();
    const table = new InterruptTable(rig.memory, rig.pages, { format: "128", intTabLen: 9 });
    table.set(4, { RemapEn: true, GuestMode: true, Vector: 0x41, IsRun: false, GALogIntr: true, GATag: 0x1234, VapicBackingPage: backing });
    rig.deviceTable.set(DEV, { V: true, TV: true, Mode: 0, DomainID: 1, ...table.dteFields() });
    // Linux's enable_iommus_vapic, posted: base (GALogLen 8), head = tail = 0, GAIntEn, GALogEn, then GAMEn = 001b
    rig.mailbox.postWrite64(MMIO_GA_LOG_BASE, BigInt(gaLog) | (8n << 56n));
    rig.mailbox.postWrite64(MMIO_GA_LOG_HEAD, 0n);
    rig.mailbox.postWrite64(MMIO_GA_LOG_TAIL, 0n);
    const ctl = controlBits(["CmdBufEn", "EventLogEn", "IommuEn", "GAEn", "XTEn"]) | (4n << 5n);
    rig.mailbox.postWrite64(MMIO_CONTROL, ctl | controlBits(["GAIntEn", "GALogEn"]));
    rig.mailbox.postWrite64(MMIO_CONTROL, ctl | controlBits(["GAIntEn", "GALogEn"]) | (1n << 25n));
    const agent = new SharedIommuAgent({ memory: rig.memory, mailbox: rig.mailbox });
    agent.service();
    expect(rig.mailbox.interrupts("ga-log")).toBe(0);
    const r = agent.iommu.remapInterrupt({ deviceId: DEV, address: 0xfee0_0000, data: 4 });
    expect([r.ok, r.posted, r.gaLogged]).toEqual([true, true, true]);
    expect(rig.mailbox.interrupts("ga-log")).toBe(1);
    expect(rig.mailbox.waitInterrupt("ga-log", 0, 10)).toBe(1);
    // the other sources are untouched; after a publish the host sees the log's Tail and Status.GAInt
    expect([rig.mailbox.interrupts("event-log"), rig.mailbox.interrupts("ppr-log"), rig.mailbox.interrupts("completion-wait")]).toEqual([0, 0, 0]);
    agent.publish();
    expect(rig.mailbox.read64(MMIO_GA_LOG_TAIL)).toBe(8n);
    expect(rig.mailbox.read64(MMIO_STATUS) & BigInt(STATUS.GAInt.mask)).toBe(BigInt(STATUS.GAInt.mask));
  });

  it("an unknown interrupt source is an error naming it", () => {
    const rig = sharedRig();
    expect(() => rig.mailbox.interrupts("galog" as never)).toThrow(/"ga-log"/);
    expect(() => rig.mailbox.waitInterrupt("galog" as never, 0, 1)).toThrow(/"ga-log"/);
    for (const inherited of ["constructor", "__proto__", "toString"]) expect(() => rig.mailbox.interrupts(inherited as never), inherited).toThrow(/source must be/);
  });
});
