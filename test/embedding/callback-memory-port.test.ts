/**
 * CallbackMemoryPort: the IOMMU over an embedder's memory reached through read32 / write32 /
 * cas32 callbacks gives the same architectural results as over PhysicalMemory, with every
 * access (table reads, A/D compare-exchanges, log writes, completion-wait stores) a call.
 */
import { describe, expect, it } from "vitest";
import { buildScenario, scenarioRequests, HOST } from "./scenario.js";
import { AmdIommu, CallbackMemoryPort, spec, type TranslationResult } from "../../src/index.js";

const { MMIO_DEVICE_TABLE_BASE, MMIO_COMMAND_BUFFER_TAIL, V1_A, buildCompletionWait, EV_DEV_TAB_HARDWARE_ERROR } = spec;

/** A callback port over a twin's memory, counting calls per kind. */
function portOver(u32: Uint32Array, bytes: number, extra: { contains?: (pa: number, n: number) => boolean; notify?: (pa: number) => void } = {}) {
  const calls = { read32: 0, write32: 0, cas32: 0 };
  const port = new CallbackMemoryPort({
    bytes,
    read32: (pa) => { calls.read32++; return u32[pa / 4]!; },
    write32: (pa, v) => { calls.write32++; u32[pa / 4] = v; },
    cas32: (pa, e, v) => { calls.cas32++; const old = u32[pa / 4]!; if (old === e) u32[pa / 4] = v; return old; },
    ...extra,
  });
  return { port, calls };
}

describe("CallbackMemoryPort", () => {
  it("an IOMMU over callbacks gives PhysicalMemory's results, memory contents and events for every scenario request", () => {
    const a = buildScenario(), b = buildScenario();
    const { port, calls } = portOver(b.tb.memory.u32, b.tb.memory.bytes);
    const io = AmdIommu.restore(b.tb.iommu.snapshot(), { memory: port });
    const plain = (r: TranslationResult) => ({ ...r });
    for (const req of scenarioRequests()) expect(plain(io.translate(req))).toEqual(plain(a.tb.iommu.translate(req)));
    expect(Buffer.compare(new Uint8Array(a.tb.memory.buffer), new Uint8Array(b.tb.memory.buffer))).toBe(0);
    expect(io.stats().translation).toEqual(a.tb.iommu.stats().translation);
    expect(calls.read32).toBeGreaterThan(0);
    expect(calls.cas32).toBe(a.tb.iommu.stats().translation.adUpdates);
  });

  it("A and D are set with the cas32 callback, event-log entries with write32", () => {
    const b = buildScenario();
    const { port, calls } = portOver(b.tb.memory.u32, b.tb.memory.bytes);
    const io = AmdIommu.restore(b.tb.iommu.snapshot(), { memory: port });
    io.translate({ deviceId: HOST, address: 0x1000_0000 });
    expect(calls.cas32).toBe(1);
    expect(b.tb.memory.read32(b.host.entryAddress(0x1000_0000, 1)) & V1_A).toBe(V1_A);
    const w = calls.write32;
    io.translate({ deviceId: HOST, address: 0x5000_0000 });
    expect(calls.write32 - w).toBe(4); // one 16-byte event entry as four 32-bit writes
  });

  it("a hole reported by contains() is answered as the hardware would: DEV_TAB_HARDWARE_ERROR, no callback at the hole", () => {
    const b = buildScenario();
    const dte = Number(b.tb.iommu.mmioRead64(MMIO_DEVICE_TABLE_BASE) & ~0xfffn) + HOST * 32;
    const touched: number[] = [];
    const { port } = portOver(b.tb.memory.u32, b.tb.memory.bytes, { contains: (pa, n) => pa + n <= dte || pa >= dte + 32 });
    const inner = port.load32.bind(port);
    port.load32 = (pa: number) => { touched.push(pa); return inner(pa); };
    const io = AmdIommu.restore(b.tb.iommu.snapshot(), { memory: port });
    const r = io.translate({ deviceId: HOST, address: 0x1000_0000 });
    expect(r).toMatchObject({ ok: false, fault: "dte-hardware-error", event: EV_DEV_TAB_HARDWARE_ERROR });
    expect(touched.filter((pa) => pa >= dte && pa < dte + 32)).toEqual([]);
  });

  it("a completion-wait store is a write32 followed by the notify callback at the semaphore", () => {
    const b = buildScenario();
    const notified: number[] = [];
    const { port } = portOver(b.tb.memory.u32, b.tb.memory.bytes, { notify: (pa) => notified.push(pa) });
    const io = AmdIommu.restore(b.tb.iommu.snapshot(), { memory: port });
    const tail = Number(io.mmioRead64(MMIO_COMMAND_BUFFER_TAIL));
    const cmd = buildCompletionWait({ store: true, address: b.tb.semaphore, data: 0x1234_5678_9abcn });
    for (let i = 0; i < 4; i++) b.tb.memory.write32(b.tb.commandBuffer + tail + 4 * i, cmd[i]!);
    io.mmioWrite64(MMIO_COMMAND_BUFFER_TAIL, BigInt(tail + 16));
    io.runUntilIdle();
    expect(b.tb.memory.read64(b.tb.semaphore)).toBe(0x1234_5678_9abcn);
    expect(notified).toEqual([b.tb.semaphore]);
  });

  it("a sparse Map-backed memory (no SharedArrayBuffer) serves the IOMMU", () => {
    const b = buildScenario();
    const words = new Map<number, number>();
    b.tb.memory.u32.forEach((v, i) => { if (v !== 0) words.set(i * 4, v); });
    const port = new CallbackMemoryPort({
      bytes: 2 ** 40,
      read32: (pa) => words.get(pa) ?? 0,
      write32: (pa, v) => { words.set(pa, v); },
      cas32: (pa, e, v) => { const old = words.get(pa) ?? 0; if (old === e) words.set(pa, v); return old; },
    });
    const io = AmdIommu.restore(b.tb.iommu.snapshot(), { memory: port });
    expect(io.translate({ deviceId: HOST, address: 0x2000_1234 })).toMatchObject({ ok: true, spa: 0x60_1234 });
  });

  it("misuse throws naming the option", () => {
    const f = () => 0;
    expect(() => new CallbackMemoryPort({ bytes: 0, read32: f, write32: f, cas32: f })).toThrow(/options.bytes/);
    expect(() => new CallbackMemoryPort({ bytes: 4096, write32: f, cas32: f } as never)).toThrow(/options.read32/);
    expect(() => new CallbackMemoryPort({ bytes: 4096, read32: f, write32: f, cas32: f, notify: 3 } as never)).toThrow(/options.notify/);
  });
});
