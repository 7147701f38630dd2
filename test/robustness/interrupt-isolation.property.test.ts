/**
 * Interrupt isolation (fast-check, seeded; the DMA isolation property extended to interrupts):
 * several devices, each with its own interrupt remapping table (random format, size, entries,
 * IntCtl and pass bits), raise random MSIs. A delivered interrupt of device d is exactly what
 * d's DTE and table allow: a remapped one carries the vector and destination of d's IRTE at
 * the index its message names (a valid, in-bound, RemapEn = 1 entry); a forwarded one is the
 * device's own message with a control of d's DTE allowing it; nothing else is delivered.
 * Entries of the tables are then corrupted at random and the property must still hold for
 * what the tables now say (the IRTE cache is invalidated, as software would).
 * IOMMU_FUZZ_LONG=1 runs 20x more cases.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { builders, spec } from "../../src/index.js";

const LONG = process.env.IOMMU_FUZZ_LONG === "1";
const MSI = 0xfee0_0000;

interface Dev { len: number; intCtl: number; pass: boolean; entries: { remap: boolean; vector: number; dest: number; intType: number }[] }
const devArb: fc.Arbitrary<Dev> = fc.record({
  len: fc.integer({ min: 0, max: 5 }), intCtl: fc.constantFrom(0, 1, 2, 2, 2), pass: fc.boolean(),
  entries: fc.array(fc.record({ remap: fc.boolean(), vector: fc.integer({ min: 0x10, max: 0xff }), dest: fc.nat(0xff), intType: fc.constantFrom(0, 1, 1, 4) }), { minLength: 32, maxLength: 32 }),
});
const msiArb = fc.record({ dev: fc.nat(3), data: fc.nat(0xffff), dm: fc.boolean(), dest: fc.nat(0xff) });

describe("interrupt isolation: a device raises only the interrupts its DTE and table allow", () => {
  it("random tables, MSIs and corruptions", () => {
    fc.assert(fc.property(
      fc.boolean(), fc.array(devArb, { minLength: 4, maxLength: 4 }), fc.array(msiArb, { minLength: 1, maxLength: 40 }),
      fc.array(fc.record({ dev: fc.nat(3), index: fc.nat(31), lo: fc.nat(0xffffffff), hi: fc.nat(0xffffffff) }), { maxLength: 6 }),
      (wide, devs, msis, corruptions) => {
        const tb = new builders.IommuTestbench({ bytes: 8 * 1024 * 1024, deviceTableEntries: 256 });
        if (wide) tb.control(["GAEn"]); else tb.control([], ["GAEn"]);
        const tables = devs.map((d, i) => {
          const t = new builders.InterruptTable(tb.memory, tb.pages, { format: wide ? "128" : "32", intTabLen: 5 });
          d.entries.forEach((e, k) => t.set(k, { RemapEn: e.remap, Vector: e.vector, Destination: e.dest, IntType: e.intType }));
          tb.deviceTable.set(0x10 + i, { V: true, TV: true, IV: true, IntCtl: d.intCtl, IntTabLen: d.len, IntTableRootPtr: t.root, NMIPass: d.pass, InitPass: d.pass, EIntPass: d.pass });
          return t;
        });
        const check = () => {
          for (const m of msis) {
            const d = devs[m.dev]!;
            const address = MSI + (m.dest << 12) + (m.dm ? 4 : 0);
            const r = tb.iommu.remapInterrupt({ deviceId: 0x10 + m.dev, address, data: m.data });
            if (!r.ok) continue;
            if (r.path === "remapped") {
              const index = m.data & 0x7ff;
              expect(index < 2 ** d.len).toBe(true);
              const raw = wide ? [0, 1, 2, 3].map((w) => tb.memory.read32(tables[m.dev]!.address(index) + 4 * w)) : [tb.memory.read32(tables[m.dev]!.address(index))];
              const e = spec.decodeIrte(raw, wide);
              expect([e.RemapEn, e.GuestMode, e.Vector, e.Destination & 0xff, e.IntType]).toEqual([true, false, r.vector, r.destination, r.deliveryMode]);
            } else {
              expect(r.path).toBe("forwarded");
              expect([r.address, r.data]).toEqual([address, m.data]);
              const mode = (m.data >>> 8) & 7;
              if (mode <= 1) expect(d.intCtl).toBe(1);
              else expect(d.pass && !m.dm && [4, 5, 7].includes(mode)).toBe(true);
            }
          }
        };
        check();
        for (const c of corruptions) {
          const pa = tables[c.dev]!.address(c.index);
          tb.memory.write32(pa, c.lo);
          if (wide) tb.memory.write32(pa + 8, c.hi);
        }
        tb.sync(spec.buildInvalidateIommuAll());
        tb.events();
        check();
      },
    ), { seed: 0x1e7, numRuns: LONG ? 2000 : 100 });
  }, 120_000);
});
