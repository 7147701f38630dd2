/**
 * Conformance: the DTE behaviour matrix (docs/spec-readings.md reg 3.3) and the host (v1)
 * walk (4.1-4.4), in every configuration and request mode.
 */
import { describe, expect, it } from "vitest";
import { CONFIGS, MiB2, Rig, TRANSLATE_MODES } from "./harness.js";
import { spec } from "../../src/index.js";

const { MMIO_CONTROL, MMIO_EXCLUSION_BASE, MMIO_EXCLUSION_LIMIT, EV_IO_PAGE_FAULT, EV_INVALID_DEVICE_REQUEST, EV_PAGE_TAB_HARDWARE_ERROR } = spec;

for (const mode of Object.keys(TRANSLATE_MODES)) {
  for (const cfg of CONFIGS) {
    describe(`host path [${cfg.name}, ${mode}]`, () => {
      const rig = () => new Rig(cfg, mode);

      it("IommuEn=0 forwards every request untranslated", () => {
        const r = rig();
        r.tb.control([], ["IommuEn"]);
        const t = r.v1(4);
        r.hostDte(1, t, { ir: false, iw: false });
        const res = r.translate({ deviceId: 1, address: 0x1234_5678, write: true });
        expect(res.ok).toBe(true);
        expect(res.spa).toBe(0x1234_5678);
        expect(res.path).toBe("iommu-disabled");
        expect(r.tb.events()).toEqual([]);
      });

      it("DTE.V=0 passes the request untranslated, with no checks", () => {
        const r = rig();
        r.tb.deviceTable.set(2, { V: false, TV: true, Mode: 4, IR: false, IW: false });
        const res = r.translate({ deviceId: 2, address: 0xabc_d000, write: true });
        expect([res.ok, res.spa, res.path]).toEqual([true, 0xabc_d000, "untranslated"]);
      });

      it("V=1 TV=0 terminates the walk with IO_PAGE_FAULT", () => {
        const r = rig();
        r.tb.deviceTable.set(3, { V: true, TV: false, DomainID: 9 });
        const res = r.translate({ deviceId: 3, address: 0x5000 });
        expect(res.ok).toBe(false);
        expect(res.fault).toBe("translation-disabled");
        const ev = r.tb.events();
        expect(ev).toHaveLength(1);
        expect(ev[0]).toMatchObject({ name: "IO_PAGE_FAULT", deviceId: 3, domainId: 9, address: 0x5000n });
        expect(ev[0]!.flags).toMatchObject({ PR: false, PE: false, RZ: false, US: false, GN: false, RW: false });
      });

      it("V=1 TV=0 refuses a PASID request even with GV=1; quirks.tvGatesHostTableOnly walks the guest table (not nested)", () => {
        for (const hostOnly of [false, true]) {
          const r = new Rig(cfg, mode, { iommu: { quirks: { tvGatesHostTableOnly: hostOnly } } });
          const g = r.guest();
          const gcr3 = r.gcr3(0);
          gcr3.set(7, g.root);
          g.map(0x5000, 0x66_6000);
          const t = r.v1(4); // a host table the TV = 0 entry must not use
          r.tb.deviceTable.set(3, { V: true, TV: false, Mode: 4, HostPageTableRootPtr: t.root, IR: true, IW: true, DomainID: 9, GV: true,
            GCR3TableRootPtr: gcr3.root, GuestPagingMode: cfg.guestLevels === 5 ? 1 : 0 });
          const res = r.translate({ deviceId: 3, address: 0x5000, pasid: 7 });
          if (hostOnly) expect([res.ok, res.spa, res.path]).toEqual([true, 0x66_6000, "guest"]);
          else expect([res.ok, res.fault]).toEqual([false, "translation-disabled"]);
          expect(r.translate({ deviceId: 3, address: 0x5000 }).fault).toBe("translation-disabled"); // no PASID: TV = 0 either way
        }
      });

      it("Mode 0 forwards the address unchanged when IR/IW allow the access", () => {
        const r = rig();
        r.tb.deviceTable.set(4, { V: true, TV: true, Mode: 0, IR: true, IW: false, DomainID: 5 });
        const rd = r.translate({ deviceId: 4, address: 0x7777_7000 });
        expect([rd.ok, rd.spa, rd.path]).toEqual([true, 0x7777_7000, "mode0"]);
        const wr = r.translate({ deviceId: 4, address: 0x7777_7000, write: true });
        expect(wr.ok).toBe(false);
        expect(wr.fault).toBe("permission");
        const ev = r.tb.events();
        expect(ev[0]!.flags).toMatchObject({ PE: true, RW: true, GN: false });
      });

      it("Mode 7 is a reserved paging mode: IO_PAGE_FAULT", () => {
        const r = rig();
        r.tb.deviceTable.set(5, { V: true, TV: true, Mode: 7, IR: true, IW: true, HostPageTableRootPtr: r.page() });
        const res = r.translate({ deviceId: 5, address: 0x1000 });
        expect(res.fault).toBe("reserved-mode");
        expect(r.tb.events()[0]!.code).toBe(EV_IO_PAGE_FAULT);
      });

      it("a Mode above EFR.HATS faults like a reserved mode", () => {
        const r = new Rig(cfg, mode, { iommu: { features: { hats: 0 } } });
        const t = r.v1(5);
        t.map(0x1000, r.page());
        r.hostDte(6, t);
        expect(r.translate({ deviceId: 6, address: 0x1000 }).fault).toBe("reserved-mode");
      });

      for (const levels of [1, 2, 3, 4, 5, 6]) {
        it(`Mode ${levels} walks ${levels} level(s) to a 4 KiB page`, () => {
          const r = rig();
          const t = r.v1(levels);
          const iova = levels === 6 ? 0x0123_4567_89ab_c000n : BigInt(2 ** (12 + 9 * levels) - 0x3000);
          const spa = r.page();
          t.map(iova, spa);
          r.hostDte(7, t);
          r.tb.sync();
          const res = r.translate({ deviceId: 7, address: iova + 0x123n });
          expect(res.ok).toBe(true);
          expect(res.spa).toBe(spa + 0x123);
          expect(res.pageSize).toBe(4096);
          if (!cfg.pde && !cfg.iotlb) expect(res.walkReferences).toBe(levels);
        });
      }

      it("an IOVA above the range Mode covers faults without a walk", () => {
        const r = rig();
        const t = r.v1(3);
        r.hostDte(8, t);
        const res = r.translate({ deviceId: 8, address: 2 ** 39 });
        expect(res.fault).toBe("address-out-of-range");
        expect(res.walkReferences).toBe(0);
      });

      it("an IOVA above the range Mode covers faults even when its low bits alias a mapped page, also after the page is cached", () => {
        const r = rig();
        const t = r.v1(3);
        const spa = r.page();
        t.map(0x1000, spa);
        r.hostDte(8, t);
        for (const [address, ok] of [[0x1000, true], [2 ** 39 + 0x1000, false], [2 ** 47 + 0x1000, false], [0x1008, true], [2 ** 39 + 0x1008, false]] as const) {
          const res = r.translate({ deviceId: 8, address });
          expect([res.ok, res.fault, res.ok ? res.spa : address], `address 0x${address.toString(16)}`)
            .toEqual(ok ? [true, null, spa + (address & 0xfff)] : [false, "address-out-of-range", address]);
        }
      });

      it("a PDE with NextLevel < L-1 skips levels whose index bits are zero; non-zero skipped bits fault", () => {
        const r = rig();
        const leafTable = r.page();
        const root = r.page();
        const spa = r.page();
        // level-4 root entry 0 -> level-1 table directly (skips levels 3 and 2)
        r.memory.write64(root, BigInt(leafTable) | (1n << 9n) | 1n | (3n << 61n));
        r.memory.write64(leafTable + 5 * 8, BigInt(spa) | 1n | (3n << 61n));
        r.tb.deviceTable.set(9, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: root, IR: true, IW: true, DomainID: 2 });
        const ok = r.translate({ deviceId: 9, address: 5 * 4096 + 8 });
        expect([ok.ok, ok.spa]).toEqual([true, spa + 8]);
        const bad = r.translate({ deviceId: 9, address: (1 << 21) + 5 * 4096 });
        expect(bad.fault).toBe("skipped-level-nonzero");
      });

      it("a level-skipping PDE met again (page-directory cache on: from the cache) is followed to the level its NextLevel names", () => {
        const r = rig();
        const leafTable = r.page();
        const root = r.page();
        const spa0 = r.page(), spa5 = r.page(), spa6 = r.page();
        // level-4 root entry 0 -> level-1 table (skips levels 3 and 2); the level-1 table maps
        // pages 0, 5 and 6 (entry 0 would read as a 1 GiB leaf if the table were taken for level 3)
        r.memory.write64(root, BigInt(leafTable) | (1n << 9n) | 1n | (3n << 61n));
        for (const [i, spa] of [[0, spa0], [5, spa5], [6, spa6]] as const) r.memory.write64(leafTable + i * 8, BigInt(spa) | 1n | (3n << 61n));
        r.tb.deviceTable.set(11, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: root, IR: true, IW: true, DomainID: 3 });
        const first = r.translate({ deviceId: 11, address: 5 * 4096 + 8 });
        expect([first.ok, first.spa, first.pageSize]).toEqual([true, spa5 + 8, 4096]);
        const again = r.translate({ deviceId: 11, address: 6 * 4096 + 8 });
        expect([again.ok, again.spa, again.pageSize, again.walkReferences + again.pdeHits]).toEqual([true, spa6 + 8, 4096, 2]);
      });

      it("a PDE whose NextLevel is not below its own level is an invalid level encoding", () => {
        const r = rig();
        const root = r.page();
        r.memory.write64(root, BigInt(r.page()) | (4n << 9n) | 1n | (3n << 61n));
        r.tb.deviceTable.set(10, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: root, IR: true, IW: true });
        const res = r.translate({ deviceId: 10, address: 0 });
        expect(res.fault).toBe("invalid-level");
        // an invalid encoding is not a reserved bit: RZ = 0 (VBox; quirks.v1EncodingFaultRz reads RZ = 1)
        expect(r.tb.events()[0]!.flags).toMatchObject({ PR: true, RZ: false, PE: false, US: false, GN: false, RW: false });
        const q = new Rig(cfg, mode, { iommu: { quirks: { v1EncodingFaultRz: true } } });
        const qroot = q.page();
        q.memory.write64(qroot, BigInt(q.page()) | (4n << 9n) | 1n | (3n << 61n));
        q.tb.deviceTable.set(10, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: qroot, IR: true, IW: true });
        expect(q.translate({ deviceId: 10, address: 0 }).fault).toBe("invalid-level");
        expect(q.tb.events()[0]!.flags).toMatchObject({ PR: true, RZ: true });
      });

      for (const [size, label] of [[8192, "8 KiB"], [16384, "16 KiB"], [1 << 20, "1 MiB"], [MiB2, "2 MiB"], [4 * 1024 * 1024, "4 MiB"], [2 ** 30, "1 GiB"]] as const) {
        it(`NextLevel 7 / default-size leaves translate a ${label} page`, () => {
          const r = rig();
          const t = r.v1(4);
          const spa = size * 5; // output addresses need not lie in memory
          const iova = size * 3;
          t.map(iova, spa, { size });
          r.hostDte(11, t);
          const off = size - 8;
          const res = r.translate({ deviceId: 11, address: iova + off });
          expect(res.ok).toBe(true);
          expect(res.pageSize).toBe(size);
          expect(res.spa).toBe(spa + off);
        });
      }

      it("a NextLevel 7 size not between the level's default size and the next is an invalid page size", () => {
        const r = rig();
        const t = r.v1(4);
        t.map(0, r.page());
        const pte = t.entryAddress(0, 1);
        // encode 2 MiB at level 1 (bits 19:12 set, bit 20 clear -> 2 MiB = next level's default): invalid
        const lo = r.memory.read32(pte);
        r.memory.write32(pte, (lo | 0xff000 | (7 << 9)) >>> 0);
        r.hostDte(12, t);
        expect(r.translate({ deviceId: 12, address: 0 }).fault).toBe("invalid-page-size");
        expect(r.tb.events()[0]!.flags).toMatchObject({ PR: true, RZ: false, PE: false, GN: false });
      });

      it("permissions are ANDed along the path: IW=0 in a PDE denies writes below it", () => {
        const r = rig();
        const t = r.v1(4);
        t.map(0x4000, r.page(), { readable: true, writable: true });
        const pde = t.entryAddress(0x4000, 3);
        r.memory.write32(pde + 4, r.memory.read32(pde + 4) & ~(1 << 30)); // clear IW (bit 62)
        r.hostDte(13, t);
        expect(r.translate({ deviceId: 13, address: 0x4000 }).ok).toBe(true);
        const w = r.translate({ deviceId: 13, address: 0x4000, write: true });
        expect(w.ok).toBe(false);
        expect(w.fault).toBe("permission");
      });

      it("DTE.IR/IW are ANDed with the table: IR=0 denies reads of a readable page", () => {
        const r = rig();
        const t = r.v1(4);
        t.map(0x4000, r.page());
        r.hostDte(14, t, { ir: false });
        expect(r.translate({ deviceId: 14, address: 0x4000 }).fault).toBe("permission");
        expect(r.translate({ deviceId: 14, address: 0x4000, write: true }).ok).toBe(true);
      });

      it("reserved bits 58:52 of a PTE fault with RZ", () => {
        const r = rig();
        const t = r.v1(4);
        t.map(0x4000, r.page());
        const pte = t.entryAddress(0x4000, 1);
        r.memory.write32(pte + 4, r.memory.read32(pte + 4) | (1 << 20)); // bit 52
        r.hostDte(15, t);
        expect(r.translate({ deviceId: 15, address: 0x4000 }).fault).toBe("reserved-bit");
        expect(r.tb.events()[0]!.flags).toMatchObject({ RZ: true, PR: true });
      });

      it("PR=0 is a not-present fault with PR=0 in the event and the DomainID", () => {
        const r = rig();
        const t = r.v1(4);
        r.hostDte(16, t, { domain: 0x1234 });
        const res = r.translate({ deviceId: 16, address: 0x9000, write: true });
        expect(res.fault).toBe("not-present");
        const e = r.tb.events()[0]!;
        expect(e).toMatchObject({ code: EV_IO_PAGE_FAULT, deviceId: 16, domainId: 0x1234, address: 0x9000n });
        expect(e.flags).toMatchObject({ PR: false, RW: true, GN: false, TR: false, I: false });
      });

      it("a table outside memory is a PAGE_TAB_HARDWARE_ERROR with the entry's address", () => {
        const r = rig();
        const beyond = r.memory.bytes + 0x10000;
        r.tb.deviceTable.set(17, { V: true, TV: true, Mode: 3, HostPageTableRootPtr: beyond, IR: true, IW: true });
        const res = r.translate({ deviceId: 17, address: 0x3000 });
        expect(res.fault).toBe("page-table-hardware-error");
        const e = r.tb.events()[0]!;
        expect(e.code).toBe(EV_PAGE_TAB_HARDWARE_ERROR);
        expect(e.address).toBe(BigInt(beyond));
      });

      it("the exclusion range forwards untranslated when Allow=1, for any device", () => {
        const r = rig();
        const t = r.v1(4);
        r.hostDte(18, t);
        r.iommu.mmioWrite64(MMIO_EXCLUSION_BASE, 0x20_0000n | 3n);
        r.iommu.mmioWrite64(MMIO_EXCLUSION_LIMIT, 0x2f_f000n);
        const inside = r.translate({ deviceId: 18, address: 0x2f_fff8 });
        expect([inside.ok, inside.spa, inside.path]).toEqual([true, 0x2f_fff8, "exclusion"]);
        expect(r.translate({ deviceId: 18, address: 0x30_0000 }).fault).toBe("not-present");
      });

      it("with Allow=0 the exclusion range applies only to devices whose DTE.EX=1", () => {
        const r = rig();
        const t = r.v1(4);
        r.hostDte(19, t, { ex: true });
        r.hostDte(20, t, { ex: false });
        r.iommu.mmioWrite64(MMIO_EXCLUSION_BASE, 0x20_0000n | 1n);
        r.iommu.mmioWrite64(MMIO_EXCLUSION_LIMIT, 0x2f_f000n);
        expect(r.translate({ deviceId: 19, address: 0x20_0000 }).path).toBe("exclusion");
        expect(r.translate({ deviceId: 20, address: 0x20_0000 }).fault).toBe("not-present");
      });

      it("HAD=01 sets A in the leaf on a successful read; HAD=11 also sets D on a write", () => {
        const r = rig();
        const t = r.v1(4);
        t.map(0x4000, r.page());
        r.hostDte(21, t, { had: 1 });
        const pte = t.entryAddress(0x4000, 1);
        r.translate({ deviceId: 21, address: 0x4000, write: true });
        expect(r.memory.read32(pte) & 0x60).toBe(0x20);
        const t2 = r.v1(4);
        t2.map(0x4000, r.page());
        r.hostDte(22, t2, { had: 3, domain: 2 });
        const pte2 = t2.entryAddress(0x4000, 1);
        r.translate({ deviceId: 22, address: 0x4000 });
        expect(r.memory.read32(pte2) & 0x60).toBe(0x20);
        r.translate({ deviceId: 22, address: 0x4000, write: true });
        expect(r.memory.read32(pte2) & 0x60).toBe(0x60);
      });

      it("HAD=00 never writes the table", () => {
        const r = rig();
        const t = r.v1(4);
        t.map(0x4000, r.page());
        r.hostDte(23, t, { had: 0 });
        const pte = t.entryAddress(0x4000, 1);
        const before = r.memory.read64(pte);
        r.translate({ deviceId: 23, address: 0x4000, write: true });
        expect(r.memory.read64(pte)).toBe(before);
      });

      it("a failed translation sets no A/D bits", () => {
        const r = rig();
        const t = r.v1(4);
        t.map(0x4000, r.page(), { writable: false });
        r.hostDte(24, t, { had: 3 });
        const pte = t.entryAddress(0x4000, 1);
        expect(r.translate({ deviceId: 24, address: 0x4000, write: true }).ok).toBe(false);
        expect(r.memory.read32(pte) & 0x60).toBe(0);
      });

      it("a PASID-prefixed request to a DTE with GV=0 is an INVALID_DEVICE_REQUEST", () => {
        const r = rig();
        const t = r.v1(4);
        t.map(0x4000, r.page());
        r.hostDte(25, t);
        const res = r.translate({ deviceId: 25, address: 0x4000, pasid: 3 });
        expect(res.fault).toBe("pasid-not-allowed");
        expect(r.tb.events()[0]!.code).toBe(EV_INVALID_DEVICE_REQUEST);
      });

      it("INVALID_DEVICE_REQUEST carries PASID[15:0] in dword 1 bits 15:0, never the DomainID", () => {
        const r = rig();
        r.tb.deviceTable.set(0x29, { V: true, TV: true, Mode: 0, IR: true, IW: true, DomainID: 0x1234, I: false });
        // a translated request with DTE.I = 0 (no PASID: the field is 0), then an ATS request with PASID 0x12345
        expect(r.iommu.translatedRequest({ deviceId: 0x29, address: 0x4000, write: true }).fault).toBe("ats-disabled");
        expect(r.iommu.translateAts({ deviceId: 0x29, address: 0x4000, pasid: 0x1_2345 }).fault).toBe("ats-disabled");
        const [a, b] = r.tb.events();
        expect([a!.code, a!.raw[1]! & 0xffff, a!.pasid, (a!.raw[0]! >>> 16) & 0xf]).toEqual([EV_INVALID_DEVICE_REQUEST, 0, 0, 0]);
        expect([b!.code, b!.raw[1]! & 0xffff, b!.pasid, b!.flags.GN]).toEqual([EV_INVALID_DEVICE_REQUEST, 0x2345, 0x1_2345, true]);
      });

      it("INVALID_DEVICE_REQUEST sets RW for a write (generic flag layout); quirks.invalidDeviceRequestRw = false leaves it reserved", () => {
        for (const rw of [true, false]) {
          const r = new Rig(cfg, mode, { iommu: { quirks: { invalidDeviceRequestRw: rw } } });
          const t = r.v1(4);
          r.hostDte(25, t);
          expect(r.translate({ deviceId: 25, address: 0x4000, pasid: 3, write: true }).fault).toBe("pasid-not-allowed");
          expect(r.tb.events()[0]!.flags).toMatchObject({ RW: rw, GN: true, TR: false });
        }
      });

      it("DTE.SA suppresses IO_PAGE_FAULT events but still aborts the access", () => {
        const r = rig();
        const t = r.v1(4);
        r.hostDte(26, t, { sa: true });
        expect(r.translate({ deviceId: 26, address: 0x4000 }).ok).toBe(false);
        expect(r.tb.events()).toEqual([]);
        expect(r.iommu.stats().translation.eventsSuppressed).toBe(1);
      });

      it("a cached translation stays in use until invalidated; without an IOTLB the table change is seen at once", () => {
        const r = rig();
        const t = r.v1(4);
        const a = r.page(), b = r.page();
        t.map(0x4000, a);
        r.hostDte(27, t, { domain: 44 });
        expect(r.translate({ deviceId: 27, address: 0x4000 }).spa).toBe(a);
        t.map(0x4000, b);
        const again = r.translate({ deviceId: 27, address: 0x4000 });
        expect(again.spa).toBe(cfg.iotlb ? a : b);
        expect(again.iotlbHit).toBe(cfg.iotlb);
        r.tb.sync(spec.buildInvalidateIommuPages({ domainId: 44, address: 0x4000 }));
        expect(r.translate({ deviceId: 27, address: 0x4000 }).spa).toBe(b);
      });

      it("a 4-level walk reads levels 4, 3, 2, 1 in order, then sets A/D with one compare-exchange", () => {
        const r = rig();
        const t = r.v1(4);
        t.map(0x1234_5000, r.page());
        r.hostDte(28, t, { had: 3 });
        r.tb.sync();
        r.translate({ deviceId: 28, address: 0x0 }); // warm the DTE cache (fault, no fills)
        const acc: { kind: string; pa: number; what: string }[] = [];
        r.iommu.traceMemoryAccesses(acc as never);
        r.translate({ deviceId: 28, address: 0x1234_5000, write: true });
        r.iommu.traceMemoryAccesses(null);
        const expected = [4, 3, 2, 1].map((l) => t.entryAddress(0x1234_5000, l));
        if (!cfg.pde) {
          expect(acc.filter((x) => x.kind === "read").map((x) => x.pa)).toEqual(expected);
        }
        expect(acc.at(-1)).toMatchObject({ kind: "cas", pa: expected[3] });
      });

      it("MMIO Control still reads back what was written (IommuEn)", () => {
        const r = rig();
        expect(r.iommu.mmioRead64(MMIO_CONTROL) & 1n).toBe(1n);
      });
    });
  }
}
