/**
 * Conformance: the flags of every event a refused request logs (docs/spec-readings.md cmd 2.4,
 * docs/spec-readings.md reg 4.5, reg 5.8), for every fault class, read and write, user and
 * privileged requests, in every configuration and request mode. Each case asserts the whole
 * flag set (GN, NX, US, I, PR, RW, PE, RZ, TR), the code, the PASID or DomainID and the
 * address, so a flag taken from the wrong request (issue 17 item 2) or dropped fails here.
 *
 * Flag rules checked: GN = the fault is in a PASID's (guest) space; US = GN and the request
 * is user mode (no Privileged-Mode-Requested); RW = write; PR = the entry was present (a
 * permission, reserved-bit or encoding fault); PE = permission, U/S or NX violation; RZ = a
 * reserved bit; NX = an execute request denied by NX; I = TR = 0 (memory access, untranslated).
 */
import { describe, expect, it } from "vitest";
import { CONFIGS, GVA, Rig, TRANSLATE_MODES } from "./harness.js";
import { spec, type TranslationRequest } from "../../src/index.js";
import type { V1PageTable, LongModeTable } from "../../src/builders/index.js";

const { EV_IO_PAGE_FAULT, EV_INVALID_DEVICE_REQUEST, EV_ILLEGAL_DEV_TABLE_ENTRY, EV_PAGE_TAB_HARDWARE_ERROR } = spec;

interface Expect { code: number; fault: string; PR?: boolean; PE?: boolean; RZ?: boolean; NX?: boolean; gn: boolean; tag: number; address?: bigint }
interface Case {
  name: string;
  /** Build the tables and DTE; return the request (without write/privileged) and what the event must say. */
  setup: (r: Rig) => { req: TranslationRequest; want: Expect; warm?: TranslationRequest };
  /** Rig options (quirks, features). */
  extra?: ConstructorParameters<typeof Rig>[2];
  /** Which request kinds fault this way (default: every combination). */
  writes?: boolean[];
  /** Which privilege levels fault this way (default: user and privileged for guest cases). */
  privileged?: boolean[];
  guest: boolean;
  needsIotlb?: boolean;
}

const DEV = 0x70, DOM = 0x2a, PASID = 7;
const bad = (levels: number) => (levels === 4 ? 0x0000_8000_0000_0000n : 0x0100_0000_0000_0000n);

const hostCase = (name: string, build: (r: Rig, t: V1PageTable) => { address: number; want: Omit<Expect, "gn" | "tag" | "code"> & { code?: number } }, o: Partial<Case> = {}): Case => ({
  name, guest: false, ...o,
  setup: (r) => {
    const t = r.v1(4);
    const { address, want } = build(r, t);
    r.hostDte(DEV, t, { domain: DOM });
    return { req: { deviceId: DEV, address }, want: { code: EV_IO_PAGE_FAULT, gn: false, tag: DOM, ...want } };
  },
});

const guestCase = (name: string, build: (r: Rig, g: LongModeTable) => { address?: bigint; pasid?: number; want: Omit<Expect, "gn" | "tag" | "code"> & { code?: number; gn?: boolean; tag?: number } },
  o: Partial<Case> = {}): Case => ({
  name, guest: true, ...o,
  setup: (r) => {
    const g = r.guest();
    const gcr3 = r.gcr3(0);
    gcr3.set(PASID, g.root);
    r.guestDte(DEV, gcr3, { domain: DOM });
    const { address, pasid, want } = build(r, g);
    const p = pasid ?? PASID;
    return { req: { deviceId: DEV, address: address ?? GVA, pasid: p }, want: { code: EV_IO_PAGE_FAULT, gn: true, tag: p, ...want } };
  },
});

