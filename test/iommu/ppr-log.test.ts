/**
 * The PPR log and the IOMMU side of PRI (docs/spec-readings.md cmd 3.1-3.3, 2.3 code 09h):
 * PAGE_SERVICE_REQUEST entries when PPREn, PPRLogEn and DTE.PPR allow it,
 * INVALID_PPR_REQUEST when they do not, overflow with nothing overwritten (the requester is
 * told only with PPR auto-response), PprInt and the interrupt, the early-overflow warning.
 */
import { describe, expect, it } from "vitest";
import { IommuTestbench } from "../../src/builders/testbench.js";
import type { EndpointPort, PrgResponse } from "../../src/iommu/endpoint-port.js";
import type { PageRequest } from "../../src/iommu/ppr-log.js";
import type { InterruptSource } from "../../src/iommu/options.js";
import { PPR_RESPONSE } from "../../src/spec/commands.js";
import { EV_INVALID_PPR_REQUEST } from "../../src/spec/events.js";
import { PPR_CODE_PAGE_SERVICE_REQUEST, decodePprEntry } from "../../src/spec/ppr.js";
import {
  MMIO_CONTROL, MMIO_EXTENDED_FEATURE, MMIO_PPR_AUTO_RESPONSE, MMIO_PPR_LOG_HEAD, MMIO_PPR_LOG_TAIL, MMIO_PPR_OVERFLOW_EARLY, MMIO_STATUS, STATUS,
} from "../../src/spec/registers.js";
import { regBit } from "../device/sva-fixture.js";

const DEV = 0x0410;

function setup(o: { ringLen?: number; dte?: Record<string, unknown>; features?: Record<string, boolean> } = {}) {
  const irqs: InterruptSource[] = [];
  const tb = new IommuTestbench({ bytes: 8 * 1024 * 1024, deviceTableEntries: 2048, ringLen: o.ringLen ?? 9, iommu: { onInterrupt: (s) => irqs.push(s), ...(o.features ? { features: o.features } : {}) } });
  tb.deviceTable.set(DEV, { V: true, TV: true, IR: true, IW: true, DomainID: 7, I: true, PPR: true, ...(o.dte ?? {}) });
  const responses: PrgResponse[] = [];
  const port: EndpointPort = { atsInvalidate: () => 0, prgResponse: (r) => { responses.push({ ...r }); } };
  tb.iommu.attachEndpoint(DEV, port);
  return { tb, io: tb.iommu, irqs, responses };
}

function req(over: Partial<PageRequest> = {}): PageRequest {
  return { deviceId: DEV, pasid: 0x5a5a5, address: 0x7fff_1234_5000n, prgIndex: 0x155, last: true, read: true, write: false, ...over };
}

function fill(s: ReturnType<typeof setup>): number {
  const slots = s.tb.ringBytes / 16 - 1; // one slot always stays empty
  for (let i = 0; i < slots; i++) expect(s.io.pageRequest(req({ prgIndex: i & 0x1ff }))).toBe("logged");
  return slots;
}

/** Event-log entries of code 9 decoded in the PPR layout. */
function invalidPpr(tb: IommuTestbench) {
  return tb.events().filter((e) => e.code === EV_INVALID_PPR_REQUEST).map((e) => decodePprEntry(e.raw));
}

