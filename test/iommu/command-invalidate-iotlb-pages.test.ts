/**
 * INVALIDATE_IOTLB_PAGES (opcode 04h; docs/spec-readings.md cmd 1.3, 2.3 and 4.1): an ATS
 * Invalidate Request to the device TLB of DeviceID, PASID-tagged with GN = 1, range per S;
 * it finishes when the device's completion arrives or Control.InvTimeOut expires, which
 * logs IOTLB_INV_TIMEOUT (DeviceID, Address = SPA of the command).
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { IommuTestbench } from "../../src/builders/testbench.js";
import { PcieEndpoint } from "../../src/device/pcie-endpoint.js";
import type { AtsInvalidation, EndpointPort } from "../../src/iommu/endpoint-port.js";
import { ALL_PAGES_ADDRESS, buildCompletionWait, buildInvalidateIotlbPages, commandByName, decodeInvalidationRange } from "../../src/spec/commands.js";
import { EV_IOTLB_INV_TIMEOUT } from "../../src/spec/events.js";
import { CONTROL, INV_TIMEOUT_NS, MMIO_COMMAND_BUFFER_TAIL, MMIO_CONTROL } from "../../src/spec/registers.js";

const DEV = 0x0208;
const OP_CW = commandByName("COMPLETION_WAIT").opcode;

function bench() {
  const tb = new IommuTestbench({ bytes: 8 * 1024 * 1024, deviceTableEntries: 1024 });
  return { tb, io: tb.iommu };
}

/** An endpoint port that records what reaches it and answers after `latency` (null: never). */
function recorder(latency: number | null) {
  const got: AtsInvalidation[] = [];
  const port: EndpointPort = { atsInvalidate: (r) => { got.push({ ...r }); return latency; }, prgResponse: () => {} };
  return { got, port };
}

function setInvTimeOut(tb: IommuTestbench, v: number): void {
  const f = CONTROL.InvTimeOut;
  const off = MMIO_CONTROL + 4 * f.half;
  tb.iommu.mmioWrite32(off, ((tb.iommu.mmioRead32(off) & ~f.mask) | (v << f.shift)) >>> 0);
}

/** The start cycle of every COMPLETION_WAIT executed from now on. */
function cwStarts(io: IommuTestbench["iommu"]): number[] {
  const starts: number[] = [];
  const prev = io.commands.onCommand;
  io.commands.onCommand = (op, a, dw, s, e) => { prev?.(op, a, dw, s, e); if (op === OP_CW) starts.push(s); };
  return starts;
}

describe("INVALIDATE_IOTLB_PAGES: fields", () => {
  it("DeviceID routes the request to the endpoint attached there, and only to it", () => {
    const { tb, io } = bench();
    const a = recorder(100), b = recorder(100);
    io.attachEndpoint(DEV, a.port);
    io.attachEndpoint(DEV + 1, b.port);
    tb.sync(buildInvalidateIotlbPages({ deviceId: DEV, address: 0x5000 }));
    expect(a.got).toHaveLength(1);
    expect(b.got).toHaveLength(0);
    expect(a.got[0]).toMatchObject({ deviceId: DEV, gn: false, start: 0x5000n, size: 0x1000n, all: false });
  });

  it("the PASID is assembled from dw1[27:24] (19:16), dw0[23:16] (15:8) and dw1[23:16] (7:0), and GN = 1 tags the request", () => {
    const { tb, io } = bench();
    const r = recorder(10);
    io.attachEndpoint(DEV, r.port);
    tb.sync(buildInvalidateIotlbPages({ deviceId: DEV, gn: true, pasid: 0xabcde, address: 0 }));
    expect(r.got[0]).toMatchObject({ gn: true, pasid: 0xabcde });
  });

  it("MaxPend and QueueID are accepted (not reserved) and do not change the request", () => {
    const { tb, io } = bench();
    const r = recorder(10);
    io.attachEndpoint(DEV, r.port);
    expect(tb.sync(buildInvalidateIotlbPages({ deviceId: DEV, address: 0x3000, maxPend: 32, queueId: 0x1234 }))).toBe(true);
    expect(tb.events()).toEqual([]);
    expect(r.got[0]).toMatchObject({ start: 0x3000n, size: 0x1000n });
  });

  it("S = 1 sends the naturally aligned range; the all-pages address sends 'all'", () => {
    const { tb, io } = bench();
    const r = recorder(10);
    io.attachEndpoint(DEV, r.port);
    tb.sync(buildInvalidateIotlbPages({ deviceId: DEV, s: true, address: 0x40_b000 }), buildInvalidateIotlbPages({ deviceId: DEV, s: true, address: ALL_PAGES_ADDRESS }));
    expect(r.got[0]).toMatchObject({ start: 0x40_8000n, size: 0x8000n, all: false });
    expect(r.got[1]).toMatchObject({ all: true });
  });

  it("the range sent equals the spec codec's reading of Address and S, for any 64-bit address (property)", () => {
    const { tb, io } = bench();
    const r = recorder(10);
    io.attachEndpoint(DEV, r.port);
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.boolean(), fc.integer({ min: 0, max: 52 }), (a, s, ones) => {
      const address = a | (((1n << BigInt(ones)) - 1n) << 12n) & ((1n << 64n) - 1n);
      r.got.length = 0;
      tb.sync(buildInvalidateIotlbPages({ deviceId: DEV, s, address: address & ((1n << 64n) - 1n) }));
      const d = decodeInvalidationRange(address & ((1n << 64n) - 1n), s);
      expect(r.got).toHaveLength(1);
      expect({ start: r.got[0]!.start, size: r.got[0]!.size, all: r.got[0]!.all }).toEqual(d);
    }), { numRuns: 300 });
  });
});

