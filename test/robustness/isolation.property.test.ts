/**
 * DMA isolation (fast-check, seeded): for random device tables and page tables of several
 * devices (host v1 tables with 4 KiB, 8 KiB and 2 MiB pages; guest long-mode tables with 4
 * or 5 levels, GLX 0/1, GIoV; nested guest-over-host), every successful translation lands
 * where an independent reference walk of that device's tables (reference-walk.ts) says,
 * with every permission the request needed, in a frame that device's tables map; no request
 * of one device reaches a frame mapped only for another. With entries of the tables
 * corrupted afterwards (random values, entries pointing at their own table, at another
 * device's tables), the model still never grants more than the tables say (for an IOTLB hit:
 * than they say for some address of the cached page, since corrupted copies of an encoded
 * large page may disagree).
 * IOMMU_FUZZ_LONG=1 runs 20x more cases.
 */
import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { IommuTestbench } from "../../src/builders/testbench.js";
import { V1PageTable } from "../../src/builders/v1-page-table.js";
import { LongModeTable } from "../../src/builders/long-mode-table.js";
import { Gcr3Table } from "../../src/builders/gcr3-table.js";
import type { PageSource } from "../../src/builders/page-allocator.js";
import { refTranslate, type RefConfig } from "./reference-walk.js";

const LONG = process.env.IOMMU_FUZZ_LONG === "1";
const MiB = 1024 * 1024;
const DATA_BASE = 16 * MiB;
const REGION = 4 * MiB; // data frames of device k: [DATA_BASE + k REGION, + REGION)
const GPA_OFFSET = 0x10_0000_0000; // nested: GPA = SPA + offset
const VA_BASE = 0x20_0000_0000;

type Kind = "v1" | "guest" | "nested";
interface MapSpec {
  slot: number; frame: number; size: number; read: boolean; write: boolean; user: boolean; nx: boolean; pasid: number;
  /** U/S, R/W and NX of the guest directory entries this mapping creates (upper levels: a leaf-only check misses them). */
  upperUser: boolean; upperWrite: boolean; upperNx: boolean;
}
interface DevSpec { kind: Kind; mode: 3 | 4; levels: 4 | 5; glx: 0 | 1; giov: boolean; ir: boolean; iw: boolean; had: 0 | 1 | 3; maps: MapSpec[] }
interface ReqSpec { dev: number; map: number; offset: number; wild: boolean; write: boolean; execute: boolean; privileged: boolean; pasid: number; noPasid: boolean }
interface Corruption { table: number; index: number; kind: "random" | "self" | "foreign"; lo: number; hi: number }

/** true with probability w / (w + 1). */
const likely = (w: number) => fc.integer({ min: 0, max: w }).map((n) => n !== 0);
const mapArb = fc.record({
  slot: fc.nat(31), frame: fc.nat(1023), size: fc.constantFrom(4096, 4096, 4096, 8192, 2 * MiB),
  read: likely(4), write: fc.boolean(), user: likely(4),
  nx: fc.boolean(), pasid: fc.constantFrom(0, 1, 2),
  upperUser: likely(3), upperWrite: likely(3), upperNx: likely(5).map((x) => !x),
});
const devArb: fc.Arbitrary<DevSpec> = fc.record({
  kind: fc.constantFrom<Kind>("v1", "guest", "nested"), mode: fc.constantFrom<3 | 4>(3, 4), levels: fc.constantFrom<4 | 5>(4, 5),
  glx: fc.constantFrom<0 | 1>(0, 1), giov: fc.boolean(), ir: likely(5), iw: likely(3), had: fc.constantFrom<0 | 1 | 3>(0, 1, 3),
  maps: fc.array(mapArb, { minLength: 1, maxLength: 10 }),
});
const reqArb: fc.Arbitrary<ReqSpec> = fc.record({
  dev: fc.nat(7), map: fc.nat(15), offset: fc.nat(2 * MiB - 1), wild: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
  write: fc.boolean(), execute: fc.boolean(), privileged: fc.boolean(), pasid: fc.constantFrom(0, 1, 2, 3, 3, 3), noPasid: likely(3).map((x) => !x),
});
const corruptionArb: fc.Arbitrary<Corruption> = fc.record({
  table: fc.nat(1000), index: fc.nat(511), kind: fc.constantFrom<Corruption["kind"]>("random", "self", "foreign"),
  lo: fc.integer({ min: 0, max: 0xffffffff }), hi: fc.integer({ min: 0, max: 0xffffffff }),
});

