/**
 * peek(): what the tables say for a request, changing nothing (no A/D update, no cache
 * look-up or fill, no event, no statistics) — for debuggers, test oracles and replays.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { buildScenario, scenarioRequests, GPA_WINDOW, GUEST, GVA, HOST, NESTED } from "./scenario.js";
import { spec, type TranslationResult } from "../../src/index.js";

const { V1_A, V1_D, LM_A, LM_D, V1_PR, MMIO_EVENT_LOG_TAIL, buildInvalidateIommuPages, buildInvalidateDevtabEntry } = spec;

/** The architectural part of a result (what the tables decide), without cache and cost fields. */
function arch(r: TranslationResult) {
  return { ok: r.ok, spa: r.spa, pageSize: r.pageSize, readable: r.readable, writable: r.writable, executable: r.executable, user: r.user, fault: r.fault, path: r.path };
}

describe("peek", () => {
  it("a peeked write sets neither A nor D in the v1 leaf; the same translate sets both", () => {
    const s = buildScenario();
    const leaf = s.host.entryAddress(0x1000_0000, 1);
    const r = s.tb.iommu.peek({ deviceId: HOST, address: 0x1000_0010, write: true });
    expect(r).toMatchObject({ ok: true, spa: 0x40_0010 });
    expect(s.tb.memory.read32(leaf) & (V1_A | V1_D)).toBe(0);
    s.tb.iommu.translate({ deviceId: HOST, address: 0x1000_0010, write: true });
    expect(s.tb.memory.read32(leaf) & (V1_A | V1_D)).toBe(V1_A | V1_D);
  });

  it("a peeked guest write leaves A and D clear at every level of the long-mode walk", () => {
    const s = buildScenario();
    const entries = [4, 3, 2, 1].map((l) => s.guest1.entryAddress(GVA, l));
    s.tb.iommu.peek({ deviceId: GUEST, address: GVA, pasid: 1, write: true });
    for (const pa of entries) expect(s.tb.memory.read32(pa) & (LM_A | LM_D)).toBe(0);
  });

  it("peek fills no cache: the next translate still misses the IOTLB and the DTE cache", () => {
    const s = buildScenario();
    const io = s.tb.iommu;
    io.peek({ deviceId: HOST, address: 0x1000_0000 });
    const r = io.translate({ deviceId: HOST, address: 0x1000_0000 });
    expect(r.iotlbHit).toBe(false);
    expect(r.dteCacheHit).toBe(false);
  });

  it("peek bypasses the caches: it reads the tables even when a stale translation is cached", () => {
    const s = buildScenario();
    const io = s.tb.iommu;
    io.translate({ deviceId: HOST, address: 0x1000_0000 });
    const leaf = s.host.entryAddress(0x1000_0000, 1);
    s.tb.memory.write32(leaf, s.tb.memory.read32(leaf) & ~V1_PR); // unmapped, not yet invalidated
    expect(io.translate({ deviceId: HOST, address: 0x1000_0000 })).toMatchObject({ ok: true, iotlbHit: true });
    expect(io.peek({ deviceId: HOST, address: 0x1000_0000 })).toMatchObject({ ok: false, fault: "not-present", iotlbHit: false });
  });

  it("peek reads the DTE from memory, not the DTE cache", () => {
    const s = buildScenario();
    const io = s.tb.iommu;
    io.translate({ deviceId: HOST, address: 0x1000_0000 });
    s.tb.deviceTable.set(HOST, { V: true, TV: true, Mode: 0, IR: true, IW: true, DomainID: 1 });
    expect(io.peek({ deviceId: HOST, address: 0x1234_5000 })).toMatchObject({ ok: true, path: "mode0", spa: 0x1234_5000 });
    s.tb.sync(buildInvalidateDevtabEntry(HOST), buildInvalidateIommuPages({ domainId: 1, address: 0x7fff_ffff_ffff_f000n, s: true, pde: true }));
    expect(io.translate({ deviceId: HOST, address: 0x1234_5000 })).toMatchObject({ ok: true, path: "mode0" });
  });

  it("a faulting peek reports the fault but writes no event and moves no log pointer", () => {
    const s = buildScenario();
    const io = s.tb.iommu;
    const tail = io.mmioRead64(MMIO_EVENT_LOG_TAIL);
    const r = io.peek({ deviceId: HOST, address: 0x5000_0000 });
    expect(r).toMatchObject({ ok: false, fault: "not-present", event: 0 });
    expect(io.mmioRead64(MMIO_EVENT_LOG_TAIL)).toBe(tail);
    expect(s.tb.events()).toEqual([]);
  });

  it("peek counts nothing: statistics and the whole state snapshot are unchanged", () => {
    const s = buildScenario();
    const io = s.tb.iommu;
    io.translate({ deviceId: HOST, address: 0x1000_0000 });
    const before = io.snapshot();
    for (const req of scenarioRequests()) io.peek(req);
    expect(io.snapshot()).toEqual(before);
  });

  it("on a cold IOMMU, peek gives translate's architectural answer for every scenario request", () => {
    for (const req of scenarioRequests().slice(0, 28)) {
      const a = buildScenario(), b = buildScenario();
      expect(arch(a.tb.iommu.peek(req))).toEqual(arch(b.tb.iommu.translate(req)));
    }
  });

  it("nested: when A must be set in a guest table the host maps read-only, peek reports translate's fault", () => {
    const mk = () => {
      const s = buildScenario();
      // the guest PT page (a GPA) becomes read-only in the host table: the walker cannot set A in it
      const ptSpa = s.nestedGuest.entryAddress(GVA, 1) & ~0xfff;
      s.nestedHost.map(ptSpa - GPA_WINDOW, ptSpa, { writable: false });
      return s;
    };
    const a = mk(), b = mk();
    const req = { deviceId: NESTED, address: GVA, pasid: 1 };
    const t = b.tb.iommu.translate(req);
    expect(t).toMatchObject({ ok: false, fault: "permission" });
    expect(arch(a.tb.iommu.peek(req))).toEqual(arch(t));
  });

  it("property: for random v1 mappings, peek on a used IOMMU equals translate on a fresh twin", () => {
    fc.assert(fc.property(
      fc.array(fc.record({ page: fc.integer({ min: 0, max: 63 }), spaPage: fc.integer({ min: 0x400, max: 0x5ff }), read: fc.boolean(), write: fc.boolean() }), { maxLength: 12 }),
      fc.array(fc.record({ page: fc.integer({ min: 0, max: 63 }), off: fc.integer({ min: 0, max: 4095 }), write: fc.boolean() }), { minLength: 1, maxLength: 8 }),
      (maps, reqs) => {
        const build = () => {
          const s = buildScenario();
          for (const m of maps) s.host.map(0x7000_0000 + m.page * 4096, m.spaPage * 4096, { readable: m.read, writable: m.write });
          return s;
        };
        const a = build();
        for (const q of reqs) {
          const req = { deviceId: HOST, address: 0x7000_0000 + q.page * 4096 + q.off, write: q.write };
          expect(arch(a.tb.iommu.peek(req))).toEqual(arch(build().tb.iommu.translate(req)));
        }
      }), { numRuns: 15 });
  });
});