describe("INVALIDATE_IOTLB_PAGES: completion and IOTLB_INV_TIMEOUT", () => {
  it("an endpoint that answers in time: no event, the following COMPLETION_WAIT starts after the answer", () => {
    const { tb, io } = bench();
    new PcieEndpoint(io, { deviceId: DEV, invalidationLatency: 4000 });
    const starts = cwStarts(io);
    const t0 = io.now;
    expect(tb.sync(buildInvalidateIotlbPages({ deviceId: DEV, address: 0 }))).toBe(true);
    expect(tb.events()).toEqual([]);
    expect(starts[0]).toBeGreaterThanOrEqual(t0 + 4000 + 2 * io.timing.pcieLinkLatency);
  });

  it("an endpoint that never answers: after InvTimeOut (1 = 1 ms) IOTLB_INV_TIMEOUT names the DeviceID and the command's SPA, then the wait completes", () => {
    const { tb, io } = bench();
    new PcieEndpoint(io, { deviceId: DEV, invalidationLatency: null });
    setInvTimeOut(tb, 1);
    const starts = cwStarts(io);
    const t0 = io.now;
    const cmdAt = tb.commandBuffer + Number(io.mmioRead64(MMIO_COMMAND_BUFFER_TAIL)); // the slot at Tail gets the command
    expect(tb.sync(buildInvalidateIotlbPages({ deviceId: DEV, address: 0x9000 }))).toBe(true);
    const ev = tb.events();
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ code: EV_IOTLB_INV_TIMEOUT, deviceId: DEV, address: BigInt(cmdAt) });
    expect(starts[0]).toBeGreaterThanOrEqual(t0 + INV_TIMEOUT_NS[1]!);
    expect(io.commands.stats.atsTimeouts).toBe(1);
  });

  it("an answer later than the timeout also times out", () => {
    const { tb, io } = bench();
    new PcieEndpoint(io, { deviceId: DEV, invalidationLatency: 2 * INV_TIMEOUT_NS[1]! });
    setInvTimeOut(tb, 1);
    tb.sync(buildInvalidateIotlbPages({ deviceId: DEV, address: 0 }));
    expect(tb.events().map((e) => e.code)).toEqual([EV_IOTLB_INV_TIMEOUT]);
  });

  it("InvTimeOut = 2 waits 10 ms: the wait ends at the longer timeout", () => {
    const { tb, io } = bench();
    new PcieEndpoint(io, { deviceId: DEV, invalidationLatency: null });
    setInvTimeOut(tb, 2);
    const starts = cwStarts(io);
    const t0 = io.now;
    tb.sync(buildInvalidateIotlbPages({ deviceId: DEV, address: 0 }));
    expect(starts[0]).toBeGreaterThanOrEqual(t0 + INV_TIMEOUT_NS[2]!);
    expect(starts[0]).toBeLessThan(t0 + INV_TIMEOUT_NS[2]! + 10_000);
  });

  it("no endpoint at the DeviceID: nothing answers, so the invalidation times out", () => {
    const { tb } = bench();
    setInvTimeOut(tb, 1);
    tb.sync(buildInvalidateIotlbPages({ deviceId: 0x0777, address: 0 }));
    expect(tb.events().map((e) => [e.code, e.deviceId])).toEqual([[EV_IOTLB_INV_TIMEOUT, 0x0777]]);
  });

  it("a timeout is logged as time passes even when no COMPLETION_WAIT follows", () => {
    const { tb, io } = bench();
    new PcieEndpoint(io, { deviceId: DEV, invalidationLatency: null });
    setInvTimeOut(tb, 1);
    tb.submit(buildInvalidateIotlbPages({ deviceId: DEV, address: 0 }));
    io.runUntilIdle();
    expect(tb.events().map((e) => e.code)).toEqual([EV_IOTLB_INV_TIMEOUT]);
    expect(io.commands.pendingAts).toBe(0);
  });

  it("two outstanding invalidations, one answered and one not: one timeout event, for the silent device", () => {
    const { tb, io } = bench();
    new PcieEndpoint(io, { deviceId: DEV, invalidationLatency: 500 });
    new PcieEndpoint(io, { deviceId: DEV + 8, invalidationLatency: null });
    setInvTimeOut(tb, 1);
    tb.sync(buildInvalidateIotlbPages({ deviceId: DEV, address: 0 }), buildInvalidateIotlbPages({ deviceId: DEV + 8, address: 0 }));
    expect(tb.events().map((e) => [e.code, e.deviceId])).toEqual([[EV_IOTLB_INV_TIMEOUT, DEV + 8]]);
  });

  it("the completion-wait store after a timed-out invalidation still lands (software sees the event, not a hang)", () => {
    const { tb, io } = bench();
    new PcieEndpoint(io, { deviceId: DEV, invalidationLatency: null });
    setInvTimeOut(tb, 1);
    tb.submit(buildInvalidateIotlbPages({ deviceId: DEV, address: 0 }), buildCompletionWait({ store: true, address: tb.semaphore, data: 11n }));
    io.runUntilIdle();
    expect(tb.memory.read64(tb.semaphore)).toBe(11n);
  });
});