describe("PPR log: PAGE_SERVICE_REQUEST entries", () => {
  it("a page request is logged with every field: DeviceID, PASID[15:0] and [19:16], PRG index, L, READ/WRITE/EXEC, US, GN, the page address", () => {
    const { tb, io } = setup();
    expect(io.pageRequest(req({ execute: true, privileged: true, write: true, read: false }))).toBe("logged");
    const e = tb.pprEntries();
    expect(e).toEqual([{
      code: PPR_CODE_PAGE_SERVICE_REQUEST, deviceId: DEV, pasid: 0x5a5a5, prgIndex: 0x155, last: true,
      exec: true, read: false, write: true, user: false, rz: false, gn: true, address: 0x7fff_1234_5000n,
    }]);
  });

  it("without a PASID prefix GN = 0 and PASID = 0; an unprivileged request has US = 1; L = 0 is kept", () => {
    const { tb, io } = setup();
    io.pageRequest(req({ pasid: undefined, last: false }));
    expect(tb.pprEntries()[0]).toMatchObject({ gn: false, pasid: 0, user: true, last: false, read: true });
  });

  it("the page address carries no offset: bits 11:0 of the request's address are not logged", () => {
    const { tb, io } = setup();
    io.pageRequest(req({ address: 0x1234_5fff }));
    expect(tb.pprEntries()[0]!.address).toBe(0x1234_5000n);
  });

  it("the entry is written at Tail, then Tail advances by 16 (software reads it at Head)", () => {
    const { tb, io } = setup();
    io.pageRequest(req({ prgIndex: 1 }));
    io.pageRequest(req({ prgIndex: 2 }));
    expect(Number(io.mmioRead64(MMIO_PPR_LOG_TAIL))).toBe(32);
    expect(decodePprEntry([0, 1, 2, 3].map((i) => tb.memory.read32(tb.pprLogBase + 16 + 4 * i))).prgIndex).toBe(2);
    expect(tb.pprEntries().map((x) => x.prgIndex)).toEqual([1, 2]);
    expect(Number(io.mmioRead64(MMIO_PPR_LOG_HEAD))).toBe(32);
  });

  it("PprInt is set and the PPR-log interrupt raised when PPRIntEn = 1", () => {
    const { tb, io, irqs } = setup();
    tb.control(["PprIntEn"]);
    io.pageRequest(req());
    expect(regBit(io, MMIO_STATUS, STATUS.PprInt)).toBe(true);
    expect(irqs).toEqual(["ppr-log"]);
  });

  it("with PPRIntEn = 0 the entry is logged but PprInt stays clear and nothing is raised", () => {
    const { tb, io, irqs } = setup();
    io.pageRequest(req());
    expect(tb.pprEntries()).toHaveLength(1);
    expect(regBit(io, MMIO_STATUS, STATUS.PprInt)).toBe(false);
    expect(irqs).toEqual([]);
  });
});

describe("PPR log: INVALID_PPR_REQUEST (event 09h, PPR layout) when the request is not allowed", () => {
  const cases: [string, (s: ReturnType<typeof setup>) => void, Parameters<typeof setup>[0]?][] = [
    ["Control.PPREn = 0", (s) => s.tb.control([], ["PPREn"])],
    ["DTE.PPR = 0", () => {}, { dte: { PPR: false } }],
    ["DTE.V = 0", () => {}, { dte: { V: false } }],
  ];
  for (const [what, prepare, opts] of cases) {
    it(`${what}: nothing in the PPR log, INVALID_PPR_REQUEST with DeviceID, PASID, tag and address; no PRG Response`, () => {
      const s = setup(opts);
      prepare(s);
      expect(s.io.pageRequest(req())).toBe("invalid");
      expect(s.tb.pprEntries()).toEqual([]);
      expect(invalidPpr(s.tb)).toEqual([{
        code: EV_INVALID_PPR_REQUEST, deviceId: DEV, pasid: 0x5a5a5, prgIndex: 0x155, last: true,
        exec: false, read: true, write: false, user: true, rz: false, gn: true, address: 0x7fff_1234_5000n,
      }]);
      expect(s.responses).toEqual([]);
    });
  }

  // IommuEn = 0 (refused, nothing logged): test/conformance/registers-dte-commands.conformance.test.ts

  it("EFR.PPRSup = 0: the IOMMU takes no page requests (INVALID_PPR_REQUEST)", () => {
    const s = setup({ features: { ppr: false } });
    s.tb.deviceTable.set(DEV, { V: true, TV: true, IR: true, IW: true, DomainID: 7 }); // DTE.PPR would be reserved
    expect(s.io.pageRequest(req())).toBe("invalid");
    expect(invalidPpr(s.tb)).toHaveLength(1);
  });

  it("a DeviceID beyond the device table (an unfetchable DTE) is refused the same way", () => {
    const s = setup();
    expect(s.io.pageRequest(req({ deviceId: 0xfff0 }))).toBe("invalid");
    expect(invalidPpr(s.tb).map((e) => e.deviceId)).toEqual([0xfff0]);
  });
});