const CASES: Case[] = [
  // ---- host (v1) path: GN = 0, the DomainID ----
  hostCase("not present", () => ({ address: 0x4000, want: { fault: "not-present", PR: false } })),
  hostCase("a PTE without IW denies a write", (r, t) => { t.map(0x4000, r.page(), { writable: false }); return { address: 0x4000, want: { fault: "permission", PR: true, PE: true } }; }, { writes: [true] }),
  hostCase("a PTE without IR denies a read", (r, t) => { t.map(0x4000, r.page(), { readable: false }); return { address: 0x4000, want: { fault: "permission", PR: true, PE: true } }; }, { writes: [false] }),
  hostCase("reserved bits 58:52 of a PTE", (r, t) => {
    t.map(0x4000, r.page());
    const pte = t.entryAddress(0x4000, 1);
    r.memory.write32(pte + 4, r.memory.read32(pte + 4) | (1 << 20));
    return { address: 0x4000, want: { fault: "reserved-bit", PR: true, RZ: true } };
  }),
  hostCase("an invalid NextLevel", (r, t) => {
    t.map(0x4000, r.page());
    r.memory.write32(t.root, (r.memory.read32(t.root) & ~(7 << 9)) | (4 << 9));
    return { address: 0x4000, want: { fault: "invalid-level", PR: true } };
  }),
  hostCase("an invalid NextLevel-7 page size", (r, t) => {
    t.map(0, r.page());
    const pte = t.entryAddress(0, 1);
    r.memory.write32(pte, (r.memory.read32(pte) | 0xff000 | (7 << 9)) >>> 0);
    return { address: 0, want: { fault: "invalid-page-size", PR: true } };
  }),
  hostCase("skipped-level index bits not zero", (r, t) => {
    const leaf = r.page();
    r.memory.write64(t.root, BigInt(leaf) | (1n << 9n) | 1n | (3n << 61n));
    r.memory.write64(leaf + 5 * 8, BigInt(r.page()) | 1n | (3n << 61n));
    return { address: (1 << 21) + 5 * 4096, want: { fault: "skipped-level-nonzero", PR: true } };
  }),
  hostCase("an IOVA above the range Mode covers", () => ({ address: 2 ** 48, want: { fault: "address-out-of-range", PR: false } })),
  {
    name: "DTE TV = 0", guest: false,
    setup: (r) => {
      r.tb.deviceTable.set(DEV, { V: true, TV: false, DomainID: DOM });
      return { req: { deviceId: DEV, address: 0x4000 }, want: { code: EV_IO_PAGE_FAULT, fault: "translation-disabled", gn: false, tag: DOM } };
    },
  },
  {
    name: "reserved paging mode 7", guest: false,
    setup: (r) => {
      r.tb.deviceTable.set(DEV, { V: true, TV: true, Mode: 7, IR: true, IW: true, DomainID: DOM, HostPageTableRootPtr: r.page() });
      return { req: { deviceId: DEV, address: 0x4000 }, want: { code: EV_IO_PAGE_FAULT, fault: "reserved-mode", gn: false, tag: DOM } };
    },
  },
  {
    name: "Mode 0 with IW = 0 denies a write", guest: false, writes: [true],
    setup: (r) => {
      r.tb.deviceTable.set(DEV, { V: true, TV: true, Mode: 0, IR: true, IW: false, DomainID: DOM });
      return { req: { deviceId: DEV, address: 0x4000 }, want: { code: EV_IO_PAGE_FAULT, fault: "permission", PR: true, PE: true, gn: false, tag: DOM } };
    },
  },
  hostCase("a cached read-only translation denies a write at once", (r, t) => {
    t.map(0x4000, r.page(), { writable: false });
    return { address: 0x4000, want: { fault: "permission", PR: true, PE: true } };
  }, { writes: [true], needsIotlb: true, extra: { iommu: { quirks: { rewalkOnCachedPermissionFault: false } } } }),
  hostCase("a table read outside memory", (r, t) => {
    r.memory.write64(t.root, (1n << 40n) | (3n << 9n) | 1n | (3n << 61n));
    return { address: 0x4000, want: { code: EV_PAGE_TAB_HARDWARE_ERROR, fault: "page-table-hardware-error", address: 1n << 40n } };
  }),
  // ---- guest path: GN = 1, the PASID; US = the request's own privilege ----
  guestCase("guest PTE not present", () => ({ want: { fault: "not-present", PR: false } })),
  guestCase("GCR3 entry not valid", () => ({ pasid: 9, want: { fault: "gcr3-not-valid", PR: false } })),
  guestCase("PASID beyond GLX", () => ({ pasid: 600, want: { fault: "pasid-out-of-range", PR: false } })),
  guestCase("non-canonical GVA (before the walk)", (r) => ({ address: bad(r.cfg.guestLevels), want: { fault: "non-canonical", PR: false } })),
  guestCase("R/W = 0 denies a write", (r, g) => { g.map(GVA, r.page(), { writable: false }); return { want: { fault: "permission", PR: true, PE: true } }; }, { writes: [true] }),
  guestCase("U/S = 0 in an upper level denies a user request", (r, g) => {
    g.map(GVA, r.page(), { upper: { user: false } });
    return { want: { fault: "user-supervisor", PR: true, PE: true } };
  }, { privileged: [false] }),
  guestCase("NX denies an execute request", (r, g) => { g.map(GVA, r.page(), { nx: true }); return { want: { fault: "no-execute", PR: true, PE: true, NX: true } }; }),
  guestCase("PS = 1 in a PML4E", (r, g) => {
    g.map(GVA, r.page());
    const e = g.entryAddress(GVA, 4);
    r.memory.write32(e, r.memory.read32(e) | 0x80);
    return { want: { fault: "reserved-bit", PR: true, RZ: true } };
  }),
  guestCase("a cached read-only guest translation denies a write at once", (r, g) => {
    g.map(GVA, r.page(), { writable: false });
    return { want: { fault: "permission", PR: true, PE: true } };
  }, { writes: [true], needsIotlb: true, extra: { iommu: { quirks: { rewalkOnCachedPermissionFault: false } } } }),
  {
    name: "PASID request to a DTE with GV = 0 (quirks.pasidWithoutGuest io-page-fault)", guest: true,
    extra: { iommu: { quirks: { pasidWithoutGuest: "io-page-fault" } } },
    setup: (r) => {
      const t = r.v1(4);
      r.hostDte(DEV, t, { domain: DOM });
      return { req: { deviceId: DEV, address: 0x4000, pasid: PASID }, want: { code: EV_IO_PAGE_FAULT, fault: "pasid-not-allowed", gn: true, tag: PASID } };
    },
  },
  {
    name: "nested: a guest table the host does not map (GN = 0, the GPA)", guest: true,
    setup: (r) => {
      const host = r.v1(4);
      for (let a = 0; a < 16 * 1024 * 1024; a += 2 * 1024 * 1024) host.map(a, a, { size: 2 * 1024 * 1024 });
      const g = r.guest();
      const gcr3 = r.gcr3(0);
      gcr3.set(PASID, g.root);
      r.guestDte(DEV, gcr3, { domain: DOM, host });
      g.map(GVA, 0x10_0000);
      r.memory.write64(host.entryAddress(g.root, 2), 0n);
      return { req: { deviceId: DEV, address: GVA, pasid: PASID }, want: { code: EV_IO_PAGE_FAULT, fault: "not-present", gn: false, tag: DOM, address: BigInt(g.root) } };
    },
  },
  // ---- other events ----
  {
    name: "PASID request to a DTE with GV = 0 (INVALID_DEVICE_REQUEST)", guest: true,
    setup: (r) => {
      r.hostDte(DEV, r.v1(4), { domain: DOM });
      return { req: { deviceId: DEV, address: 0x4000, pasid: PASID }, want: { code: EV_INVALID_DEVICE_REQUEST, fault: "pasid-not-allowed", gn: true, tag: PASID } };
    },
  },
  {
    name: "a reserved DTE bit (ILLEGAL_DEV_TABLE_ENTRY)", guest: false,
    setup: (r) => {
      r.tb.deviceTable.set(DEV, { V: true, TV: true, Mode: 0, IR: true, IW: true, DomainID: DOM, GLX: 3, GV: true, GCR3TableRootPtr: 0x1000 });
      return { req: { deviceId: DEV, address: 0x4000 }, want: { code: EV_ILLEGAL_DEV_TABLE_ENTRY, fault: "illegal-dte", RZ: true, gn: false, tag: 0 } };
    },
  },
];

