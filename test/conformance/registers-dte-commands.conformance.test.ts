/**
 * Conformance: the Status register's run bits against Control.IommuEn (docs/spec-readings.md
 * reg 2.1/2.2; also in the shared-mode mirror, and no log written while IommuEn = 0), DTE.GLX against EFR.GLXSup (reg 3.4, 5.2), and the S-bit range encoding of the
 * invalidation commands against Linux's build_inv_address and the spec's decoding (docs/spec-readings.md
 * cmd 1.4, reg 4.4).
 */
import { describe, expect, it } from "vitest";
import { spec, AmdIommu, PhysicalMemory } from "../../src/index.js";
import { IommuTestbench, LongModeTable, Gcr3Table, V1PageTable } from "../../src/builders/index.js";
import { CONTROL } from "../../src/spec/registers.js";
import { MmioMailbox, SharedIommuAgent } from "../../src/shared/index.js";

const { MMIO_STATUS, MMIO_CONTROL, EV_ILLEGAL_DEV_TABLE_ENTRY, EV_INVALID_PPR_REQUEST } = spec;
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

describe("an IOMMU that is off (Control.IommuEn = 0): run bits read 0 everywhere, nothing is logged (issue-17 follow-ups)", () => {
  const GA_LOG_RUN = 1n << 8n;

  it("GALogRun reads 0 while IommuEn = 0, like the other run bits, and reads 1 again when IommuEn is set", () => {
    const tb = new IommuTestbench({ leaveDisabled: true });
    const io = tb.iommu;
    io.mmioWrite64(spec.MMIO_GA_LOG_BASE, BigInt(tb.pages.allocContiguous(1)) | (8n << 56n));
    io.mmioWrite64(MMIO_CONTROL, CONTROL_BITS(["EventLogEn", "CmdBufEn", "GALogEn"]) | (4n << 5n));
    expect(io.mmioRead64(MMIO_STATUS) & (EVENT_LOG_RUN | CMD_BUF_RUN | GA_LOG_RUN)).toBe(0n);
    io.mmioWrite64(MMIO_CONTROL, io.mmioRead64(MMIO_CONTROL) | 1n);
    expect(io.mmioRead64(MMIO_STATUS) & (EVENT_LOG_RUN | CMD_BUF_RUN | GA_LOG_RUN)).toBe(EVENT_LOG_RUN | CMD_BUF_RUN | GA_LOG_RUN);
  });

  it("shared mode: the agent's Status mirror agrees with the MMIO read: no run bit while IommuEn = 0, the run bits once it is set", () => {
    const memory = new PhysicalMemory({ bytes: 4 * 1024 * 1024 });
    const mailbox = new MmioMailbox();
    const agent = new SharedIommuAgent({ memory, mailbox });
    const base = 0x10_0000;
    mailbox.postWrite64(spec.MMIO_COMMAND_BUFFER_BASE, BigInt(base) | (8n << 56n));
    mailbox.postWrite64(spec.MMIO_EVENT_LOG_BASE, BigInt(base + 0x1000) | (8n << 56n));
    mailbox.postWrite64(spec.MMIO_PPR_LOG_BASE, BigInt(base + 0x2000) | (8n << 56n));
    mailbox.postWrite64(spec.MMIO_GA_LOG_BASE, BigInt(base + 0x3000) | (8n << 56n));
    const rings = CONTROL_BITS(["EventLogEn", "CmdBufEn", "PPRLogEn", "GALogEn"]) | (4n << 5n);
    mailbox.postWrite64(MMIO_CONTROL, rings);
    agent.service();
    const ALL_RUN = EVENT_LOG_RUN | CMD_BUF_RUN | PPR_LOG_RUN | GA_LOG_RUN;
    expect(agent.iommu.mmioRead64(MMIO_STATUS) & ALL_RUN).toBe(0n);
    expect(mailbox.read64(MMIO_STATUS) & ALL_RUN).toBe(0n);
    mailbox.postWrite64(MMIO_CONTROL, rings | 1n);
    agent.service();
    expect(mailbox.read64(MMIO_STATUS) & ALL_RUN).toBe(ALL_RUN);
    mailbox.postWrite64(MMIO_CONTROL, rings);
    agent.service();
    expect(mailbox.read64(MMIO_STATUS) & ALL_RUN).toBe(0n);
    expect(mailbox.read64(MMIO_STATUS)).toBe(agent.iommu.mmioRead64(MMIO_STATUS));
  });

  it("a page request while IommuEn = 0 is refused without an INVALID_PPR_REQUEST event (event log enabled and running)", () => {
    const tb = new IommuTestbench();
    const io = tb.iommu;
    tb.deviceTable.set(0x41, { V: true, TV: true, IR: true, IW: true, DomainID: 7, PPR: true });
    const request = { deviceId: 0x41, pasid: 3, address: 0x5000, prgIndex: 9, last: true, read: true };
    tb.control([], ["IommuEn"]);
    expect(io.pageRequest(request)).toBe("invalid");
    expect([tb.events(), tb.pprEntries()]).toEqual([[], []]);
    // with the IOMMU on, a request it refuses (PPREn = 0) is logged
    tb.control(["IommuEn"], ["PPREn"]);
    expect(io.pageRequest(request)).toBe("invalid");
    expect(tb.events().map((e) => [e.code, e.deviceId])).toEqual([[EV_INVALID_PPR_REQUEST, 0x41]]);
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

describe("S = 1 decoding: the lowest clear address bit from 12 up gives the size, nothing else (cmd 1.4)", () => {
  /** A Mode-6 host table (64-bit IOVAs) with pages mapped at `iovas`, each translated once so the IOTLB holds it. */
  const setup = (iovas: bigint[]) => {
    const tb = new IommuTestbench({ iommu: { iotlb: { entries: 64, ways: 64 } } });
    const t = new V1PageTable(tb.memory, tb.pages, 6);
    iovas.forEach((va, i) => t.map(va, 0x80_0000 + i * 0x1000));
    tb.deviceTable.set(0x70, { V: true, TV: true, IR: true, IW: true, Mode: 6, DomainID: 3, HostPageTableRootPtr: t.root });
    for (const va of iovas) expect(tb.iommu.translate({ deviceId: 0x70, address: va }).ok).toBe(true);
    const cached = () => [...tb.iommu.iotlb.entries()].filter((e) => e.domain === 3).map((e) => BigInt(e.address)).sort((a, b) => (a < b ? -1 : 1));
    expect(cached()).toEqual([...iovas].sort((a, b) => (a < b ? -1 : 1)));
    return { tb, cached };
  };

  it("address bit 51 set with bit 12 clear names the 8 KiB block at that address, not all pages", () => {
    expect(spec.decodeInvalidationRange(0x000f_ffff_ffff_e000n, true)).toEqual({ start: 0x000f_ffff_ffff_e000n, size: 0x2000n, all: false });
    const { tb, cached } = setup([0x000f_ffff_ffff_e000n, 0x10_0000n]);
    tb.sync(spec.buildInvalidateIommuPages({ domainId: 3, s: true, address: 0x000f_ffff_ffff_e000n }));
    expect(cached()).toEqual([0x10_0000n]);
  });

  it("first clear bit 51 names the 2^52-byte block [0, 2^52): an entry at IOVA 2^52 stays; Linux's all-pages address drops it", () => {
    expect(spec.decodeInvalidationRange(0x0007_ffff_ffff_f000n, true)).toEqual({ start: 0n, size: 1n << 52n, all: false });
    // the same block above 2^52: bits 50:12 set, bit 51 clear, bit 52 set
    expect(spec.decodeInvalidationRange(0x0017_ffff_ffff_f000n, true)).toEqual({ start: 1n << 52n, size: 1n << 52n, all: false });
    expect(spec.decodeInvalidationRange(spec.ALL_PAGES_ADDRESS, true).all).toBe(true);
    const { tb, cached } = setup([0x10_0000n, 1n << 52n]);
    tb.sync(spec.buildInvalidateIommuPages({ domainId: 3, s: true, address: 0x0007_ffff_ffff_f000n }));
    expect(cached()).toEqual([1n << 52n]);
    tb.sync(spec.buildInvalidateIommuPages({ domainId: 3, s: true, address: spec.ALL_PAGES_ADDRESS }));
    expect(cached()).toEqual([]);
  });

  it("first clear bit 62 is the 2^63-byte block, bit 63 (or none) all pages", () => {
    expect(spec.decodeInvalidationRange(0x3fff_ffff_ffff_f000n, true)).toEqual({ start: 0n, size: 1n << 63n, all: false });
    expect(spec.decodeInvalidationRange(0xbfff_ffff_ffff_f000n, true)).toEqual({ start: 1n << 63n, size: 1n << 63n, all: false });
    expect(spec.decodeInvalidationRange(0xffff_ffff_ffff_f000n, true).all).toBe(true);
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