describe("PPR log: overflow and a stopped log", () => {

  it("a full log sets PprOverflow and clears PprLogRun; nothing is written or overwritten", () => {
    const s = setup({ ringLen: 8 });
    const slots = fill(s);
    const before = Array.from({ length: s.tb.ringBytes / 4 }, (_, i) => s.tb.memory.read32(s.tb.pprLogBase + 4 * i));
    const tail = Number(s.io.mmioRead64(MMIO_PPR_LOG_TAIL));
    expect(s.io.pageRequest(req({ prgIndex: 7 }))).toBe("dropped");
    expect(regBit(s.io, MMIO_STATUS, STATUS.PprOverflow)).toBe(true);
    expect(regBit(s.io, MMIO_STATUS, STATUS.PprLogRun)).toBe(false);
    expect(Number(s.io.mmioRead64(MMIO_PPR_LOG_TAIL))).toBe(tail);
    const after = Array.from({ length: s.tb.ringBytes / 4 }, (_, i) => s.tb.memory.read32(s.tb.pprLogBase + 4 * i));
    expect(after).toEqual(before);
    expect(s.tb.pprEntries()).toHaveLength(slots);
  });

  it("without PPR extras the dropped request's group gets no answer: the function keeps waiting (docs/spec-readings.md irq 4.2)", () => {
    const s = setup({ ringLen: 8 });
    fill(s);
    expect(s.io.pageRequest(req({ prgIndex: 0x42, pasid: 9 }))).toBe("dropped");
    expect(s.responses).toEqual([]);
  });

  it("the overflow raises the PPR-log interrupt when PPRIntEn = 1", () => {
    const s = setup({ ringLen: 8 });
    fill(s);
    s.tb.control(["PprIntEn"]);
    s.irqs.length = 0;
    s.io.pageRequest(req());
    expect(s.irqs).toEqual(["ppr-log"]);
  });

  it("after an overflow the log stays stopped even when software makes room: later requests are dropped too", () => {
    const s = setup({ ringLen: 8 });
    fill(s);
    s.io.pageRequest(req({ prgIndex: 1 }));
    s.tb.pprEntries(); // software drains: the log is empty again, but PprLogRun = 0
    expect(s.io.pageRequest(req({ prgIndex: 2 }))).toBe("dropped");
    expect(s.tb.pprEntries()).toEqual([]);
    expect(s.responses).toEqual([]);
  });

  it("software restarts the log (clear PPRLogEn, write 1 to PprOverflow, set PPRLogEn) and requests are logged again", () => {
    const s = setup({ ringLen: 8 });
    fill(s);
    s.io.pageRequest(req());
    s.tb.pprEntries();
    s.tb.control([], ["PPRLogEn"]);
    s.io.mmioWrite32(MMIO_STATUS + 4 * STATUS.PprOverflow.half, STATUS.PprOverflow.mask);
    s.tb.control(["PPRLogEn"]);
    expect(regBit(s.io, MMIO_STATUS, STATUS.PprOverflow)).toBe(false);
    expect(regBit(s.io, MMIO_STATUS, STATUS.PprLogRun)).toBe(true);
    expect(s.io.pageRequest(req({ prgIndex: 0x99 }))).toBe("logged");
    expect(s.tb.pprEntries().map((e) => e.prgIndex)).toEqual([0x99]);
  });

  it("PPRLogEn = 0 with PPREn = 1: the request is accepted but cannot be logged, so it is dropped (no event, no answer)", () => {
    const s = setup();
    s.tb.control([], ["PPRLogEn"]);
    expect(s.io.pageRequest(req())).toBe("dropped");
    expect(s.tb.pprEntries()).toEqual([]);
    expect(s.tb.events()).toEqual([]);
    expect(s.responses).toEqual([]);
  });
});