/** A page source that records the table pages it hands out (and maps them for a nested guest). */
class TrackedPages implements PageSource {
  readonly allocated: number[] = [];
  constructor(private readonly inner: PageSource, private readonly onAlloc: (spa: number) => void = () => {}) {}
  alloc(): number { const pa = this.inner.alloc(); this.allocated.push(pa); this.onAlloc(pa); return pa; }
}

interface Placed { va: number; size: number; pasid: number }
interface Built { tb: IommuTestbench; cfg: RefConfig; owner: Int8Array; tables: number[][]; devs: DevSpec[]; ids: number[]; placed: Placed[][] }

/** Frame index (4 KiB) -> owning device, or -1. */
function frameOf(spa: number): number { return Math.floor(spa / 4096); }

function build(devs: DevSpec[], caches: boolean): Built {
  const tb = new IommuTestbench({ bytes: 32 * MiB, deviceTableEntries: 256, iommu: caches ? {} : { iotlb: { entries: 0 }, pdeCache: { entries: 0 } } });
  const owner = new Int8Array(tb.memory.bytes / 4096).fill(-1);
  const tables: number[][] = [];
  const ids: number[] = [];
  const placed: Placed[][] = [];
  devs.forEach((dv, k) => {
    const mine: Placed[] = [];
    placed.push(mine);
    const deviceId = 0x10 + k;
    ids.push(deviceId);
    const hostPages = new TrackedPages(tb.pages);
    const nested = dv.kind === "nested";
    const host = dv.kind !== "guest" ? new V1PageTable(tb.memory, hostPages, dv.mode) : null;
    // nested: every guest table page is mapped GPA -> SPA read/write in the host table
    const guestPages = new TrackedPages(tb.pages, nested ? (spa) => host!.map(spa + GPA_OFFSET, spa, { readable: true, writable: true }) : undefined);
    const toSpa = nested ? (gpa: number) => gpa - GPA_OFFSET : (x: number) => x;
    const fromSpa = nested ? (spa: number) => spa + GPA_OFFSET : (x: number) => x;
    const gcr3Pages = new TrackedPages(tb.pages);
    const gcr3 = dv.kind !== "v1" ? new Gcr3Table(tb.memory, gcr3Pages, dv.glx) : null;
    const lms = new Map<number, LongModeTable>();
    // one page size per 2 MiB slot: the copies of an encoded (NextLevel 7) page stay identical,
    // as the format requires; overlapping pages of different sizes are for the corrupted variant
    const slotSize = new Map<number, number>();
    for (const m of dv.maps) {
      if (!slotSize.has(m.slot)) slotSize.set(m.slot, dv.kind === "v1" ? m.size : m.size === 8192 ? 4096 : m.size);
      const size = slotSize.get(m.slot)!;
      const frames = REGION / size;
      const spa = DATA_BASE + k * REGION + (m.frame % frames) * size;
      const va = VA_BASE + m.slot * 2 * MiB + (size < 2 * MiB ? (m.frame % 8) * size : 0);
      for (let f = frameOf(spa); f < frameOf(spa + size); f++) owner[f] = k;
      mine.push({ va, size, pasid: m.pasid });
      if (dv.kind === "v1") {
        host!.map(va, spa, { size, readable: m.read, writable: m.write });
      } else {
        if (!dv.giov && m.pasid === 0) continue;
        let lm = lms.get(m.pasid);
        if (!lm) { lm = new LongModeTable(tb.memory, guestPages, dv.levels, toSpa, fromSpa); lms.set(m.pasid, lm); gcr3!.set(m.pasid, lm.root); }
        lm.map(va, nested ? spa + GPA_OFFSET : spa, {
          size: size as 4096 | 2097152, writable: m.write, user: m.user, nx: m.nx,
          upper: { user: m.upperUser, writable: m.upperWrite, nx: m.upperNx },
        });
        if (nested) host!.map(spa + GPA_OFFSET, spa, { size, readable: m.read, writable: m.write });
      }
    }
    tables.push([...hostPages.allocated, ...guestPages.allocated, ...gcr3Pages.allocated]);
    tb.deviceTable.set(deviceId, {
      V: true, TV: true, Mode: dv.kind === "guest" ? 0 : dv.mode, HostPageTableRootPtr: host ? host.root : 0,
      GV: dv.kind !== "v1", GLX: dv.glx, GCR3TableRootPtr: gcr3 ? gcr3.root : 0, GIoV: dv.kind !== "v1" && dv.giov,
      GuestPagingMode: dv.levels === 5 ? 1 : 0, IR: dv.ir, IW: dv.iw, HAD: dv.had, DomainID: 0x100 + k,
    });
  });
  const cfg: RefConfig = { deviceTableBase: BigInt(tb.deviceTable.base), guestEnabled: true, gcr3IsGpa: false, nx: true };
  return { tb, cfg, owner, tables, devs, ids, placed };
}

