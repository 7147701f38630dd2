/**
 * Conformance: the Status register's run bits against Control.IommuEn (docs/spec-readings.md
 * reg 2.1/2.2), DTE.GLX against EFR.GLXSup (reg 3.4, 5.2), and the S-bit range encoding of the
 * invalidation commands against Linux's build_inv_address (docs/spec-readings.md cmd 1.4,
 * reg 4.4).
 */
import { describe, expect, it } from "vitest";
import { spec, AmdIommu, PhysicalMemory } from "../../src/index.js";
import { IommuTestbench, LongModeTable, Gcr3Table } from "../../src/builders/index.js";
import { CONTROL } from "../../src/spec/registers.js";

const { MMIO_STATUS, MMIO_CONTROL, EV_ILLEGAL_DEV_TABLE_ENTRY } = spec;
const CONTROL_BITS = (names: (keyof typeof CONTROL)[]) => names.reduce((v, n) => v | (BigInt(CONTROL[n].mask) << BigInt(32 * CONTROL[n].half)), 0n);
const EVENT_LOG_RUN = 1n << 3n, CMD_BUF_RUN = 1n << 4n, PPR_LOG_RUN = 1n << 7n;

describe("Status run bits follow Control.IommuEn", () => {
  it("rings enabled with IommuEn = 0 report no run bit; setting IommuEn reports them, clearing it hides them again", () => {
    const tb = new IommuTestbench({ leaveDisabled: true });
    const io = tb.iommu;
    // Control as Linux leaves it before enabling: event log and command buffer on, IommuEn clear
    io.mmioWrite64(MMIO_CONTROL, CONTROL_BITS(["EventLogEn", "CmdBufEn"]) | (4n << 5n));
    expect(io.mmioRead64(MMIO_CONTROL) & 1n).toBe(0n);
    expect(io.mmioRead64(MMIO_STATUS) & (EVENT_LOG_RUN | CMD_BUF_RUN | PPR_LOG_RUN)).toBe(0n);
    expect(io.mmioRead32(MMIO_STATUS) & 0x98).toBe(0);
    io.mmioWrite64(MMIO_CONTROL, io.mmioRead64(MMIO_CONTROL) | 1n);
    expect(io.mmioRead64(MMIO_STATUS) & (EVENT_LOG_RUN | CMD_BUF_RUN)).toBe(EVENT_LOG_RUN | CMD_BUF_RUN);
    io.mmioWrite64(MMIO_CONTROL, io.mmioRead64(MMIO_CONTROL) & ~1n);
    expect(io.mmioRead64(MMIO_STATUS) & (EVENT_LOG_RUN | CMD_BUF_RUN)).toBe(0n);
  });

  it("with IommuEn = 1 each run bit still follows its own enable", () => {
    const tb = new IommuTestbench();
    const io = tb.iommu;
    expect(io.mmioRead64(MMIO_STATUS) & (EVENT_LOG_RUN | CMD_BUF_RUN | PPR_LOG_RUN)).toBe(EVENT_LOG_RUN | CMD_BUF_RUN | PPR_LOG_RUN);
    tb.control([], ["CmdBufEn"]);
    expect(io.mmioRead64(MMIO_STATUS) & (EVENT_LOG_RUN | CMD_BUF_RUN)).toBe(EVENT_LOG_RUN);
  });
});

