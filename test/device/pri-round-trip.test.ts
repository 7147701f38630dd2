/**
 * PRI end to end (docs/spec-readings.md cmd 3.3, 3.4, 5.e): ATS miss -> page request -> PPR
 * log -> software services the fault and answers with COMPLETE_PPR_REQUEST -> the function
 * retries its ATS translation -> the access completes. Response codes, the outstanding
 * page request allocation, page request groups, unexpected responses.
 */
import { MMIO_PPR_AUTO_RESPONSE } from "../../src/spec/registers.js";
import { describe, expect, it } from "vitest";
import { PcieEndpoint } from "../../src/device/pcie-endpoint.js";
import type { DmaResult } from "../../src/device/dma-engine.js";
import { buildCompletePprRequest, buildInvalidateIommuPages, PPR_RESPONSE } from "../../src/spec/commands.js";
import { EV_INVALID_PPR_REQUEST } from "../../src/spec/events.js";
import { LM_A, LM_D } from "../../src/spec/page-tables.js";
import { decodePprEntry, type DecodedPprEntry } from "../../src/spec/ppr.js";
import { DEVICE_ID, DOMAIN_ID, PASID, svaSetup, type SvaSetup } from "./sva-fixture.js";

const VA = 0x5555_0000;

/** Software's answer to a PPR entry (what the Linux fault handler queues). */
function answer(s: SvaSetup, e: DecodedPprEntry, code: number): void {
  s.tb.submit(buildCompletePprRequest({ deviceId: e.deviceId, pasid: e.pasid, gn: e.gn, prgIndex: e.prgIndex, responseCode: code }));
  s.tb.iommu.runUntilIdle();
}

function completion(s: SvaSetup, ticket: number): DmaResult | undefined {
  return s.ep.dma.completions.get(ticket);
}