for (const mode of Object.keys(TRANSLATE_MODES)) {
  for (const cfg of CONFIGS) {
    describe(`event flags [${cfg.name}, ${mode}]`, () => {
      for (const c of CASES) {
        if (c.needsIotlb && !cfg.iotlb) continue;
        for (const write of c.writes ?? [false, true]) {
          for (const privileged of c.privileged ?? (c.guest ? [false, true] : [false])) {
            const execute = c.name.startsWith("NX");
            it(`${c.name}: ${write ? "write" : "read"}${privileged ? ", privileged" : ""}`, () => {
              const r = new Rig(cfg, mode, c.extra ?? {});
              const { req, want } = c.setup(r);
              const full = { ...req, write, privileged, execute };
              if (c.needsIotlb) {
                expect(r.translate({ ...full, write: false }).ok).toBe(true); // fills the IOTLB
                expect(r.tb.events()).toEqual([]);
              }
              const res = r.translate(full);
              expect([res.ok, res.fault]).toEqual([false, want.fault]);
              const ev = r.tb.events();
              expect(ev).toHaveLength(1);
              const e = ev[0]!;
              const user = !(req.pasid !== undefined && privileged);
              const isIdr = want.code === EV_INVALID_DEVICE_REQUEST;
              expect(e.code).toBe(want.code);
              expect(e.flags).toEqual({
                GN: want.gn, NX: want.NX ?? false, US: want.code === EV_IO_PAGE_FAULT && want.gn && user, I: false,
                PR: want.PR ?? false, RW: write, PE: want.PE ?? false, RZ: want.RZ ?? false, TR: false,
                Type: want.code === EV_PAGE_TAB_HARDWARE_ERROR ? 1 : isIdr ? spec.INVALID_DEVICE_REQUEST_TYPE.PasidNotAllowed : 0,
              });
              expect(e.deviceId).toBe(DEV);
              if (want.gn || want.code === EV_ILLEGAL_DEV_TABLE_ENTRY || isIdr) expect(e.pasid).toBe(want.tag);
              else expect(e.domainId).toBe(want.tag);
              if (want.code !== EV_ILLEGAL_DEV_TABLE_ENTRY) expect(e.address).toBe(want.address ?? BigInt(req.address));
            });
          }
        }
      }
    });
  }
}
