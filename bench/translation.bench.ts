/**
 * Host time of translation (issues 6 and 13) against the native C reference doing the same
 * work (bench/native/iommu_ref.c, same tables, same requests, interleaved rounds in the same
 * run): v1, guest with a PASID and through GIoV, 4- and 5-level guest tables, nested; IOTLB
 * hits and misses, page-directory cache on and off, mixed reads and writes, working sets
 * larger than the IOTLB, first-touch walks that set A/D, ATS translation requests and timed
 * mode. Plus invalidation with a full IOTLB (no native twin).
 */
import type { BenchCase, BenchSubject } from "./bench-case.js";
import { TranslationResult, type TranslationRequest } from "../src/index.js";
import { CommandRing, DEVICE, DOMAIN, hostWorkload, type Workload } from "../src/experiments/workload.js";
import { buildInvalidateIommuPages, encodeInvalidationRange, ALL_PAGES_ADDRESS } from "../src/spec/commands.js";
import { FNV_START, fnv, type NativeSpec } from "./native-reference.js";
import { workloadFor } from "./sva-workload.js";

const BATCH = 1024;
type How = "functional" | "timed" | "ats";

/**
 * BATCH requests per call, cycling through `span` pages with stride `stride` (one in
 * writeEvery a write). Addresses and write flags are computed beforehand, so the loop around
 * the model is typed-array reads (the native side's loop is the same).
 */
function translating(w: Workload, s: NativeSpec, how: How): BenchSubject {
  const out = new TranslationResult();
  const req: TranslationRequest = w.pasid === undefined ? { deviceId: DEVICE, address: 0, write: false } : { deviceId: DEVICE, address: 0, pasid: w.pasid, write: false };
  const io = w.io;
  const span = s.span, stride = s.stride ?? 1, we = s.writeEvery ?? 0;
  const order = new Float64Array(span);
  const writes = new Uint8Array(span);
  const leaves = new Int32Array(span); // word index of the leaf entry (first-touch cases clear its A/D)
  for (let k = 0, i = 0; k < span; k++) {
    order[k] = w.address(i, 64);
    writes[k] = we > 0 && k % we === 0 ? 1 : 0;
    leaves[k] = w.leaf(i) / 4;
    i += stride; if (i >= span) i -= span;
  }
  const mem = w.tb.memory.u32;
  let i = 0;
  let t = io.now;
  let refs = 0, n = 0;
  // (the loops keep their state in locals: a closure's variables are loaded and stored through its context)
  const functional = () => {
    const q = req, o = out, m = io, addresses = order, wr = writes;
    let j = i;
    for (let k = 0; k < BATCH; k++) {
      q.address = addresses[j]!;
      q.write = wr[j] === 1;
      if (++j === span) j = 0;
      m.translateInto(q, o);
    }
    i = j;
    refs += o.walkReferences; n++;
  };
  const firstTouch = () => {
    const q = req, o = out, m = io, addresses = order, wr = writes, u32 = mem, lv = leaves;
    let j = i;
    for (let k = 0; k < BATCH; k++) {
      const li = lv[j]!;
      u32[li] = u32[li]! & ~0x60; // clear A (bit 5) and D (bit 6): the walk sets them again
      q.address = addresses[j]!;
      q.write = wr[j] === 1;
      if (++j === span) j = 0;
      m.translateInto(q, o);
    }
    i = j;
    refs += o.walkReferences; n++;
  };
  // the issue cycle through the IOMMU's typed array (AmdIommu.translateTimedAt): a cycle count
  // above 2^31 handed as an argument is a heap number per call V8 does not inline, and a loop
  // variable holding it, live across the inlined translation, was one per translation even
  // when V8 inlined translateTimed (README "Allocation")
  const timed = () => {
    const q = req, o = out, m = io, addresses = order, wr = writes, issue = io.timedIssue;
    let j = i;
    issue[0] = t;
    for (let k = 0; k < BATCH; k++) {
      q.address = addresses[j]!;
      q.write = wr[j] === 1;
      if (++j === span) j = 0;
      issue[0] += 1000;
      m.translateTimedAt(q, o);
    }
    i = j; t = issue[0]!;
    refs += o.walkReferences; n++;
  };
  const ats = () => {
    const q = req, o = out, m = io, addresses = order, wr = writes;
    let j = i;
    for (let k = 0; k < BATCH; k++) {
      q.address = addresses[j]!;
      q.write = wr[j] === 1;
      if (++j === span) j = 0;
      m.translateAts(q, o);
    }
    i = j;
    refs += o.walkReferences; n++;
  };
  const run = s.firstTouch === true ? firstTouch : how === "timed" ? timed : how === "ats" ? ats : functional;
  const tb = w.tb;
  return {
    opsPerCall: BATCH, run, modelledCycles: () => out.cycles, memoryReferences: () => (n === 0 ? 0 : refs / n),
    layout: {
      bytes: tb.memory.bytes, deviceTable: tb.deviceTable.base, tableStart: tb.semaphore + 4096, tableEnd: tb.pages.used,
      dteAddress: tb.deviceTable.address(DEVICE), u32: mem,
      tableCache: io.translator.lines === null ? [0, 1] : [io.translator.lines.lines, io.translator.lines.ways],
    },
    verify: (count: number) => {
      let c = FNV_START;
      for (let k = 0; k < count; k++) {
        const j = i;
        if (s.firstTouch === true) mem[leaves[j]!] = mem[leaves[j]!]! & ~0x60;
        req.address = order[j]!;
        req.write = writes[j] === 1;
        if (++i === span) i = 0;
        if (how === "timed") { t += 1000; io.translateTimed(req, t, out); } else if (how === "ats") io.translateAts(req, out); else io.translateInto(req, out);
        const spa = out.ok ? out.spa : 0;
        c = fnv(fnv(fnv(fnv(c, spa >>> 0), Math.floor(spa / 4294967296)), out.ok ? 1 : 0), out.tableLineHits);
      }
      return c;
    },
  };
}