describe("PPR auto-response (docs/spec-readings.md irq 4.1, 4.2; UNCERTAIN 19)", () => {
  const AUTO = { features: { pprAutoResponse: true } };
  const ctl = (s: ReturnType<typeof setup>, bits: bigint) => s.io.mmioWrite64(MMIO_CONTROL, s.io.mmioRead64(MMIO_CONTROL) | bits);
  const EN = 1n << 39n, AON = 1n << 42n;
  it("EFR.PprAutoRspSup is 0 by default and 1 with features.pprAutoResponse; register 0x2080 exists only then", () => {
    const off = setup();
    expect((off.io.mmioRead64(MMIO_EXTENDED_FEATURE) >> 41n) & 1n).toBe(0n);
    off.io.mmioWrite64(MMIO_PPR_AUTO_RESPONSE, 0x1fn);
    expect(off.io.mmioRead64(MMIO_PPR_AUTO_RESPONSE)).toBe(0n);
    const on = setup(AUTO);
    expect((on.io.mmioRead64(MMIO_EXTENDED_FEATURE) >> 41n) & 1n).toBe(1n);
    on.io.mmioWrite64(MMIO_PPR_AUTO_RESPONSE, 0xffn);
    expect(on.io.mmioRead64(MMIO_PPR_AUTO_RESPONSE)).toBe(0x1fn);
  });
  it("PprAutoRspEn = 1: a request the full log cannot take is answered with PprAutoRspCode (L = 1)", () => {
    const s = setup({ ringLen: 8, ...AUTO });
    s.io.mmioWrite64(MMIO_PPR_AUTO_RESPONSE, BigInt(PPR_RESPONSE.InvalidRequest));
    ctl(s, EN);
    fill(s);
    expect(s.responses).toEqual([]);
    expect(s.io.pageRequest(req({ prgIndex: 0x42, pasid: 9 }))).toBe("dropped");
    expect(s.responses).toEqual([expect.objectContaining({ deviceId: DEV, prgIndex: 0x42, pasid: 9, gn: true, responseCode: PPR_RESPONSE.InvalidRequest })]);
  });
  it("a dropped request with L = 0 gets no response of its own (the group is answered at its last request)", () => {
    const s = setup({ ringLen: 8, ...AUTO });
    ctl(s, EN);
    fill(s);
    s.io.pageRequest(req({ prgIndex: 3, last: false }));
    expect(s.responses).toEqual([]);
    s.io.pageRequest(req({ prgIndex: 3, last: true }));
    expect(s.responses.map((r) => r.prgIndex)).toEqual([3]);
  });
  it("PprAutoRspMaskGn = 1: the automatic response carries no PASID", () => {
    const s = setup({ ringLen: 8, ...AUTO });
    s.io.mmioWrite64(MMIO_PPR_AUTO_RESPONSE, 0x10n | BigInt(PPR_RESPONSE.ResponseFailure));
    ctl(s, EN);
    fill(s);
    s.io.pageRequest(req({ prgIndex: 0x42, pasid: 9 }));
    expect(s.responses).toEqual([expect.objectContaining({ gn: false, pasid: 0, responseCode: PPR_RESPONSE.ResponseFailure })]);
  });
  it("PprAutoRspAon = 1: every request is answered by the IOMMU and not logged (outcome \"answered\")", () => {
    const s = setup(AUTO);
    ctl(s, EN | AON);
    expect(s.io.pageRequest(req({ prgIndex: 5 }))).toBe("answered");
    expect(s.tb.pprEntries()).toEqual([]);
    expect(s.responses.map((r) => [r.prgIndex, r.responseCode])).toEqual([[5, 0]]);
  });
  it("the Control bits do nothing without EFR.PprAutoRspSup", () => {
    const s = setup({ ringLen: 8 });
    ctl(s, EN | AON);
    expect(s.io.pageRequest(req())).toBe("logged");
    s.tb.pprEntries();
    fill(s);
    expect(s.io.pageRequest(req())).toBe("dropped");
    expect(s.responses).toEqual([]);
  });
});