describe("PRI round trip", () => {
  it("ATS miss -> PRI page request -> PPR log entry -> software maps the page and answers Success -> the function retries -> the write lands and A/D are set in the guest PTE", () => {
    const s = svaSetup();
    const first = s.ep.write32({ address: VA + 0x10, pasid: PASID }, 0xfeed_beef);
    expect(first).toMatchObject({ status: "stalled", atsRequests: 1, pageRequests: 1 });
    const entries = s.tb.pprEntries();
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ deviceId: DEVICE_ID, pasid: PASID, gn: true, last: true, write: true, address: BigInt(VA) });
    // software: the fault handler maps the page, then completes the group
    const frame = s.frame();
    s.table.map(VA, frame);
    expect(s.ep.run()).toBe(0); // no response yet: nothing to retry
    answer(s, entries[0]!, PPR_RESPONSE.Success);
    expect(s.ep.run()).toBe(1);
    expect(completion(s, first.ticket)).toMatchObject({ status: "done", spa: frame + 0x10, atsRequests: 1 });
    expect(s.tb.memory.read32(frame + 0x10)).toBe(0xfeed_beef);
    const pte = s.tb.memory.read32(s.table.entryAddress(VA, 1));
    expect(pte & (LM_A | LM_D)).toBe(LM_A | LM_D);
    expect(s.ep.pri!.outstanding).toBe(0);
    expect(s.ep.dma.stalled).toEqual([]);
  });

  it("a page request for an address with bit 31 set carries that page address in the PPR entry", () => {
    const s = svaSetup();
    const high = 0x7f12_8000_3000;
    expect(s.ep.read32({ address: high + 0x24, pasid: PASID }).status).toBe("stalled");
    expect(s.tb.pprEntries().map((e) => e.address)).toEqual([BigInt(high)]);
  });

  it("a read of a missing page sets A but not D in the guest PTE after the round trip", () => {
    const s = svaSetup();
    const r = s.ep.read32({ address: VA, pasid: PASID });
    const [e] = s.tb.pprEntries();
    expect(e).toMatchObject({ read: true, write: false });
    s.table.map(VA, s.frame());
    answer(s, e!, PPR_RESPONSE.Success);
    s.ep.run();
    expect(completion(s, r.ticket)!.status).toBe("done");
    expect(s.tb.memory.read32(s.table.entryAddress(VA, 1)) & (LM_A | LM_D)).toBe(LM_A);
  });

  it("a write to a read-only page asks for write access; after software makes it writable the retried write completes", () => {
    const s = svaSetup();
    const frame = s.frame();
    s.table.map(VA, frame, { writable: false });
    const r = s.ep.write32({ address: VA, pasid: PASID }, 9);
    expect(r.status).toBe("stalled");
    const [e] = s.tb.pprEntries();
    expect(e).toMatchObject({ write: true });
    s.table.map(VA, frame); // the fault handler breaks CoW / upgrades the PTE, then flushes the IOMMU TLB
    s.tb.sync(buildInvalidateIommuPages({ domainId: DOMAIN_ID, gn: true, pasid: PASID, pde: true, address: VA }));
    answer(s, e!, PPR_RESPONSE.Success);
    s.ep.run();
    expect(completion(s, r.ticket)!.status).toBe("done");
    expect(s.tb.memory.read32(frame)).toBe(9);
  });

  it("Success while the page is still missing: the retry sends a new page request instead of losing the access", () => {
    const s = svaSetup();
    const r = s.ep.read32({ address: VA, pasid: PASID });
    answer(s, s.tb.pprEntries()[0]!, PPR_RESPONSE.Success);
    expect(s.ep.run()).toBe(0);
    expect(s.ep.dma.stalled.map((x) => x.ticket)).toEqual([r.ticket]);
    expect(s.tb.pprEntries()).toHaveLength(1);
  });

  it("Invalid Request: the access fails without a retry, and PRI stays usable", () => {
    const s = svaSetup();
    const r = s.ep.read32({ address: VA, pasid: PASID });
    answer(s, s.tb.pprEntries()[0]!, PPR_RESPONSE.InvalidRequest);
    expect(s.ep.run()).toBe(1);
    expect(completion(s, r.ticket)!.status).toBe("invalid-request");
    expect(s.tb.pprEntries()).toEqual([]);
    expect(s.ep.pri!.usable).toBe(true);
  });

  it("Response Failure: the access fails, the function sets RF and sends no more page requests until software resets PRI", () => {
    const s = svaSetup();
    const r = s.ep.read32({ address: VA, pasid: PASID });
    answer(s, s.tb.pprEntries()[0]!, PPR_RESPONSE.ResponseFailure);
    s.ep.run();
    expect(completion(s, r.ticket)!.status).toBe("pri-failure");
    expect(s.ep.pri!.responseFailure).toBe(true);
    expect(s.ep.read32({ address: VA + 0x1000, pasid: PASID })).toMatchObject({ status: "pri-failure", pageRequests: 0 });
    expect(s.tb.pprEntries()).toEqual([]);
    s.ep.pri!.reset();
    expect(s.ep.read32({ address: VA + 0x1000, pasid: PASID }).status).toBe("stalled");
    expect(s.tb.pprEntries()).toHaveLength(1);
  });

  it("a reserved response code is taken as Response Failure", () => {
    const s = svaSetup();
    const r = s.ep.read32({ address: VA, pasid: PASID });
    answer(s, s.tb.pprEntries()[0]!, 2);
    s.ep.run();
    expect(completion(s, r.ticket)!.status).toBe("pri-failure");
    expect(s.ep.pri!.responseFailure).toBe(true);
  });

  it("a PPR log with no room, no PPR extras: the request is dropped unanswered and the access stays stalled (docs/spec-readings.md irq 4.2)", () => {
    const s = svaSetup();
    s.tb.control([], ["PPRLogEn"]);
    expect(s.ep.read32({ address: VA, pasid: PASID }).status).toBe("stalled");
    s.ep.run();
    expect(s.ep.dma.stalled).toHaveLength(1);
    expect(s.ep.pri!.responseFailure).toBe(false);
  });

  it("a PPR log with no room and PPR auto-response (code Fh): the IOMMU answers the group at once and the access fails", () => {
    const s = svaSetup({ tb: { iommu: { features: { pprAutoResponse: true } } } });
    s.tb.control([], ["PPRLogEn"]);
    s.tb.iommu.mmioWrite64(MMIO_PPR_AUTO_RESPONSE, 0xfn);
    s.tb.control(["PprAutoRspEn"]);
    expect(s.ep.read32({ address: VA, pasid: PASID }).status).toBe("pri-failure");
    expect(s.ep.dma.stalled).toEqual([]);
    expect(s.ep.pri!.responseFailure).toBe(true);
  });

  it("a request the IOMMU refuses (DTE.PPR = 0) gets INVALID_PPR_REQUEST and no response: the access waits until software answers from the event", () => {
    const s = svaSetup({ dte: { PPR: false } });
    const r = s.ep.read32({ address: VA, pasid: PASID });
    expect(r.status).toBe("stalled");
    const ev = s.tb.events().filter((e) => e.code === EV_INVALID_PPR_REQUEST).map((e) => decodePprEntry(e.raw));
    expect(ev).toHaveLength(1);
    s.ep.run();
    expect(s.ep.dma.stalled).toHaveLength(1);
    answer(s, ev[0]!, PPR_RESPONSE.InvalidRequest);
    s.ep.run();
    expect(completion(s, r.ticket)!.status).toBe("invalid-request");
  });

  it("completions go to onComplete instead of the completions map when a callback is set", () => {
    const s = svaSetup();
    const seen: [number, string][] = [];
    s.ep.dma.onComplete = (t, res) => seen.push([t, res.status]);
    const r = s.ep.read32({ address: VA, pasid: PASID });
    s.table.map(VA, s.frame());
    answer(s, s.tb.pprEntries()[0]!, PPR_RESPONSE.Success);
    s.ep.run();
    expect(seen).toEqual([[r.ticket, "done"]]);
    expect(s.ep.dma.completions.size).toBe(0);
  });
});