const PAGES = 65536;
const OFF: [number, number] = [0, 4];
const DEFAULT_IOTLB: [number, number] = [64, 4];
const BIG_IOTLB: [number, number] = [1024, 8];
const PDE: [number, number] = [64, 4];

/** A timed case is named after its functional twin with "-timed" added: its variantOf (bench/run.ts reports timed over functional). */
function sva(name: string, measures: string, s: NativeSpec, how: How = "functional"): BenchCase {
  const c: BenchCase = { name, group: "translation", measures, native: s, setup: () => translating(workloadFor(s), s, how) };
  if (how === "timed") {
    if (!name.endsWith("-timed")) throw new Error(`${name}: a timed case's name is its functional twin's with "-timed" added`);
    c.variantOf = name.slice(0, -"-timed".length);
  }
  return c;
}

const v1Miss = (levels: 4 | 5, pde: boolean, timed = false) =>
  sva(`translate/miss-${levels}level-${pde ? "pde" : "nopde"}${timed ? "-timed" : ""}`,
    `v1 (host) ${levels}-level walk of an IOTLB miss (IOTLB off), reads over ${PAGES} pages, page-directory cache ${pde ? "on" : "off"}${timed ? ", timed mode" : ""}`,
    { kind: "v1", hostLevels: levels, pages: PAGES, span: PAGES, iotlb: OFF, pde: pde ? PDE : OFF }, timed ? "timed" : "functional");
const guestMiss = (levels: 4 | 5, pde: boolean, timed = false) =>
  sva(`translate/guest-miss-${levels}level-${pde ? "pde" : "nopde"}${timed ? "-timed" : ""}`,
    `guest (PASID) ${levels}-level long-mode walk of an IOTLB miss (IOTLB off), GCR3 read, 1 in 4 writes over ${PAGES} pages, page-directory cache ${pde ? "on" : "off"}${timed ? ", timed mode" : ""}`,
    { kind: "guest", guestLevels: levels, pages: PAGES, span: PAGES, writeEvery: 4, iotlb: OFF, pde: pde ? PDE : OFF }, timed ? "timed" : "functional");