function corrupt(b: Built, cs: Corruption[]): void {
  const all = b.tables.flat();
  for (const c of cs) {
    if (all.length === 0) return;
    const table = all[c.table % all.length]!;
    const pa = table + c.index * 8;
    let lo = c.lo, hi = c.hi;
    if (c.kind === "self") { lo = (table + (c.lo & 0xfff)) | 1; hi = c.hi & 0x60000000; } // present, pointing at its own table
    if (c.kind === "foreign") { const other = all[(c.table * 7 + 3) % all.length]!; lo = (other + (c.lo & 0xfff)) | 1; hi = c.hi & 0x60000000; }
    b.tb.memory.write32(pa + 4, hi);
    b.tb.memory.write32(pa, lo >>> 0);
  }
}

interface Tally { requests: number; granted: number; violations: string[]; misses: number }
const totals = { cases: 0, requests: 0, granted: 0, violations: 0 };
const grantedBy: Record<string, number> = {};
afterAll(() => {
  // eslint-disable-next-line no-console
  console.log(`[isolation] cases ${totals.cases}, requests ${totals.requests}, granted ${totals.granted} (${JSON.stringify(grantedBy)}), isolation violations ${totals.violations}`);
});

/**
 * A cached translation covers its whole page: with corrupted tables the copies of an encoded
 * large page may disagree, and the IOTLB entry filled through one copy serves the others.
 * Such a grant is what the tables said for some address of the same page.
 */
function justifiedByPage(b: Built, req: { deviceId: number; write: boolean; execute: boolean; privileged: boolean }, pasid: number | undefined,
  va: number, spa: number, pageSize: number, r: ReqSpec, needUser: boolean, needExec: boolean): boolean {
  const first = va - (va % pageSize);
  for (let k = 0; k < Math.min(pageSize / 4096, 512); k++) {
    const v = first + k * 4096;
    const ref = refTranslate(b.tb.memory, b.cfg, { ...req, address: BigInt(v), pasid });
    if (ref.ok && (r.write ? ref.write : ref.read) && (!needUser || ref.user) && (!needExec || ref.exec) && ref.spa - BigInt(v) === BigInt(spa) - BigInt(va)) return true;
  }
  return false;
}