describe("PPR early-overflow warning (docs/spec-readings.md irq 4.1, 4.2; UNCERTAIN 20)", () => {
  const EARLY = { features: { pprEarlyOverflow: true } };
  const early = (s: ReturnType<typeof setup>) => regBit(s.io, MMIO_STATUS, STATUS.PprOverflowEarly);
  it("valid entries reaching the threshold set Status.PprOverflowEarly (bit 18) once and raise the PPR interrupt with PprOvrflwEarlyIntEn", () => {
    const s = setup(EARLY);
    expect((s.io.mmioRead64(MMIO_EXTENDED_FEATURE) >> 40n) & 1n).toBe(1n);
    s.io.mmioWrite64(MMIO_PPR_OVERFLOW_EARLY, (1n << 31n) | (1n << 30n) | 3n);
    s.io.pageRequest(req()); s.io.pageRequest(req());
    expect([early(s), s.irqs.length]).toEqual([false, 0]);
    s.io.pageRequest(req());
    expect([early(s), s.irqs]).toEqual([true, ["ppr-log"]]);
    s.io.pageRequest(req());
    expect(s.irqs.length).toBe(1);
    // software clears the bit (W1C): the warning re-arms
    s.io.mmioWrite64(MMIO_STATUS, 1n << 18n);
    expect(early(s)).toBe(false);
    s.io.pageRequest(req());
    expect([early(s), s.irqs.length]).toEqual([true, 2]);
  });
  it("PprOvrflwEarlyEn = 0: no warning; PprOvrflwEarlyIntEn = 0: the status bit without an interrupt", () => {
    const s = setup(EARLY);
    s.io.mmioWrite64(MMIO_PPR_OVERFLOW_EARLY, 1n);
    s.io.pageRequest(req());
    expect(early(s)).toBe(false);
    s.io.mmioWrite64(MMIO_PPR_OVERFLOW_EARLY, (1n << 31n) | 1n);
    s.io.pageRequest(req());
    expect([early(s), s.irqs.length]).toEqual([true, 0]);
  });
  it("without EFR.PprOvrflwEarlySup the register is absent and nothing happens", () => {
    const s = setup();
    s.io.mmioWrite64(MMIO_PPR_OVERFLOW_EARLY, (1n << 31n) | 1n);
    s.io.pageRequest(req());
    expect([s.io.mmioRead64(MMIO_PPR_OVERFLOW_EARLY), early(s)]).toEqual([0n, false]);
  });
});

describe("PPR log: embedder misuse throws, naming the field", () => {
  const bad: [string, Partial<PageRequest>, RegExp][] = [
    ["deviceId above 65535", { deviceId: 0x10000 }, /deviceId/],
    ["a 21-bit PASID", { pasid: 1 << 20 }, /pasid/],
    ["a PRG index above 511", { prgIndex: 512 }, /prgIndex/],
    ["a negative address", { address: -4096 }, /address/],
    ["an address of 2^64", { address: 1n << 64n }, /address/],
    ["last not a boolean", { last: 1 as unknown as boolean }, /last/],
  ];
  for (const [what, over, re] of bad) {
    it(what, () => {
      const s = setup();
      expect(() => s.io.pageRequest(req(over))).toThrow(re);
      expect(s.tb.pprEntries()).toEqual([]);
    });
  }
});