/** One INVALIDATE_IOMMU_PAGES per operation through the ring with a full IOTLB. */
function invalidation(kind: "page" | "range-2mib" | "all"): BenchSubject {
  const w = hostWorkload({ pages: 4096, iommu: { iotlb: { entries: 64 } } });
  const io = w.io;
  const ring = new CommandRing(w.tb);
  const out = new TranslationResult();
  const fill = () => { for (let p = 0; p < 64; p++) io.translateInto({ deviceId: DEVICE, address: w.address(p) }, out); };
  fill();
  // page and range commands target pages the IOTLB does not hold, so it stays full and every command scans all of it
  const far = w.address(2048);
  const cmd = kind === "page" ? buildInvalidateIommuPages({ domainId: DOMAIN, pde: true, address: far })
    : kind === "range-2mib" ? (() => { const r = encodeInvalidationRange(BigInt(far), 2n * 1024n * 1024n); return buildInvalidateIommuPages({ domainId: DOMAIN, pde: true, s: r.s, address: r.address }); })()
      : buildInvalidateIommuPages({ domainId: DOMAIN, pde: true, s: true, address: ALL_PAGES_ADDRESS });
  let cycles = 0;
  return {
    opsPerCall: 1,
    run: () => {
      if (kind === "all") fill();
      const busy = io.commands.stats.busyCycles;
      ring.submit(cmd);
      io.runUntilIdle();
      cycles = io.commands.stats.busyCycles - busy;
    },
    modelledCycles: () => cycles,
    memoryReferences: () => (kind === "all" ? 64 * 4 : 1),
  };
}