function exercise(b: Built, reqs: ReqSpec[], wellFormed: boolean): Tally {
  const t: Tally = { requests: 0, granted: 0, violations: [], misses: 0 };
  for (const r of reqs) {
    const k = r.dev % b.devs.length;
    const dv = b.devs[k]!;
    const m = b.placed[k]![r.map % b.placed[k]!.length]!;
    const va = r.wild ? VA_BASE + (r.offset % 64) * 2 * MiB + (r.offset & ~0xfff) % (2 * MiB) : m.va + (r.offset % m.size);
    // a guest-only DTE (Mode 0) without GIoV forwards PASID-less requests untranslated: keep those to PASID requests
    const withPasid = dv.kind !== "v1" && (!r.noPasid || (dv.kind === "guest" && !dv.giov));
    const pasid = withPasid ? (r.pasid === 3 ? m.pasid : r.pasid) : undefined;
    const req = { deviceId: b.ids[k]!, address: va, write: r.write, execute: r.execute, privileged: r.privileged, ...(pasid !== undefined ? { pasid } : {}) };
    const res = b.tb.iommu.translate(req);
    const ref = refTranslate(b.tb.memory, b.cfg, { ...req, address: BigInt(va), pasid });
    t.requests++;
    const guestPath = ref.why === "guest" || ref.why === "nested";
    const needUser = !(pasid !== undefined && r.privileged);
    const needExec = r.execute && pasid !== undefined && guestPath;
    const allowed = ref.ok && (r.write ? ref.write : ref.read) && (!needUser || ref.user) && (!needExec || ref.exec);
    if (res.ok) {
      t.granted++;
      grantedBy[res.path] = (grantedBy[res.path] ?? 0) + 1;
      if (!wellFormed && res.iotlbHit && !(allowed && BigInt(res.spa) === ref.spa) && justifiedByPage(b, req, pasid, va, res.spa, res.pageSize, r, needUser, needExec)) continue;
      const where = `dev ${k} (${dv.kind}) ${r.write ? "write" : "read"}${needExec ? "+exec" : ""} va 0x${va.toString(16)} pasid ${String(pasid)}`;
      if (!allowed) t.violations.push(`${where}: granted spa 0x${res.spa.toString(16)} but the tables say ${ref.why} r${+ref.read} w${+ref.write} x${+ref.exec} u${+ref.user}`);
      else if (BigInt(res.spa) !== ref.spa) t.violations.push(`${where}: spa 0x${res.spa.toString(16)}, tables say 0x${ref.spa.toString(16)}`);
      else if (wellFormed && b.owner[frameOf(res.spa)] !== k) t.violations.push(`${where}: reached frame 0x${res.spa.toString(16)} owned by ${b.owner[frameOf(res.spa)]}`);
    } else if (wellFormed && allowed) {
      t.misses++; // the tables grant it but the model refused: a conformance difference, reported below
    }
  }
  return t;
}

describe("DMA isolation against an independent reference walk", () => {
  const numRuns = LONG ? 10_000 : 500;
  it("well-formed random tables: every grant is what the device's own tables say, in its own frames, and every grant the tables make is honoured", () => {
    fc.assert(
      fc.property(fc.array(devArb, { minLength: 2, maxLength: 4 }), fc.array(reqArb, { minLength: 10, maxLength: 60 }), fc.boolean(), (devs, reqs, caches) => {
        const b = build(devs, caches);
        // twice: the second pass is served from the caches the first one filled
        const t1 = exercise(b, reqs, true), t2 = exercise(b, reqs, true);
        totals.cases++; totals.requests += t1.requests + t2.requests; totals.granted += t1.granted + t2.granted;
        totals.violations += t1.violations.length + t2.violations.length;
        expect([...t1.violations, ...t2.violations]).toEqual([]);
        expect(t1.misses + t2.misses).toBe(0);
      }),
      { seed: 0x150_1a7e, numRuns },
    );
  }, LONG ? 900_000 : 60_000);

  it("corrupted tables (random entries, self-loops, pointers into another device's tables): the model never grants more than the tables say", () => {
    fc.assert(
      fc.property(fc.array(devArb, { minLength: 2, maxLength: 4 }), fc.array(corruptionArb, { minLength: 1, maxLength: 12 }),
        fc.array(reqArb, { minLength: 10, maxLength: 60 }), fc.boolean(), (devs, cs, reqs, caches) => {
          const b = build(devs, caches);
          corrupt(b, cs);
          const t = exercise(b, reqs, false);
          totals.cases++; totals.requests += t.requests; totals.granted += t.granted; totals.violations += t.violations.length;
          expect(t.violations).toEqual([]);
        }),
      { seed: 0xc0_aa07, numRuns },
    );
  }, LONG ? 900_000 : 60_000);
});
