/**
 * Property: for random tables (with random corruption of their entries) and random requests,
 * the model answers as the reference walk does — same verdict, same SPA, same page size — with
 * the IOTLB and page-directory caches on and off.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { IommuTestbench, LongModeTable, V1PageTable, Gcr3Table } from "../../src/builders/index.js";
import { refGuest, refV1 } from "./reference-walk.js";

const SIZES_V1 = [4096, 8192, 2 * 1024 * 1024];
const SIZES_LM = [4096, 2 * 1024 * 1024] as const;

const mapping = fc.record({ slot: fc.integer({ min: 0, max: 4095 }), sizeIdx: fc.nat(2), read: fc.boolean(), write: fc.boolean(), user: fc.boolean(), nx: fc.boolean() });
const corruption = fc.record({ page: fc.nat(), entry: fc.integer({ min: 0, max: 511 }), bitNo: fc.integer({ min: 0, max: 63 }) });
const request = fc.record({ which: fc.nat(), offset: fc.integer({ min: 0, max: 2 * 1024 * 1024 - 1 }), write: fc.boolean(), user: fc.boolean(), exec: fc.boolean(), random: fc.boolean() });

function flip(tb: IommuTestbench, tablePages: number[], c: { page: number; entry: number; bitNo: number }) {
  const pa = tablePages[c.page % tablePages.length]! + c.entry * 8 + (c.bitNo >= 32 ? 4 : 0);
  tb.memory.write32(pa, (tb.memory.read32(pa) ^ (1 << (c.bitNo % 32))) >>> 0);
}

for (const caches of [true, false]) {
  describe(`model vs reference walk (caches ${caches ? "on" : "off"})`, () => {
    const opts = { bytes: 32 * 1024 * 1024, iommu: caches ? {} : { iotlb: { entries: 0 }, pdeCache: { entries: 0 }, gcr3Cache: { entries: 0 } } };

    it("host (v1) tables", () => {
      fc.assert(fc.property(fc.integer({ min: 3, max: 4 }), fc.array(mapping, { minLength: 1, maxLength: 12 }), fc.array(corruption, { maxLength: 3 }), fc.array(request, { minLength: 1, maxLength: 20 }),
        (mode, maps, corrupt, reqs) => {
          const tb = new IommuTestbench(opts);
          const first = tb.pages.used;
          const t = new V1PageTable(tb.memory, tb.pages, mode);
          const iovas: number[] = [];
          for (const m of maps) {
            const size = SIZES_V1[m.sizeIdx]!;
            const iova = (m.slot * 2 * 1024 * 1024) % 2 ** (12 + 9 * mode) - ((m.slot * 2 * 1024 * 1024) % size);
            t.map(iova, size * (m.slot % 64 + 1), { size, readable: m.read, writable: m.write });
            iovas.push(iova);
          }
          const tablePages = Array.from({ length: (tb.pages.used - first) / 4096 }, (_, i) => first + i * 4096);
          for (const c of corrupt) flip(tb, tablePages, c);
          tb.deviceTable.set(1, { V: true, TV: true, Mode: mode, HostPageTableRootPtr: t.root, IR: true, IW: true, DomainID: 1 });
          for (const q of reqs) {
            const iova = q.random ? q.offset * 4096 % 2 ** (12 + 9 * mode) : iovas[q.which % iovas.length]! + (q.offset % 8192);
            const ref = refV1(tb.memory, { mode, root: BigInt(t.root), ir: true, iw: true }, BigInt(iova), q.write);
            const got = tb.iommu.translate({ deviceId: 1, address: iova, write: q.write });
            expect(got.ok, `iova 0x${iova.toString(16)} write ${q.write}`).toBe(ref.ok);
            if (ref.ok) { expect(BigInt(got.spa)).toBe(ref.spa); expect(BigInt(got.pageSize)).toBe(ref.size); }
          }
        }), { seed: caches ? 11 : 12, numRuns: 60 });
    });

    for (const nested of [false, true]) {
      it(`guest tables${nested ? ", nested through a host table" : ""}`, () => {
        fc.assert(fc.property(fc.constantFrom(4 as const, 5 as const), fc.array(mapping, { minLength: 1, maxLength: 10 }), fc.array(corruption, { maxLength: 2 }), fc.array(request, { minLength: 1, maxLength: 16 }),
          (levels, maps, corrupt, reqs) => {
            const tb = new IommuTestbench(opts);
            const host = nested ? new V1PageTable(tb.memory, tb.pages, 4) : null;
            const first = tb.pages.used;
            const g = new LongModeTable(tb.memory, tb.pages, levels);
            const gcr3 = new Gcr3Table(tb.memory, tb.pages, 1);
            gcr3.set(0x155, g.root);
            const gvas: bigint[] = [];
            for (const m of maps) {
              const size = SIZES_LM[m.sizeIdx % 2]!;
              const gva = BigInt(m.slot) * 0x20_0000n + 0x7000_0000_0000n - (BigInt(m.slot) * 0x20_0000n % BigInt(size));
              g.map(gva, size * (m.slot % 32 + 1), { size: size as 4096, writable: m.write, user: m.user, nx: m.nx });
              gvas.push(gva);
            }
            const tablePages = Array.from({ length: (tb.pages.used - first) / 4096 }, (_, i) => first + i * 4096);
            for (const c of corrupt) flip(tb, tablePages, c);
            if (host) for (let a = 0; a < 32 * 1024 * 1024; a += 2 * 1024 * 1024) host.map(a, a, { size: 2 * 1024 * 1024 });
            if (host) for (let a = 0; a < 80 * 1024 * 1024; a += 2 * 1024 * 1024) if (a >= 32 * 1024 * 1024) host.map(a, a + 0x1000_0000, { size: 2 * 1024 * 1024, writable: (a >> 21) % 2 === 0 });
            tb.deviceTable.set(2, { V: true, TV: true, IR: true, IW: true, DomainID: 2, GV: true, GLX: 1, GCR3TableRootPtr: gcr3.root,
              GuestPagingMode: levels === 5 ? 1 : 0, Mode: host ? 4 : 0, HostPageTableRootPtr: host ? host.root : 0 });
            for (const q of reqs) {
              const gva = q.random ? BigInt(q.offset) * 0x1000n : gvas[q.which % gvas.length]! + BigInt(q.offset % 8192);
              const ref = refGuest(tb.memory, { mode: host ? 4 : 0, root: BigInt(host?.root ?? 0), ir: true, iw: true, glx: 1, gcr3: BigInt(gcr3.root), levels },
                0x155, gva, { write: q.write, user: q.user, exec: q.exec });
              const got = tb.iommu.translate({ deviceId: 2, address: gva, pasid: 0x155, write: q.write, privileged: !q.user, execute: q.exec });
              expect(got.ok, `gva 0x${gva.toString(16)} w ${q.write} u ${q.user} x ${q.exec}`).toBe(ref.ok);
              if (ref.ok) { expect(BigInt(got.spa)).toBe(ref.spa); expect(BigInt(got.pageSize)).toBe(ref.size); }
            }
          }), { seed: nested ? 21 : 22, numRuns: 50 });
      });
    }
  });
}
