/**
 * Conformance: guest (v2) translation — GCR3 table by PASID, AMD64 long-mode tables (4 and 5
 * levels; 4 KiB, 2 MiB, 1 GiB pages), permission and reserved-bit checks, GIoV, nested
 * translation, and A/D updates (docs/spec-readings.md reg 5), in every
 * configuration and request mode.
 */
import { describe, expect, it } from "vitest";
import { CONFIGS, GVA, GiB1, MiB2, Rig, TRANSLATE_MODES } from "./harness.js";
import { spec, PhysicalMemory, AmdIommu } from "../../src/index.js";
import { IommuTestbench, LongModeTable, Gcr3Table, V1PageTable } from "../../src/builders/index.js";

const { EV_IO_PAGE_FAULT } = spec;
const A = 0x20, D = 0x40;

for (const mode of Object.keys(TRANSLATE_MODES)) {
  for (const cfg of CONFIGS) {
    describe(`guest path [${cfg.name}, ${mode}]`, () => {
      const rig = () => new Rig(cfg, mode);
      /** A device (id 0x30) bound to PASID 7 on a fresh guest table. */
      const bound = (r: Rig, o: Parameters<Rig["guestDte"]>[2] = {}) => {
        const g = r.guest();
        const gcr3 = r.gcr3(o.glx ?? 0);
        gcr3.set(7, g.root);
        r.guestDte(0x30, gcr3, { domain: 3, ...o });
        return { g, gcr3 };
      };

      for (const [size, label] of [[4096, "4 KiB"], [MiB2, "2 MiB"], [GiB1, "1 GiB"]] as const) {
        it(`a ${label} guest page translates a PASID request to its SPA`, () => {
          const r = rig();
          const { g } = bound(r);
          const va = GVA - (GVA % BigInt(size));
          const spa = size * 7;
          g.map(va, spa, { size: size as 4096 });
          const res = r.translate({ deviceId: 0x30, address: va + 0x238n, pasid: 7 });
          expect([res.ok, res.spa, res.pageSize, res.path]).toEqual([true, spa + 0x238, size, "guest"]);
        });
      }

      it(`a cold guest walk reads ${cfg.guestLevels} guest levels`, () => {
        const r = new Rig(cfg, mode, { iommu: { gcr3Cache: { entries: 0 } } });
        const { g } = bound(r);
        g.map(GVA, r.page());
        const res = r.translate({ deviceId: 0x30, address: GVA, pasid: 7 });
        expect(res.ok).toBe(true);
        expect(res.walkReferences).toBe(cfg.guestLevels);
      });

      for (const glx of [0, 1, 2] as const) {
        it(`GLX=${glx}: the GCR3 table has ${glx + 1} level(s) indexed by PASID`, () => {
          const r = rig();
          const g = r.guest();
          const gcr3 = r.gcr3(glx);
          const pasid = glx === 0 ? 0x1ab : glx === 1 ? 0xa5a5 : 0x8_1234;
          const rr = glx === 2 /* 20-bit PASIDs need PASmax = 19 */ ? new Rig(cfg, mode, { iommu: { features: { pasMax: 19 } } }) : r;
          const g2 = glx === 2 ? rr.guest() : g;
          const gc = glx === 2 ? rr.gcr3(2) : gcr3;
          gc.set(pasid, g2.root);
          rr.guestDte(0x31, gc, { glx });
          g2.map(GVA, 0x50_0000);
          const res = rr.translate({ deviceId: 0x31, address: GVA, pasid });
          expect([res.ok, res.spa]).toEqual([true, 0x50_0000]);
          const other = rr.translate({ deviceId: 0x31, address: GVA, pasid: pasid ^ 1 });
          expect(other.fault).toBe("gcr3-not-valid");
        });
      }

      it("a PASID beyond what GLX can index is out of range", () => {
        const r = rig();
        bound(r, { glx: 0 });
        const res = r.translate({ deviceId: 0x30, address: GVA, pasid: 512 });
        expect(res.fault).toBe("pasid-out-of-range");
        const e = r.tb.events()[0]!;
        expect(e).toMatchObject({ code: EV_IO_PAGE_FAULT, pasid: 512 });
        expect(e.flags.GN).toBe(true);
      });

      it("a PASID above EFR.PASmax is out of range", () => {
        const r = new Rig(cfg, mode, { iommu: { features: { pasMax: 7 } } });
        bound(r, { glx: 1 });
        expect(r.translate({ deviceId: 0x30, address: GVA, pasid: 256 }).fault).toBe("pasid-out-of-range");
      });

      it("a GCR3 entry with V=0 is a not-present fault with GN=1 and the PASID", () => {
        const r = rig();
        const { gcr3 } = bound(r);
        gcr3.set(7, null);
        const res = r.translate({ deviceId: 0x30, address: GVA, pasid: 7 });
        expect(res.fault).toBe("gcr3-not-valid");
        const e = r.tb.events()[0]!;
        expect(e.pasid).toBe(7);
        expect(e.flags).toMatchObject({ GN: true, PR: false });
      });

      it("a non-canonical GVA faults before any table read", () => {
        const r = rig();
        const { g } = bound(r);
        g.map(GVA, r.page());
        const bad = cfg.guestLevels === 4 ? 0x0000_8000_0000_0000n : 0x0100_0000_0000_0000n;
        const res = r.translate({ deviceId: 0x30, address: bad, pasid: 7 });
        expect(res.fault).toBe("non-canonical");
        expect(res.walkReferences).toBe(0);
      });

      it("IO_PAGE_FAULT.US is the faulting request's own privilege, also for a fault before the guest walk", () => {
        const r = rig();
        const { g } = bound(r);
        g.map(GVA, r.page());
        const bad = cfg.guestLevels === 4 ? 0x0000_8000_0000_0000n : 0x0100_0000_0000_0000n;
        // a user request faulting before the walk, after a privileged walk; then the reverse
        expect(r.translate({ deviceId: 0x30, address: GVA, pasid: 7, privileged: true }).ok).toBe(true);
        expect(r.translate({ deviceId: 0x30, address: bad, pasid: 7 }).fault).toBe("non-canonical");
        expect(r.translate({ deviceId: 0x30, address: GVA, pasid: 7 }).ok).toBe(true);
        expect(r.translate({ deviceId: 0x30, address: bad, pasid: 7, privileged: true }).fault).toBe("non-canonical");
        const ev = r.tb.events();
        expect(ev.map((e) => [e.code, e.flags.US, e.flags.GN])).toEqual([[EV_IO_PAGE_FAULT, true, true], [EV_IO_PAGE_FAULT, false, true]]);
      });

      it("a refused request whose event is not written (event log off) makes no event-write reference", () => {
        const r = rig();
        bound(r);
        const bad = cfg.guestLevels === 4 ? 0x0000_8000_0000_0000n : 0x0100_0000_0000_0000n;
        r.translate({ deviceId: 0x30, address: bad, pasid: 7 }); // DTE now cached
        const on = r.translate({ deviceId: 0x30, address: bad, pasid: 7 });
        expect([on.fault, on.event, on.walkReferences]).toEqual(["non-canonical", EV_IO_PAGE_FAULT, 0]);
        const withEvent = on.memoryReferences;
        r.tb.control([], ["EventLogEn"]);
        const off = r.translate({ deviceId: 0x30, address: bad, pasid: 7 });
        expect([off.fault, off.event]).toEqual(["non-canonical", 0]);
        expect([withEvent, off.memoryReferences]).toEqual([1, 0]); // DTE cached, no walk: the event write only
      });

      it("a canonical upper-half GVA translates a supervisor mapping", () => {
        const r = rig();
        const { g } = bound(r);
        const kva = cfg.guestLevels === 4 ? 0xffff_8880_0000_0000n : 0xff11_0000_0000_0000n;
        g.map(kva, 0x66_6000, { user: false });
        const sup = r.translate({ deviceId: 0x30, address: kva + 0x10n, pasid: 7, privileged: true });
        expect([sup.ok, sup.spa]).toEqual([true, 0x66_6010]);
        const usr = r.translate({ deviceId: 0x30, address: kva + 0x10n, pasid: 7 });
        expect(usr.fault).toBe("user-supervisor");
        expect(r.tb.events()[0]!.flags).toMatchObject({ US: true, PE: true, PR: true });
      });

      for (let level = 2; level <= cfg.guestLevels; level++) {
        it(`U/S=0 in the level-${level} entry alone denies a user request (US, PE, PR, GN); a privileged one passes`, () => {
          const r = rig();
          const { g } = bound(r);
          g.map(GVA, 0x55_5000);
          const e = g.entryAddress(GVA, level);
          r.memory.write32(e, r.memory.read32(e) & ~0x4); // clear U/S in that directory entry only
          const usr = r.translate({ deviceId: 0x30, address: GVA, pasid: 7 });
          expect(usr.fault).toBe("user-supervisor");
          expect(r.tb.events()[0]!.flags).toMatchObject({ US: true, PE: true, PR: true, GN: true, RW: false });
          const sup = r.translate({ deviceId: 0x30, address: GVA + 8n, pasid: 7, privileged: true });
          expect([sup.ok, sup.spa, sup.user]).toEqual([true, 0x55_5008, false]);
          // a user request after the privileged one is still refused (the IOTLB entry does not carry U)
          expect(r.translate({ deviceId: 0x30, address: GVA, pasid: 7 }).fault).toBe("user-supervisor");
        });
      }

      it("R/W=0 at any level denies a write with PE and RW set", () => {
        const r = rig();
        const { g } = bound(r);
        g.map(GVA, r.page(), { writable: true, upper: { writable: false } });
        expect(r.translate({ deviceId: 0x30, address: GVA, pasid: 7 }).ok).toBe(true);
        const w = r.translate({ deviceId: 0x30, address: GVA, pasid: 7, write: true });
        expect(w.fault).toBe("permission");
        const e = r.tb.events()[0]!;
        expect(e.flags).toMatchObject({ PE: true, RW: true, GN: true, PR: true });
      });

      it("NX at any level denies an execute request when NXSup=1", () => {
        const r = rig();
        const { g } = bound(r);
        g.map(GVA, r.page(), { upper: { nx: true } });
        expect(r.translate({ deviceId: 0x30, address: GVA, pasid: 7 }).ok).toBe(true);
        const x = r.translate({ deviceId: 0x30, address: GVA, pasid: 7, execute: true });
        expect(x.fault).toBe("no-execute");
        expect(r.tb.events()[0]!.flags).toMatchObject({ NX: true, PE: true });
      });

      it("NX is ignored when EFR.NXSup=0", () => {
        const r = new Rig(cfg, mode, { iommu: { features: { nx: false } } });
        const { g } = bound(r);
        g.map(GVA, r.page(), { nx: true });
        expect(r.translate({ deviceId: 0x30, address: GVA, pasid: 7, execute: true }).ok).toBe(true);
      });

      it("PS=1 in a PML4E is reserved: RZ fault", () => {
        const r = rig();
        const { g } = bound(r);
        g.map(GVA, r.page());
        const pml4e = g.entryAddress(GVA, 4);
        r.memory.write32(pml4e, r.memory.read32(pml4e) | 0x80);
        expect(r.translate({ deviceId: 0x30, address: GVA, pasid: 7 }).fault).toBe("reserved-bit");
        expect(r.tb.events()[0]!.flags.RZ).toBe(true);
      });

      it("a 2 MiB leaf with address bits 20:13 set is a reserved-bit fault", () => {
        const r = rig();
        const { g } = bound(r);
        const va = GVA - (GVA % BigInt(MiB2));
        g.map(va, MiB2 * 3, { size: MiB2 as 2097152 });
        const pde = g.entryAddress(va, 2);
        r.memory.write32(pde, r.memory.read32(pde) | 0x2000);
        expect(r.translate({ deviceId: 0x30, address: va, pasid: 7 }).fault).toBe("reserved-bit");
      });

      it("a not-present guest PTE faults with PR=0, GN=1, the PASID and the GVA", () => {
        const r = rig();
        bound(r);
        const res = r.translate({ deviceId: 0x30, address: GVA + 0x44n, pasid: 7, write: true });
        expect(res.fault).toBe("not-present");
        const e = r.tb.events()[0]!;
        expect(e).toMatchObject({ code: EV_IO_PAGE_FAULT, deviceId: 0x30, pasid: 7, address: GVA + 0x44n });
        expect(e.flags).toMatchObject({ GN: true, PR: false, RW: true });
      });

      it("GIoV: a request without PASID goes through PASID 0 with no sign extension", () => {
        const r = rig();
        const g = r.guest();
        const gcr3 = r.gcr3(0);
        gcr3.set(0, g.root);
        r.guestDte(0x32, gcr3, { giov: true });
        const high = cfg.guestLevels === 4 ? 0x0000_8000_0000_0000n : 0x0100_0000_0000_0000n; // bit 47 / 56 set
        g.map(high, 0x77_7000);
        const res = r.translate({ deviceId: 0x32, address: high + 8n });
        expect([res.ok, res.spa]).toEqual([true, 0x77_7008]);
        expect(r.translate({ deviceId: 0x32, address: high, pasid: 0 }).fault).toBe("non-canonical");
      });

      it("GIoV: requests without PASID are user-mode, so a U/S=0 page faults", () => {
        const r = rig();
        const g = r.guest();
        const gcr3 = r.gcr3(0);
        gcr3.set(0, g.root);
        r.guestDte(0x33, gcr3, { giov: true });
        g.map(0x1000, 0x88_8000, { user: false });
        expect(r.translate({ deviceId: 0x33, address: 0x1000 }).fault).toBe("user-supervisor");
      });

      it("GIoV=0: a request without PASID uses the host path (Mode 0: forwarded)", () => {
        const r = rig();
        const { g } = bound(r, { giov: false });
        g.map(0x1000, 0x88_8000);
        const res = r.translate({ deviceId: 0x30, address: 0x1000 });
        expect([res.ok, res.spa, res.path]).toEqual([true, 0x1000, "mode0"]);
      });

      it("A is set in every guest entry traversed and D only in the leaf, only for a write", () => {
        const r = rig();
        const { g } = bound(r);
        g.map(GVA, r.page());
        const entries = Array.from({ length: cfg.guestLevels }, (_, i) => g.entryAddress(GVA, cfg.guestLevels - i));
        for (const e of entries) expect(r.memory.read32(e) & (A | D)).toBe(0);
        r.translate({ deviceId: 0x30, address: GVA, pasid: 7 });
        for (const e of entries) expect(r.memory.read32(e) & (A | D)).toBe(A);
        r.translate({ deviceId: 0x30, address: GVA, pasid: 7, write: true });
        expect(r.memory.read32(entries.at(-1)!) & (A | D)).toBe(A | D);
        for (const e of entries.slice(0, -1)) expect(r.memory.read32(e) & D).toBe(0);
      });

      it("a write hitting a cached read-only-dirty translation re-walks to set D", () => {
        const r = rig();
        const { g } = bound(r);
        g.map(GVA, r.page());
        const pte = g.entryAddress(GVA, 1);
        r.translate({ deviceId: 0x30, address: GVA, pasid: 7 });
        const w = r.translate({ deviceId: 0x30, address: GVA, pasid: 7, write: true });
        expect(w.iotlbHit).toBe(false);
        expect(r.memory.read32(pte) & D).toBe(D);
        if (cfg.iotlb) expect(r.translate({ deviceId: 0x30, address: GVA, pasid: 7, write: true }).iotlbHit).toBe(true);
      });

      it("no A/D bit is set when the translation faults", () => {
        const r = rig();
        const { g } = bound(r);
        g.map(GVA, r.page(), { writable: false });
        const entries = Array.from({ length: cfg.guestLevels }, (_, i) => g.entryAddress(GVA, cfg.guestLevels - i));
        expect(r.translate({ deviceId: 0x30, address: GVA, pasid: 7, write: true }).ok).toBe(false);
        for (const e of entries) expect(r.memory.read32(e) & (A | D)).toBe(0);
      });

      it("Control.GAUpdateDis and GDUpdateDis stop A and D updates", () => {
        const r = rig();
        const { g } = bound(r);
        g.map(GVA, r.page());
        r.tb.control(["GAUpdateDis", "GDUpdateDis"]);
        const pte = g.entryAddress(GVA, 1);
        expect(r.translate({ deviceId: 0x30, address: GVA, pasid: 7, write: true }).ok).toBe(true);
        expect(r.memory.read32(pte) & (A | D)).toBe(0);
      });

      it("ATS translation requests log no event for a not-present page and return no permission", () => {
        const r = rig();
        bound(r, { ats: true });
        const res = r.iommu.translateAts({ deviceId: 0x30, address: GVA, pasid: 7 });
        expect(res.ok).toBe(false);
        expect([res.readable, res.writable]).toEqual([false, false]);
        expect(r.tb.events()).toEqual([]);
      });

      it("ATS returns the permissions found without faulting a missing one", () => {
        const r = rig();
        const { g } = bound(r, { ats: true });
        g.map(GVA, 0x99_9000, { writable: false });
        const res = r.iommu.translateAts({ deviceId: 0x30, address: GVA, pasid: 7, write: true });
        expect([res.ok, res.readable, res.writable, res.spa]).toEqual([true, true, false, 0x99_9000]);
        expect(r.tb.events()).toEqual([]);
      });
    });

    describe(`nested path [${cfg.name}, ${mode}]`, () => {
      /** Host table identity-maps guest-physical [0, 64 MiB) with 4 KiB pages unless told otherwise. */
      const nestedRig = (hostSize = 4096, hostWritable = true) => {
        const r = new Rig(cfg, mode, { iommu: { gcr3Cache: { entries: 0 } } });
        const host = r.v1(4);
        const base = 0x0800_0000; // guest RAM: GPA x -> SPA x (identity) for x < 64 MiB
        void base;
        const g = r.guest();
        const gcr3 = r.gcr3(0);
        gcr3.set(7, g.root);
        r.guestDte(0x40, gcr3, { domain: 6, host });
        return { r, host, g, hostSize, hostWritable };
      };
      const identity = (r: Rig, host: V1PageTable, size: number, writable = true, limit = 64 * 1024 * 1024) => {
        for (let a = 0; a < limit; a += size) host.map(a, a, { size, writable: writable });
        void r;
      };

      it(`a cold nested walk makes ${(cfg.guestLevels + 1) * 5 - 1} table references (guest ${cfg.guestLevels} x host 4)`, () => {
        const { r, host, g } = nestedRig();
        identity(r, host, 4096, true, 16 * 1024 * 1024);
        g.map(GVA, 0x30_0000);
        const res = r.translate({ deviceId: 0x40, address: GVA + 5n, pasid: 7 });
        expect([res.ok, res.spa, res.path]).toEqual([true, 0x30_0005, "nested"]);
        if (!cfg.iotlb && !cfg.pde) expect(res.walkReferences).toBe((cfg.guestLevels + 1) * (4 + 1) - 1);
        else expect(res.walkReferences).toBeLessThanOrEqual((cfg.guestLevels + 1) * 5 - 1);
      });

      it("the final GPA goes through the host table: a guest page maps wherever the host puts it", () => {
        const { r, host, g } = nestedRig();
        identity(r, host, MiB2, true, 16 * 1024 * 1024);
        g.map(GVA, 0x100_0000); // GPA 16 MiB, outside the identity range
        host.map(0x100_0000, 0x2_0000_0000); // -> SPA 8 GiB
        const res = r.translate({ deviceId: 0x40, address: GVA + 0x10n, pasid: 7 });
        expect(res.spa).toBe(0x2_0000_0010);
      });

      it("permissions are intersected: a host read-only page makes a guest-writable page read-only", () => {
        const { r, host, g } = nestedRig();
        identity(r, host, MiB2, true, 16 * 1024 * 1024);
        g.map(GVA, 0x100_0000, { writable: true });
        host.map(0x100_0000, 0x100_0000, { writable: false });
        expect(r.translate({ deviceId: 0x40, address: GVA, pasid: 7 }).ok).toBe(true);
        const w = r.translate({ deviceId: 0x40, address: GVA, pasid: 7, write: true });
        expect(w.ok).toBe(false);
        const e = r.tb.events()[0]!;
        expect(e.flags.GN).toBe(false); // a host-table fault: GN = 0, GPA
        expect(e.address).toBe(0x100_0000n);
      });

      for (const [gsz, hsz] of [[MiB2, 4096], [4096, MiB2], [MiB2, MiB2]] as const) {
        it(`page size is the smaller of guest ${gsz} and host ${hsz}`, () => {
          const { r, host, g } = nestedRig();
          identity(r, host, MiB2, true, 16 * 1024 * 1024);
          const gpa = 0x200_0000; // 32 MiB
          g.map(GVA - (GVA % BigInt(gsz)), gpa, { size: gsz as 4096 | 2097152 });
          host.map(gpa, 0x400_0000, { size: hsz });
          if (hsz === 4096) for (let a = 4096; a < gsz; a += 4096) host.map(gpa + a, 0x400_0000 + a);
          const res = r.translate({ deviceId: 0x40, address: GVA - (GVA % BigInt(gsz)) + 0x100n, pasid: 7 });
          expect(res.ok).toBe(true);
          expect(res.pageSize).toBe(Math.min(gsz, hsz));
          expect(res.spa).toBe(0x400_0100);
        });
      }

      it("a guest table GPA the host does not map is a host fault with GN=0 and the GPA", () => {
        const { r, host, g } = nestedRig();
        identity(r, host, 4096, true, 16 * 1024 * 1024);
        g.map(GVA, 0x10_0000);
        // unmap the host page holding the guest's top-level table
        const rootGpa = g.root;
        const hostPte = host.entryAddress(rootGpa, 1);
        r.memory.write64(hostPte, 0n);
        const res = r.translate({ deviceId: 0x40, address: GVA, pasid: 7 });
        expect(res.ok).toBe(false);
        const e = r.tb.events()[0]!;
        expect(e.flags.GN).toBe(false);
        expect(e.address).toBe(BigInt(rootGpa));
      });

      it("a nested translation refused an A/D write sets no Accessed bit in any guest entry", () => {
        const { r, host, g } = nestedRig();
        identity(r, host, 4096, true, 16 * 1024 * 1024);
        g.map(GVA, 0x10_0000);
        const entries = Array.from({ length: cfg.guestLevels }, (_, i) => g.entryAddress(GVA, cfg.guestLevels - i));
        const ptPage = entries.at(-1)! - (entries.at(-1)! % 4096);
        host.map(ptPage, ptPage, { writable: false }); // only the leaf table's page is read-only in the host table
        const res = r.translate({ deviceId: 0x40, address: GVA, pasid: 7 });
        expect(res.fault).toBe("permission");
        for (const e of entries) expect(r.memory.read32(e) & A).toBe(0);
        const e = r.tb.events()[0]!;
        expect(e.address).toBe(BigInt(entries.at(-1)!)); // the GPA of the entry whose update was refused
        expect(e.flags).toMatchObject({ GN: false, PE: true, PR: true, RW: false, US: false });
      });

      it("A/D writes to guest entries need host write permission on the guest table pages", () => {
        const { r, host, g } = nestedRig();
        identity(r, host, 4096, false, 16 * 1024 * 1024); // guest RAM read-only in the host table
        g.map(GVA, 0x10_0000);
        host.map(0x10_0000 + 0, 0x10_0000, { writable: true }); // the data page itself writable
        const res = r.translate({ deviceId: 0x40, address: GVA, pasid: 7 });
        expect(res.ok).toBe(false);
        expect(res.fault).toBe("permission");
      });
    });
  }
}

