/**
 * replay(deviceId): every valid mapping of a device, found by walking its tables (host v1,
 * GCR3 + long-mode guest, nested) and decided page by page by peek, for late attachment.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { buildScenario, BAD, D_HOST, GIOV, GPA_WINDOW, GUEST, GVA, HOST, MODE0, NESTED } from "./scenario.js";
import { spec, type Mapping } from "../../src/index.js";

const { V1_PR, V1_IR_HI, V1_IW_HI } = spec;
const MiB = 1024 * 1024;
const short = (m: Mapping) => [m.pasid, m.address, m.pageSize, m.spa, m.readable, m.writable];

describe("replay", () => {
  it("host v1: one mapping per page with its permissions, a 16 KiB NextLevel-7 page once, not once per replicated entry", () => {
    const s = buildScenario();
    const got = [...s.tb.iommu.replay(HOST)];
    expect(got.map(short)).toEqual([
      [null, 0x1000_0000n, 4096, 0x40_0000, true, true],
      [null, 0x1000_1000n, 4096, 0x40_1000, true, false],
      [null, 0x1000_2000n, 4096, 0x40_2000, false, true],
      [null, 0x2000_0000n, 2 * MiB, 0x60_0000, true, true],
      [null, 0x3000_0000n, 16 * 1024, 0x41_0000, true, true],
    ]);
    expect(got.every((m) => m.deviceId === HOST && m.domainId === D_HOST && !m.gn && !m.nested)).toBe(true);
  });

  it("guest: every PASID with a valid GCR3 entry, user/supervisor and NX as the tables say, upper-half GVAs sign-extended", () => {
    const s = buildScenario();
    const got = [...s.tb.iommu.replay(GUEST, { pasid: 1 })];
    expect(got.map((m) => [m.address, m.pageSize, m.spa, m.user, m.executable])).toEqual([
      [GVA, 4096, 0x42_0000, true, true],
      [GVA + 0x1000n, 4096, 0x42_1000, false, true],
      [GVA + 0x2000n, 4096, 0x42_2000, true, false],
      [GVA + 0x20_0000n, 2 * MiB, 0x60_0000, true, true],
      [0xffff_8000_0000_0000n, 4096, 0x43_0000, true, true],
    ]);
    expect([...s.tb.iommu.replay(GUEST)].filter((m) => m.pasid === 2).map(short)).toEqual([[2, 0x5000n, 4096, 0x44_0000, true, false]]);
  });

  it("without a PASID, a GV device with Mode 0 is an identity space (IR/IW); pasid null asks for that space alone", () => {
    const s = buildScenario();
    const got = [...s.tb.iommu.replay(GUEST, { pasid: null })];
    expect(got).toEqual([expect.objectContaining({ pasid: null, address: 0n, pageSize: 2 ** 64, spa: 0, readable: true, writable: true })]);
    expect([...s.tb.iommu.replay(MODE0)].map(short)).toEqual([[null, 0n, 2 ** 64, 0, true, false]]);
  });

  it("nested: pages are the smaller of guest and host pages, at the SPA the host table gives", () => {
    const s = buildScenario();
    const got = [...s.tb.iommu.replay(NESTED, { pasid: 1 })];
    expect(got.length).toBe(2 + 512); // two 4 KiB guest pages and a 2 MiB guest page over 4 KiB host pages
    expect(got.every((m) => m.nested && m.gn && m.pasid === 1 && m.pageSize === 4096)).toBe(true);
    expect(short(got[1]!)).toEqual([1, GVA + 0x1000n, 4096, 0x30_1000 + GPA_WINDOW, true, false]);
    expect(short(got[2 + 17]!)).toEqual([1, GVA + 0x20_0000n + 17n * 4096n, 4096, 0x20_0000 + 17 * 4096 + GPA_WINDOW, true, true]);
    const gpa = [...s.tb.iommu.replay(NESTED, { pasid: null })]; // requests without a PASID use the host table alone
    expect(gpa.length).toBe(1024);
    expect(gpa.every((m) => !m.gn && m.spa === Number(m.address) + GPA_WINDOW)).toBe(true);
  });

  it("GIoV: requests without a PASID are replayed from PASID 0's guest table", () => {
    const s = buildScenario();
    expect([...s.tb.iommu.replay(GIOV, { pasid: null })].map(short)).toEqual([[null, 0x7000n, 4096, 0x45_0000, true, true]]);
    expect([...s.tb.iommu.replay(GIOV)].map(short)).toEqual([[null, 0x7000n, 4096, 0x45_0000, true, true], [0, 0x7000n, 4096, 0x45_0000, true, true]]);
  });

  it("every replayed page translates (on a twin) to the SPA replay reports", () => {
    const a = buildScenario(), b = buildScenario();
    for (const dev of [HOST, GUEST, NESTED, GIOV]) {
      for (const m of a.tb.iommu.replay(dev, dev === GUEST ? { pasid: 1 } : {})) {
        const off = BigInt(m.pageSize) / 2n;
        const r = b.tb.iommu.translate({ deviceId: dev, address: m.address + off, write: !m.readable, privileged: m.pasid !== null && !m.user, ...(m.pasid === null ? {} : { pasid: m.pasid }) });
        expect([r.ok, r.spa]).toEqual([true, m.spa + Number(off)]);
      }
    }
  });

  it("replay changes nothing: memory and the IOMMU's state are as before", () => {
    const s = buildScenario();
    const before = s.tb.iommu.snapshot();
    const mem = new Uint8Array(s.tb.memory.buffer).slice();
    for (const dev of [HOST, GUEST, NESTED, GIOV, MODE0, BAD]) [...s.tb.iommu.replay(dev)];
    expect(s.tb.iommu.snapshot()).toEqual(before);
    expect(Buffer.compare(new Uint8Array(s.tb.memory.buffer), mem)).toBe(0);
  });

  it("an illegal DTE or a DeviceID beyond the table has no mappings; a bad deviceId or pasid is misuse", () => {
    const s = buildScenario();
    expect([...s.tb.iommu.replay(BAD)]).toEqual([]);
    expect([...s.tb.iommu.replay(0xffff)]).toEqual([]);
    expect(() => s.tb.iommu.replay(0x10000).next()).toThrow(/deviceId/);
    expect(() => s.tb.iommu.replay(HOST, { pasid: -1 }).next()).toThrow(/pasid/);
  });

  it("a self-referencing garbage table describes billions of pages: replay is lazy and the consumer can stop", () => {
    const s = buildScenario();
    const root = s.host.root;
    for (let i = 0; i < 512; i++) { // every entry of the root points at the root again, one level down
      s.tb.memory.write32(root + 8 * i + 4, V1_IR_HI | V1_IW_HI);
      s.tb.memory.write32(root + 8 * i, (root | (i === 0 ? 3 << 9 : 0) | V1_PR) >>> 0);
    }
    const it = s.tb.iommu.replay(HOST);
    const first = Array.from({ length: 5 }, () => it.next().value as Mapping);
    expect(first.every((m) => m !== undefined && m.pageSize > 0)).toBe(true);
  });

  it("property: for random v1 mappings, replay reports exactly the pages mapped with some permission", () => {
    fc.assert(fc.property(
      fc.uniqueArray(fc.record({ page: fc.integer({ min: 0, max: 2047 }), spaPage: fc.integer({ min: 0x400, max: 0x7ff }), read: fc.boolean(), write: fc.boolean() }), { selector: (m) => m.page, maxLength: 20 }),
      (maps) => {
        const s = buildScenario();
        const iova = (p: number) => 0x8000_0000 + p * 4096;
        for (const m of maps) s.host.map(iova(m.page), m.spaPage * 4096, { readable: m.read, writable: m.write });
        const got = [...s.tb.iommu.replay(HOST)].filter((m) => m.address >= 0x8000_0000n).map((m) => [Number(m.address), m.spa, m.readable, m.writable]);
        const want = maps.filter((m) => m.read || m.write).sort((x, y) => x.page - y.page).map((m) => [iova(m.page), m.spaPage * 4096, m.read, m.write]);
        expect(got).toEqual(want);
      }), { numRuns: 20 });
  });
});