describe("PRI: outstanding page request allocation and groups", () => {
  it("with an allocation of 2, a third missing page waits without a page request until a response frees the units", () => {
    const s = svaSetup({ ep: { pri: { outstanding: 2 } } });
    const r = [0, 1, 2].map((i) => s.ep.read32({ address: VA + i * 0x1000, pasid: PASID }));
    expect(r.map((x) => [x.status, x.pageRequests])).toEqual([["stalled", 1], ["stalled", 1], ["stalled", 0]]);
    const logged = s.tb.pprEntries();
    expect(logged).toHaveLength(2);
    expect(s.ep.pri!.outstanding).toBe(2);
    s.table.map(VA, s.frame()); // software serviced the first request only
    answer(s, logged[0]!, PPR_RESPONSE.Success);
    expect(s.ep.run()).toBe(1); // the first access completes; its unit goes to the third access's request
    expect(s.tb.pprEntries().map((e) => Number(e.address))).toEqual([VA + 0x2000]);
    expect(s.ep.pri!.outstanding).toBe(2);
  });

  it("a page request group: every request carries the group's PRG index, only the last has L = 1, one response frees every unit", () => {
    const s = svaSetup();
    const prg = s.ep.pageRequestGroup(PASID, [{ address: VA, read: true }, { address: VA + 0x1000, write: true }, { address: VA + 0x2000, read: true, execute: true }]);
    const e = s.tb.pprEntries();
    expect(e.map((x) => [x.prgIndex, x.last, x.read, x.write, x.exec])).toEqual([
      [prg, false, true, false, false], [prg, false, false, true, false], [prg, true, true, false, true],
    ]);
    expect(s.ep.pri!.outstanding).toBe(3);
    answer(s, e[2]!, PPR_RESPONSE.Success);
    expect(s.ep.pri!.outstanding).toBe(0);
    expect(s.ep.pri!.responseCode(prg)).toBe(PPR_RESPONSE.Success);
  });

  it("a group larger than the free allocation is not sent (-1) and nothing reaches the log", () => {
    const s = svaSetup({ ep: { pri: { outstanding: 2 } } });
    expect(s.ep.pageRequestGroup(PASID, [{ address: VA }, { address: VA + 0x1000 }, { address: VA + 0x2000 }])).toBe(-1);
    expect(s.tb.pprEntries()).toEqual([]);
  });

  it("a response naming a PRG index with nothing outstanding sets UPRGI and is otherwise ignored", () => {
    const s = svaSetup();
    s.tb.submit(buildCompletePprRequest({ deviceId: DEVICE_ID, pasid: PASID, gn: true, prgIndex: 77, responseCode: 0 }));
    s.tb.iommu.runUntilIdle();
    expect(s.ep.pri!.unexpectedResponse).toBe(true);
    expect(s.ep.pri!.stats.unexpectedResponses).toBe(1);
  });

  it("with PRG Response PASID Required, a response without the group's PASID is unexpected and the access keeps waiting", () => {
    const s = new PcieEndpoint(svaSetup().tb.iommu, { deviceId: 0x0108, pri: { prgResponsePasidRequired: true } });
    const prg = s.pageRequestGroup(PASID, [{ address: VA, read: true }]);
    s.prgResponse({ deviceId: 0x0108, pasid: 0, gn: false, prgIndex: prg, responseCode: 0, cycle: 0 });
    expect(s.pri!.unexpectedResponse).toBe(true);
    expect(s.pri!.outstanding).toBe(1);
    s.prgResponse({ deviceId: 0x0108, pasid: PASID, gn: true, prgIndex: prg, responseCode: 0, cycle: 0 });
    expect(s.pri!.outstanding).toBe(0);
  });
});
