/**
 * Fuzz (fast-check, seeded) of the interrupt path and the performance-counter registers:
 * garbage DTE interrupt halves, garbage IRTEs (both formats, guest mode, XTEn, 2K mode,
 * IRTCacheDis, GA log on) and random MSIs never throw, never hang, never write outside the
 * model's tables, backing pages and logs, and every result is one of the documented shapes.
 * Random MMIO writes and reads over the whole 512 KiB window (counter registers included)
 * never throw for in-range aligned offsets, and unimplemented offsets read 0.
 * IOMMU_FUZZ_LONG=1 runs 20x more cases.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { builders, spec } from "../../src/index.js";

const LONG = process.env.IOMMU_FUZZ_LONG === "1";
const FAULTS = new Set(["not-an-interrupt", "dte-hardware-error", "illegal-dte", "interrupt-with-pasid", "remapping-blocked", "pass-blocked",
  "logical-pass-through", "reserved-delivery-mode", "index-out-of-range", "irte-hardware-error", "irte-not-remapped", "irte-reserved",
  "guest-mode-not-allowed", "vapic-hardware-error"]);
const EVENTS = new Set([0, spec.EV_IO_PAGE_FAULT, spec.EV_ILLEGAL_DEV_TABLE_ENTRY, spec.EV_DEV_TAB_HARDWARE_ERROR, spec.EV_PAGE_TAB_HARDWARE_ERROR]);

describe("fuzz: interrupt remapping with garbage DTEs and IRTEs", () => {
  it("never throws; results are well-formed; memory changes only in the tables, backing pages and logs", () => {
    fc.assert(fc.property(
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.array(fc.nat(0xffffffff), { minLength: 64, maxLength: 64 }),
      fc.array(fc.record({ dev: fc.nat(1), address: fc.oneof(fc.constant(0xfee0_0000), fc.nat(0xffffffff), fc.integer({ min: 0xfee0_0000, max: 0xfeef_ffff })), data: fc.nat(0xffffffff), pasid: fc.option(fc.nat(0xfffff), { nil: undefined }) }), { minLength: 1, maxLength: 30 }),
      fc.nat(0xffffffff),
      (ctlHi, irteWords, msis, dteHi) => {
        const tb = new builders.IommuTestbench({ bytes: 4 * 1024 * 1024, deviceTableEntries: 256 });
        const io = tb.iommu;
        const table = tb.pages.allocContiguous(1);
        const backing = tb.pages.alloc();
        for (let i = 0; i < 64; i++) tb.memory.write32(table + 4 * i, irteWords[i]!);
        // point some guest-mode IRTEs' backing pages at a real page
        tb.memory.write32(table + 8, (backing / 4096 * 16) >>> 0);
        const gaLog = tb.pages.alloc();
        io.mmioWrite64(spec.MMIO_GA_LOG_BASE, BigInt(gaLog) | (8n << 56n));
        io.mmioWrite64(spec.MMIO_CONTROL, io.mmioRead64(spec.MMIO_CONTROL) | ((ctlHi & 0x0e00_0000_3e02_0000n) | (1n << 28n) | (1n << 29n)));
        const dte = spec.encodeDte({ V: true, TV: true, IV: true, IntCtl: 2, IntTabLen: 4, IntTableRootPtr: table });
        tb.deviceTable.setRaw(0x20, dte);
        const raw = Array.from(dte); raw[5] = dteHi; raw[4] = ((raw[4]! & ~0x3f) | (dteHi & 0x3f)) >>> 0;
        tb.deviceTable.setRaw(0x21, raw);
        const before = new Uint8Array(tb.memory.buffer).slice();
        for (const m of msis) {
          const r = io.remapInterrupt({ deviceId: 0x20 + m.dev, address: m.address, data: m.data, ...(m.pasid !== undefined ? { pasid: m.pasid } : {}) });
          expect(typeof r.ok).toBe("boolean");
          if (r.ok) expect(r.fault).toBe(null); else expect(FAULTS.has(r.fault!)).toBe(true);
          expect(EVENTS.has(r.event)).toBe(true);
          expect(Number.isInteger(r.vector) && r.vector >= 0 && r.vector <= 0xff).toBe(true);
          expect(Number.isInteger(r.destination) && r.destination >= 0 && r.destination <= 0xffffffff).toBe(true);
          expect(r.address >= 0 && r.address <= 0xffffffff && r.data >= 0 && r.data <= 0xffffffff).toBe(true);
          if (r.posted) expect(r.ok).toBe(true);
          io.peekInterrupt({ deviceId: 0x20 + m.dev, address: m.address, data: m.data });
        }
        const after = new Uint8Array(tb.memory.buffer);
        const allowed = (pa: number) => (pa >= backing && pa < backing + 4096) || (pa >= gaLog && pa < gaLog + 4096) ||
          (pa >= tb.eventLogBase && pa < tb.eventLogBase + tb.ringBytes);
        for (let pa = 0; pa < after.length; pa += 4) {
          if (after[pa] !== before[pa] || after[pa + 1] !== before[pa + 1] || after[pa + 2] !== before[pa + 2] || after[pa + 3] !== before[pa + 3]) {
            expect(allowed(pa), `write at 0x${pa.toString(16)}`).toBe(true);
          }
        }
      },
    ), { seed: 0xf022, numRuns: LONG ? 2000 : 60 });
  }, 120_000);
});

describe("fuzz: performance-counter registers", () => {
  it("random 32/64-bit accesses over the 512 KiB window never throw; unimplemented offsets read 0", () => {
    fc.assert(fc.property(
      fc.array(fc.record({ off: fc.nat(0x7fff8 / 8), w64: fc.boolean(), v: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), read: fc.boolean() }), { minLength: 1, maxLength: 80 }),
      (ops) => {
        const tb = new builders.IommuTestbench({ bytes: 4 * 1024 * 1024, deviceTableEntries: 256, iommu: { features: { perfCounters: true } } });
        const io = tb.iommu;
        for (const o of ops) {
          const off = o.off * 8;
          if (o.read) {
            const v = o.w64 ? io.mmioRead64(off) : BigInt(io.mmioRead32(off));
            if (off >= 0x4008 && off < 0x40000) expect(v).toBe(0n);
            if (off >= 0x40000 && (((off - 0x40000) >> 12) >= 2 || ((off >> 8) & 0xf) >= 4 || (off & 0xff) > 0x28)) expect(v).toBe(0n);
          } else if (o.w64) io.mmioWrite64(off, o.v);
          else io.mmioWrite32(off, Number(o.v & 0xffffffffn));
          io.translate({ deviceId: 1, address: 0x1000 });
        }
        // every counter still reads a 48-bit value
        for (let b = 0; b < 2; b++) for (let c = 0; c < 4; c++) expect(io.mmioRead64(spec.perfCounterRegister(b, c, 0)) < (1n << 48n)).toBe(true);
      },
    ), { seed: 0xc0de, numRuns: LONG ? 2000 : 100 });
  }, 120_000);
});