describe("A/D compare-exchange protocol", () => {
  it("an entry that changes between the read and the A/D update is re-read and re-checked", () => {
    // shared mode (options.concurrency): other agents may write the tables while the IOMMU walks,
    // and the compare-exchange goes through the memory port, where the test plays the racing CPU
    const tb = new IommuTestbench({ iommu: { iotlb: { entries: 0 }, pdeCache: { entries: 0 }, concurrency: "shared" } });
    const g = new LongModeTable(tb.memory, tb.pages, 4);
    const gcr3 = new Gcr3Table(tb.memory, tb.pages, 0);
    gcr3.set(1, g.root);
    tb.deviceTable.set(0x50, { V: true, TV: true, IR: true, IW: true, DomainID: 1, GV: true, GCR3TableRootPtr: gcr3.root });
    g.map(GVA, 0x11_1000);
    const pte = g.entryAddress(GVA, 1);
    // A racing CPU remaps the page to another frame between the IOMMU's read and its compare-exchange.
    const mem = tb.memory;
    const realCas = mem.cas32.bind(mem);
    let raced = false;
    mem.cas32 = (pa: number, exp: number, val: number) => {
      if (!raced && pa === pte) { raced = true; mem.write32(pte, (0x22_2000 | 0x7) >>> 0); }
      return realCas(pa, exp, val);
    };
    const res = tb.iommu.translate({ deviceId: 0x50, address: GVA, pasid: 1 });
    expect(raced).toBe(true);
    expect(res.spa).toBe(0x22_2000);
    expect(tb.memory.read32(pte) & A).toBe(A);
  });

  it("two IOMMUs over one memory see each other's A/D updates but not each other's caches", () => {
    const memory = new PhysicalMemory({ bytes: 16 * 1024 * 1024 });
    const a = new AmdIommu({ memory, segment: 0 });
    const b = new AmdIommu({ memory, segment: 1 });
    expect(a.iotlb).not.toBe(b.iotlb);
    expect(a.stats().translation.requests).toBe(0);
    a.translate({ deviceId: 1, address: 0 });
    expect(a.stats().translation.requests).toBe(1);
    expect(b.stats().translation.requests).toBe(0);
  });
});