describe("DTE.GLX above EFR.GLXSup", () => {
  /** A device on a GCR3 table written with 2 levels (GLX = 1) and one with a single level, PASID 5 mapped in both. */
  const setup = (glxSup: 0 | 1 | 2, quirk?: "capped" | "illegal-dte") => {
    const tb = new IommuTestbench({ iommu: { features: { glxSup }, ...(quirk ? { quirks: { glxAboveSupport: quirk } } : {}) } });
    const g = new LongModeTable(tb.memory, tb.pages, 4);
    g.map(0x40_0000, 0x77_7000);
    const one = new Gcr3Table(tb.memory, tb.pages, 0);
    one.set(5, g.root);
    // DTE says GLX = 1 (two levels) but the root is a one-level table
    tb.deviceTable.set(0x60, { V: true, TV: true, IR: true, IW: true, DomainID: 2, GV: true, GLX: 1, GCR3TableRootPtr: one.root });
    return tb;
  };

  it("GLXSup = 0: GLX is ignored and a one-level GCR3 look-up is done (AMD's GLXSup description)", () => {
    const tb = setup(0);
    const r = tb.iommu.translate({ deviceId: 0x60, address: 0x40_0010, pasid: 5 });
    expect([r.ok, r.spa]).toEqual([true, 0x77_7010]);
    expect(tb.events()).toEqual([]);
    // a PASID a one-level table cannot index is out of range, as with GLX = 0
    expect(tb.iommu.translate({ deviceId: 0x60, address: 0x40_0010, pasid: 512 }).fault).toBe("pasid-out-of-range");
  });

  it("GLXSup = 1: the same DTE walks the two levels it names", () => {
    const tb = setup(1);
    // GLX = 1 honoured: PASID 5's top-level index is 0, whose entry (the one-level table's PASID-0 slot) is not valid
    expect(tb.iommu.translate({ deviceId: 0x60, address: 0x40_0010, pasid: 5 }).fault).toBe("gcr3-not-valid");
  });

  it("quirks.glxAboveSupport = \"illegal-dte\": ILLEGAL_DEV_TABLE_ENTRY instead", () => {
    const tb = setup(0, "illegal-dte");
    expect(tb.iommu.translate({ deviceId: 0x60, address: 0x40_0010, pasid: 5 }).fault).toBe("illegal-dte");
    expect(tb.events()[0]!.code).toBe(EV_ILLEGAL_DEV_TABLE_ENTRY);
  });

  it("GLX = 11b stays reserved whatever GLXSup says", () => {
    const tb = setup(2);
    tb.deviceTable.set(0x61, { V: true, TV: true, IR: true, IW: true, DomainID: 2, GV: true, GLX: 3, GCR3TableRootPtr: 0x1000 });
    expect(tb.iommu.translate({ deviceId: 0x61, address: 0x40_0010, pasid: 5 }).fault).toBe("illegal-dte");
  });
});

describe("invalidation range encoding = Linux build_inv_address", () => {
  /** Linux's build_inv_address, restated from its description: msb of (end ^ start); above bit 51 all pages, else set bits below msb. */
  const linux = (start: bigint, size: bigint): { address: bigint; s: boolean } => {
    const end = start + size - 1n;
    if ((start >> 12n) === (end >> 12n)) return { address: start & ~0xfffn, s: false };
    const msb = (start ^ end).toString(2).length - 1;
    if (msb > 51) return { address: spec.ALL_PAGES_ADDRESS, s: true };
    return { address: (start | ((1n << BigInt(msb)) - 1n)) & ~0xfffn, s: true };
  };

  it("bit 51 the highest differing bit encodes the 2^52-byte block, not all pages", () => {
    expect(spec.encodeInvalidationRange(0n, 1n << 52n)).toEqual({ address: 0x7_ffff_ffff_f000n, s: true });
    expect(spec.encodeInvalidationRange((1n << 51n) - 0x1000n, 0x2000n)).toEqual({ address: 0x7_ffff_ffff_f000n, s: true });
    // a difference above bit 51 is all pages
    expect(spec.encodeInvalidationRange((1n << 52n) - 0x1000n, 0x2000n)).toEqual({ address: spec.ALL_PAGES_ADDRESS, s: true });
  });

  it("agrees with build_inv_address on ranges around every bit from 12 to 56", () => {
    for (let b = 12n; b <= 56n; b++) {
      for (const [start, size] of [[0n, 1n << b], [(1n << b) - 0x1000n, 0x2000n], [(1n << b) + 0x123n, (1n << b) - 0x200n], [0x5000n, 1n << b]] as const) {
        expect(spec.encodeInvalidationRange(start, size), `start 0x${start.toString(16)} size 0x${size.toString(16)}`).toEqual(linux(start, size));
      }
    }
  });
});

describe("two IOMMUs keep their own register files", () => {
  it("one IOMMU's IommuEn does not reveal the other's run bits", () => {
    const memory = new PhysicalMemory({ bytes: 16 * 1024 * 1024 });
    const a = new AmdIommu({ memory, segment: 0 });
    const b = new AmdIommu({ memory, segment: 1 });
    a.mmioWrite64(MMIO_CONTROL, CONTROL_BITS(["EventLogEn", "IommuEn"]));
    b.mmioWrite64(MMIO_CONTROL, CONTROL_BITS(["EventLogEn"]));
    expect([a.mmioRead64(MMIO_STATUS) & EVENT_LOG_RUN, b.mmioRead64(MMIO_STATUS) & EVENT_LOG_RUN]).toEqual([EVENT_LOG_RUN, 0n]);
  });
});