export const cases: BenchCase[] = [
  // ---- v1 (host) ----
  sva("translate/iotlb-hit", "v1 IOTLB hit, 32-page working set, reads (default 64-entry IOTLB)",
    { kind: "v1", pages: 64, span: 32, iotlb: DEFAULT_IOTLB, pde: PDE }),
  sva("translate/iotlb-hit-timed", "translate/iotlb-hit in timed mode (translateTimedAt, the issue cycle in timedIssue[0], a request every 1,000 cycles)",
    { kind: "v1", pages: 64, span: 32, iotlb: DEFAULT_IOTLB, pde: PDE }, "timed"),
  sva("translate/v1-hit-512-w4", "v1 IOTLB hit, 512-page working set (1,024-entry 8-way IOTLB), 1 in 4 writes, HAD = 11b",
    { kind: "v1", pages: 512, span: 512, writeEvery: 4, iotlb: BIG_IOTLB, pde: PDE }),
  v1Miss(4, true), v1Miss(4, false), v1Miss(4, true, true), v1Miss(4, false, true), v1Miss(5, true), v1Miss(5, false),
  sva("translate/v1-miss-4level-w4", `v1 4-level walk (IOTLB off, no PDE cache), 1 in 4 writes over ${PAGES} pages, HAD = 11b`,
    { kind: "v1", pages: PAGES, span: PAGES, writeEvery: 4, iotlb: OFF, pde: OFF }),
  sva("translate/v1-working-set-4096", "v1, 4,096-page working set through the default 64-entry IOTLB (misses, walk with PDE cache, IOTLB fill), 1 in 4 writes",
    { kind: "v1", pages: 4096, span: 4096, writeEvery: 4, iotlb: DEFAULT_IOTLB, pde: PDE }),
  sva("translate/first-touch-ad", `v1 first-touch walk: A and D of the leaf cleared before each write, set again by compare-exchange (IOTLB off, ${PAGES} pages)`,
    { kind: "v1", pages: PAGES, span: PAGES, writeEvery: 1, firstTouch: true, iotlb: OFF, pde: PDE }),
  sva("translate/ats-v1-hit", "ATS translation request (translateAts), v1, IOTLB hit over 32 pages",
    { kind: "v1", pages: 64, span: 32, iotlb: DEFAULT_IOTLB, pde: PDE }, "ats"),
  // ---- guest (PASID / GIoV) ----
  sva("translate/guest-hit-512-w4", "guest (PASID) IOTLB hit, 512-page working set (1,024-entry 8-way IOTLB), 1 in 4 writes",
    { kind: "guest", pages: 512, span: 512, writeEvery: 4, iotlb: BIG_IOTLB, pde: PDE }),
  sva("translate/guest-hit-512-w4-timed", "translate/guest-hit-512-w4 in timed mode",
    { kind: "guest", pages: 512, span: 512, writeEvery: 4, iotlb: BIG_IOTLB, pde: PDE }, "timed"),
  guestMiss(4, false), guestMiss(4, true), guestMiss(5, false), guestMiss(5, true), guestMiss(4, false, true),
  sva("translate/giov-hit-512-w4", "guest translation without a PASID (DTE.GIoV, PASID 0) IOTLB hit, 512 pages, 1 in 4 writes",
    { kind: "guest", giov: true, pages: 512, span: 512, writeEvery: 4, iotlb: BIG_IOTLB, pde: PDE }),
  sva("translate/giov-miss-4level-nopde", `GIoV 4-level walk (IOTLB off, no PDE cache), 1 in 4 writes over ${PAGES} pages`,
    { kind: "guest", giov: true, pages: PAGES, span: PAGES, writeEvery: 4, iotlb: OFF, pde: OFF }),
  sva("translate/guest-working-set-4096", "guest (PASID), 4,096-page working set through the default 64-entry IOTLB (misses, walk with PDE cache, fill), 1 in 4 writes",
    { kind: "guest", pages: 4096, span: 4096, writeEvery: 4, iotlb: DEFAULT_IOTLB, pde: PDE }),
  sva("translate/guest-first-touch-ad", `guest first-touch walk: A and D of the leaf cleared before each write (IOTLB off, ${PAGES} pages)`,
    { kind: "guest", pages: PAGES, span: PAGES, writeEvery: 1, firstTouch: true, iotlb: OFF, pde: PDE }),
  sva("translate/ats-guest-miss", `ATS translation request with a PASID, 4-level guest walk (IOTLB off, no PDE cache, ${PAGES} pages)`,
    { kind: "guest", pages: PAGES, span: PAGES, iotlb: OFF, pde: OFF }, "ats"),
  // ---- nested (guest tables in guest-physical memory, host v1 4-level) ----
  sva("translate/nested-miss-4x4", "nested 4x4 walk, IOTLB and PDE cache off (GCR3 + 4 guest entries, each table and the final GPA through a 4-level host walk), 4,096 pages",
    { kind: "nested", pages: 4096, span: 4096, iotlb: OFF, pde: OFF }),
  sva("translate/nested-miss-4x4-w4-pde", "nested 4x4 walk with the PDE cache (IOTLB off), 1 in 4 writes, 4,096 pages",
    { kind: "nested", pages: 4096, span: 4096, writeEvery: 4, iotlb: OFF, pde: PDE }),
  sva("translate/nested-hit-512-w4", "nested IOTLB hit, 512 pages (1,024-entry 8-way IOTLB), 1 in 4 writes",
    { kind: "nested", pages: 512, span: 512, writeEvery: 4, iotlb: BIG_IOTLB, pde: PDE }),
  sva("translate/nested-working-set-4096", "nested, 4,096-page working set through the default IOTLB and PDE cache (guest-table translations hit the IOTLB), 1 in 4 writes",
    { kind: "nested", pages: 4096, span: 4096, writeEvery: 4, iotlb: DEFAULT_IOTLB, pde: PDE }),
  // ---- invalidation ----
  { name: "invalidate/page-full-iotlb", group: "invalidation", measures: "one single-page INVALIDATE_IOMMU_PAGES through the ring, full 64-entry IOTLB (every entry scanned)", setup: () => invalidation("page") },
  { name: "invalidate/range-2mib-full-iotlb", group: "invalidation", measures: "one 2 MiB-range INVALIDATE_IOMMU_PAGES, full IOTLB", setup: () => invalidation("range-2mib") },
  { name: "invalidate/all-pages-full-iotlb (incl. refill of 64)", group: "invalidation", measures: "one all-pages INVALIDATE_IOMMU_PAGES plus the 64 translations that refill the IOTLB", setup: () => invalidation("all") },
];
