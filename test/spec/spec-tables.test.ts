/**
 * The spec tables against the facts in docs/spec-readings.md (spot values), and codec round trips.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { spec } from "../../src/index.js";

const S = spec;

describe("register map (docs/spec-readings.md reg 1.1)", () => {
  it("offsets of every register the digest lists for the model", () => {
    expect({
      dt: S.MMIO_DEVICE_TABLE_BASE, cmd: S.MMIO_COMMAND_BUFFER_BASE, ev: S.MMIO_EVENT_LOG_BASE, ctl: S.MMIO_CONTROL,
      exb: S.MMIO_EXCLUSION_BASE, exl: S.MMIO_EXCLUSION_LIMIT, efr: S.MMIO_EXTENDED_FEATURE, ppr: S.MMIO_PPR_LOG_BASE,
      efr2: S.MMIO_EXTENDED_FEATURE_2, ch: S.MMIO_COMMAND_BUFFER_HEAD, ct: S.MMIO_COMMAND_BUFFER_TAIL, eh: S.MMIO_EVENT_LOG_HEAD,
      et: S.MMIO_EVENT_LOG_TAIL, st: S.MMIO_STATUS, ph: S.MMIO_PPR_LOG_HEAD, pt: S.MMIO_PPR_LOG_TAIL,
    }).toEqual({
      dt: 0x0, cmd: 0x8, ev: 0x10, ctl: 0x18, exb: 0x20, exl: 0x28, efr: 0x30, ppr: 0x38, efr2: 0x1a0,
      ch: 0x2000, ct: 0x2008, eh: 0x2010, et: 0x2018, st: 0x2020, ph: 0x2030, pt: 0x2038,
    });
  });
  it("Control bits: IommuEn 0, EventLogEn 2, InvTimeOut 7:5, CmdBufEn 12, PPRLogEn 13, PPREn 15, GTEn 16, GDUpdateDis 48, GAUpdateDis 54, GCR3TRPMode 58", () => {
    const b = (n: keyof typeof S.CONTROL) => S.CONTROL[n].lo;
    expect([b("IommuEn"), b("EventLogEn"), b("EventIntEn"), b("ComWaitIntEn"), b("InvTimeOut"), S.CONTROL.InvTimeOut.hi, b("CmdBufEn"),
      b("PPRLogEn"), b("PprIntEn"), b("PPREn"), b("GTEn"), b("GDUpdateDis"), b("GAUpdateDis"), b("GCR3TRPMode")])
      .toEqual([0, 2, 3, 4, 5, 7, 12, 13, 14, 15, 16, 48, 54, 58]);
  });
  it("Status: W1C bits 0,1,2,5,6 (and 9,10) and read-only run bits 3,4,7 (QEMU masks RW1C 0x67, RO 0x98)", () => {
    const st = S.register("Status");
    expect(st.w1c[0] & 0xff).toBe(0x67);
    const ro = st.fields.filter((f) => f.access === "IOMMU").reduce((m, f) => m | (1 << f.lo), 0);
    expect(ro & 0xff).toBe(0x98);
  });
  it("EFR fields: PreFSup 0, PPRSup 1, NXSup 3, GTSup 4, IASup 6, HATS 11:10, GATS 13:12, GLXSup 15:14, PASmax 36:32, GIoSup 48, HASup 49, HDSup 52", () => {
    const f = (n: string) => S.EFR_FIELDS.find((x) => x.name === n)!;
    expect([f("PreFSup").lo, f("PPRSup").lo, f("NXSup").lo, f("GTSup").lo, f("IASup").lo, f("HATS").lo, f("HATS").hi, f("GATS").lo,
      f("GLXSup").lo, f("PASmax").lo, f("PASmax").hi, f("GIoSup").lo, f("HASup").lo, f("HDSup").lo])
      .toEqual([0, 1, 3, 4, 6, 10, 11, 12, 14, 32, 36, 48, 49, 52]);
  });
  it("ring length: 2^Len entries of 16 bytes, Len 8..15", () => {
    expect([S.RING_MIN_LEN, S.RING_MAX_LEN, S.RING_ENTRY_BYTES]).toEqual([8, 15, 16]);
  });
  it("InvTimeOut encodings: 1 ms .. 100 s, 7 reserved", () => {
    expect(S.INV_TIMEOUT_NS).toEqual([0, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, null]);
  });
});

describe("Device Table Entry (docs/spec-readings.md reg 3.1)", () => {
  const pos = (n: string) => { const f = S.DTE_FIELDS.find((x) => x.name === n)!; return [f.lo, f.hi]; };
  it("field positions: V 0, TV 1, HAD 8:7, Mode 11:9, root 51:12, PPR 52, GIoV 54, GV 55, GLX 57:56, IR 61, IW 62, DomainID 79:64, I 96, SE 97, SA 98, EX 103, IV 128, GuestPagingMode 183:182", () => {
    expect([pos("V"), pos("TV"), pos("HAD"), pos("Mode"), pos("HostPageTableRootPtr"), pos("PPR"), pos("GIoV"), pos("GV"), pos("GLX"),
      pos("IR"), pos("IW"), pos("DomainID"), pos("I"), pos("SE"), pos("SA"), pos("EX"), pos("IV"), pos("GuestPagingMode")]).toEqual([
      [0, 0], [1, 1], [7, 8], [9, 11], [12, 51], [52, 52], [54, 54], [55, 55], [56, 57], [61, 61], [62, 62], [64, 79], [96, 96], [97, 97],
      [98, 98], [103, 103], [128, 128], [182, 183]]);
  });
  it("the GCR3 root pointer is split over 60:58, 95:80 and 127:107", () => {
    expect([pos("GCR3TRP_14_12"), pos("GCR3TRP_30_15"), pos("GCR3TRP_51_31")]).toEqual([[58, 60], [80, 95], [107, 127]]);
    const dw = S.encodeDte({ GCR3TableRootPtr: 0x000f_edcb_a987_6000 });
    expect(S.gcr3Root(dw)).toBe(0x000f_edcb_a987_6000);
  });
  it("reserved translation bits equal VBox's valid masks (words 0 and 1)", () => {
    const r = S.DTE_RESERVED_TRANSLATION;
    // VBox valid mask word0 0x7FFF_FFFF_FFFF_FF83 -> reserved bits 6:2 and 63; word1 0xFFFF_FBFF_FFFF_FFFF -> bit 106
    expect([r[0], r[1], r[2], r[3]]).toEqual([0x7c, 0x8000_0000, 0, 0x400]);
  });
  it("encode/decode round-trip of every field (property)", () => {
    fc.assert(fc.property(
      fc.record({
        V: fc.boolean(), TV: fc.boolean(), HAD: fc.integer({ min: 0, max: 3 }), Mode: fc.integer({ min: 0, max: 7 }),
        HostPageTableRootPtr: fc.integer({ min: 0, max: 2 ** 40 - 1 }).map((x) => x * 4096), PPR: fc.boolean(), GPRP: fc.boolean(),
        GIoV: fc.boolean(), GV: fc.boolean(), GLX: fc.integer({ min: 0, max: 3 }), IR: fc.boolean(), IW: fc.boolean(),
        DomainID: fc.integer({ min: 0, max: 0xffff }), GCR3TableRootPtr: fc.integer({ min: 0, max: 2 ** 40 - 1 }).map((x) => x * 4096),
        I: fc.boolean(), SE: fc.boolean(), SA: fc.boolean(), IoCtl: fc.integer({ min: 0, max: 3 }), Cache: fc.boolean(), SD: fc.boolean(),
        EX: fc.boolean(), SysMgt: fc.integer({ min: 0, max: 3 }), IV: fc.boolean(), IntTabLen: fc.integer({ min: 0, max: 15 }), IG: fc.boolean(),
        IntTableRootPtr: fc.integer({ min: 0, max: 2 ** 46 - 1 }).map((x) => x * 64), GuestPagingMode: fc.integer({ min: 0, max: 3 }),
        InitPass: fc.boolean(), EIntPass: fc.boolean(), NMIPass: fc.boolean(), IntCtl: fc.integer({ min: 0, max: 3 }), Lint0Pass: fc.boolean(),
        Lint1Pass: fc.boolean(), AttrV: fc.boolean(), Mode0FC: fc.boolean(), SnoopAttribute: fc.integer({ min: 0, max: 255 }),
      }),
      (f) => { expect(S.decodeDte(S.encodeDte(f))).toEqual(f); },
    ), { seed: 42, numRuns: 300 });
  });
});

describe("commands (docs/spec-readings.md cmd 1.2-1.4)", () => {
  it("opcodes 01h..08h in dw1[31:28]", () => {
    expect([S.OP_COMPLETION_WAIT, S.OP_INVALIDATE_DEVTAB_ENTRY, S.OP_INVALIDATE_IOMMU_PAGES, S.OP_INVALIDATE_IOTLB_PAGES,
      S.OP_INVALIDATE_INTERRUPT_TABLE, S.OP_PREFETCH_IOMMU_PAGES, S.OP_COMPLETE_PPR_REQUEST, S.OP_INVALIDATE_IOMMU_ALL]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(S.buildInvalidateIommuAll()[1]! >>> 28).toBe(8);
  });
  it("INVALIDATE_IOMMU_PAGES: PASID dw0[19:0], DomainID dw1[15:0], S/PDE/GN dw2[2:0], Address dw2[31:12]+dw3", () => {
    const c = S.buildInvalidateIommuPages({ domainId: 0xbeef, pasid: 0xabcde, gn: true, pde: true, s: true, address: 0x1234_5678_9abc_d000n });
    expect([...c]).toEqual([0xabcde, 0x3000_beef, 0x9abc_d007, 0x1234_5678]);
  });
  it("INVALIDATE_IOTLB_PAGES puts PASID[15:8] in dw0[23:16], PASID[7:0] in dw1[23:16], PASID[19:16] in dw1[27:24]", () => {
    const c = S.buildInvalidateIotlbPages({ deviceId: 0x0102, pasid: 0xa_bc_de, gn: true, address: 0, maxPend: 0x20 });
    expect((c[0]! >>> 16) & 0xff).toBe(0xbc);
    expect((c[1]! >>> 16) & 0xff).toBe(0xde);
    expect((c[1]! >>> 24) & 0xf).toBe(0xa);
    expect(c[0]! >>> 24).toBe(0x20);
    expect(c[1]! & 0xffff).toBe(0x0102);
  });
  it("COMPLETE_PPR_REQUEST: PRG index dw3[8:0], response code dw3[15:12], GN dw2[2]", () => {
    const c = S.buildCompletePprRequest({ deviceId: 7, pasid: 9, gn: true, prgIndex: 0x1ff, responseCode: 0xf });
    expect([c[3]! & 0x1ff, (c[3]! >>> 12) & 0xf, (c[2]! >>> 2) & 1, c[1]! & 0xfffff]).toEqual([0x1ff, 0xf, 1, 9]);
  });
  it("S=1 decoding: lowest clear bit n >= 12 gives 2^(n+1) bytes; 0x1000 gives 16 KiB at 0", () => {
    expect(S.decodeInvalidationRange(0x1000n, true)).toEqual({ start: 0n, size: 0x4000n, all: false });
    expect(S.decodeInvalidationRange(0x2000n, true)).toEqual({ start: 0x2000n, size: 0x2000n, all: false });
    expect(S.decodeInvalidationRange(0x3000n, true)).toEqual({ start: 0n, size: 0x8000n, all: false });
    expect(S.decodeInvalidationRange(0x7fff_ffff_ffff_f000n, true).all).toBe(true);
    expect(S.decodeInvalidationRange(0x5000n, false)).toEqual({ start: 0x5000n, size: 0x1000n, all: false });
  });
  it("encodeInvalidationRange gives the smallest naturally aligned block covering the range (property)", () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 48n) - 1n }), fc.bigInt({ min: 1n, max: 1n << 32n }), (start, len) => {
      const e = S.encodeInvalidationRange(start, len);
      const d = S.decodeInvalidationRange(e.address, e.s);
      if (d.all) return;
      expect(d.start <= start).toBe(true);
      expect(d.start + d.size >= start + len).toBe(true);
      expect(d.start % d.size).toBe(0n);
      // smallest: half the block would not cover
      if (d.size > 4096n) {
        const half = d.size / 2n;
        const lo = (start / half) * half;
        expect(lo + half >= start + len && lo === (((start + len - 1n) / half) * half)).toBe(false);
      }
    }), { seed: 7, numRuns: 500 });
  });
  it("decodeCommand round-trips every named field of every command", () => {
    for (const c of S.COMMANDS) {
      const values: Record<string, bigint> = {};
      for (const f of c.fields) if (!f.reserved) values[f.name] = ((1n << BigInt(f.hi - f.lo + 1)) - 1n) & 0x5a5a5a5a5a5a5a5an;
      const dw = S.encodeCommand(c.name, values);
      expect(S.decodeCommand(dw)).toEqual({ opcode: c.opcode, name: c.name, fields: values });
    }
  });
});

describe("events and PPR entries (docs/spec-readings.md cmd 2, 3)", () => {
  it("event flags at dw1 bits 16..24: GN NX US I PR RW PE RZ TR", () => {
    expect([S.EVT_GN, S.EVT_NX, S.EVT_US, S.EVT_I, S.EVT_PR, S.EVT_RW, S.EVT_PE, S.EVT_RZ, S.EVT_TR].map((m) => Math.log2(m))).toEqual([16, 17, 18, 19, 20, 21, 22, 23, 24]);
  });
  it("event codes 01h..09h", () => {
    expect([S.EV_ILLEGAL_DEV_TABLE_ENTRY, S.EV_IO_PAGE_FAULT, S.EV_DEV_TAB_HARDWARE_ERROR, S.EV_PAGE_TAB_HARDWARE_ERROR,
      S.EV_ILLEGAL_COMMAND_ERROR, S.EV_COMMAND_HARDWARE_ERROR, S.EV_IOTLB_INV_TIMEOUT, S.EV_INVALID_DEVICE_REQUEST, S.EV_INVALID_PPR_REQUEST])
      .toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
  it("an IO_PAGE_FAULT round-trips: DeviceID, PASID over dw0[19:16]+dw1[15:0], flags, address", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xfffff }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (dev, pasid, addr) => {
      const out = new Uint32Array(4);
      S.encodeEvent(out, S.EV_IO_PAGE_FAULT, dev, pasid >>> 16, pasid & 0xffff, S.EVT_GN | S.EVT_RW, Number(addr & 0xffffffffn), Number(addr >> 32n));
      const e = S.decodeEvent(out);
      expect([e.code, e.deviceId, e.pasid, e.address, e.flags.GN, e.flags.RW, e.flags.PR]).toEqual([2, dev, pasid, addr, true, true, false]);
    }), { seed: 3, numRuns: 200 });
  });
  it("PPR entry: DeviceID dw0[15:0], PASID[15:0] dw0[31:16], PRG index dw1[8:0], L bit 9, PASID[19:16] dw1[13:10], flags EXEC 17 READ 18 WRITE 21 US 22 RZ 23 GN 24, code 1", () => {
    expect([S.PPR_EXEC, S.PPR_READ, S.PPR_WRITE, S.PPR_US, S.PPR_RZ, S.PPR_GN, S.PPR_LAST].map((m) => Math.log2(m))).toEqual([17, 18, 21, 22, 23, 24, 9]);
    fc.assert(fc.property(fc.record({
      deviceId: fc.integer({ min: 0, max: 0xffff }), pasid: fc.integer({ min: 0, max: 0xfffff }), prgIndex: fc.integer({ min: 0, max: 511 }),
      last: fc.boolean(), exec: fc.boolean(), read: fc.boolean(), write: fc.boolean(), user: fc.boolean(), rz: fc.boolean(), gn: fc.boolean(),
      addrLo: fc.integer({ min: 0, max: 0xfffff }).map((x) => x * 4096), addrHi: fc.integer({ min: 0, max: 0xffffffff }),
    }), (r) => {
      const d = S.decodePprEntry(S.encodePprEntry(new Uint32Array(4), 1, r));
      const { addrLo, addrHi, ...rest } = r;
      expect(d).toEqual({ ...rest, code: 1, address: (BigInt(addrHi) << 32n) | BigInt(addrLo) });
    }), { seed: 5, numRuns: 200 });
  });
});

describe("page-table entries (docs/spec-readings.md reg 4.2, 5.2, 5.3)", () => {
  it("v1: PR 0, A 5, D 6, NextLevel 11:9, U 59, FC 60, IR 61, IW 62", () => {
    expect([S.V1_PR, S.V1_A, S.V1_D, S.V1_NEXT_LEVEL_SHIFT]).toEqual([1, 0x20, 0x40, 9]);
    expect([S.V1_U_HI, S.V1_FC_HI, S.V1_IR_HI, S.V1_IW_HI].map((m) => Math.log2(m) + 32)).toEqual([59, 60, 61, 62]);
    expect(S.V1_PTE_RSVD_HI).toBe(0x07f0_0000); // 58:52
    expect(S.V1_PDE_RSVD_HI).toBe(0x1ff0_0000); // 60:52
  });
  it("long mode: P 0, R/W 1, U/S 2, A 5, D 6, PS 7, NX 63; 2 MiB leaf reserved 20:13, 1 GiB leaf 29:13", () => {
    expect([S.LM_P, S.LM_RW, S.LM_US, S.LM_A, S.LM_D, S.LM_PS]).toEqual([1, 2, 4, 0x20, 0x40, 0x80]);
    expect(S.LM_NX_HI >>> 0).toBe(0x8000_0000);
    expect(S.LM_2M_RSVD_LO).toBe(0x001f_e000);
    expect(S.LM_1G_RSVD_LO).toBe(0x3fff_e000);
  });
  it("GCR3 entry: V bit 0, address 51:12, 9 PASID bits per level", () => {
    expect([S.GCR3_V, S.GCR3_ADDR_LO >>> 0, S.GCR3_ADDR_HI, S.GCR3_INDEX_BITS]).toEqual([1, 0xffff_f000, 0xfffff, 9]);
  });
});
