/**
 * replay(deviceId): every valid mapping of a device, for an embedder that attaches late and
 * must fill its own translation cache (QEMU's IOMMU replay). Spec structures walked: the
 * Device Table Entry, the host (v1) I/O page table, the GCR3 table and the AMD64 long-mode
 * guest tables, nested through the host table (docs/spec-readings.md reg 3-5).
 *
 * This is an enumerator, not a second translator: it follows present entries of the tables
 * in memory to find candidate pages, and asks `iommu.peek()` (no side effects) for the
 * architectural answer of each: permissions, the final SPA, and the page size (a nested
 * translation is the smaller of the guest and host pages). Only what peek grants is
 * reported, so replay and translate cannot disagree. The DTE is read from memory, as peek
 * does, not from the DTE cache.
 *
 * Spaces reported: requests without a PASID (host v1 table, identity for Mode 0 / V = 0 /
 * IommuEn = 0, or the PASID-0 guest table for GIoV), and with GV = 1 every PASID with a
 * valid GCR3 entry. The exclusion range is not reported.
 *
 * Bounded work: a leaf is one candidate of its own size (a 1 GiB or 2^57-byte leaf is one
 * peek, not one per 4 KiB page: every page of a leaf shares its entries' fate; only under a
 * nested guest leaf do the host pages decide, and a refused host block is skipped whole);
 * entries that are not present are skipped with their subtrees. Garbage tables may still
 * describe very many pages or loop back on themselves, so the walk stops after
 * `options.limit` mappings or `options.tableReads` memory references (entries read, peeks' walks),
 * whichever comes first, and the iterator's `truncated` then says it stopped early.
 */
import {
  GCR3_ADDR_HI, GCR3_ADDR_LO, GCR3_V, LM_ADDR_HI, LM_ADDR_LO, LM_LEVEL_SHIFT, LM_P, LM_PS, V1_ADDR_HI, V1_ADDR_LO,
  V1_IR_HI, V1_IW_HI, V1_NEXT_LEVEL_MASK, V1_NEXT_LEVEL_SHIFT, V1_NL_ENCODED, V1_NL_LEAF, V1_PR, v1LevelShift,
} from "../spec/page-tables.js";
import { CONTROL, MMIO_CONTROL } from "../spec/registers.js";
import type { DteFields } from "../spec/dte.js";
import type { MemoryPort } from "../memory/memory-port.js";
import { TranslationResult, type TranslationRequest } from "../iommu/translation/request.js";
import type { FeatureOptions } from "../iommu/options.js";
import type { Mapping } from "./invalidation-notifiers.js";

/** What replay needs of an AmdIommu (kept narrow so this file does not import the class). */
export interface ReplaySource {
  readonly memory: MemoryPort;
  readonly features: Readonly<FeatureOptions>;
  readonly regs: { test(offset: number, bit: { half: 0 | 1; mask: number }): boolean };
  readonly deviceTable: { lookup(deviceId: number, bypassCache?: boolean): { f: DteFields; guestLevels: number } | null };
  peek(request: TranslationRequest, out?: TranslationResult): TranslationResult;
}

export interface ReplayOptions {
  /** undefined: every space of the device; null: requests without a PASID only; a number: that PASID only. */
  pasid?: number | null;
  /** Most mappings reported (default: no limit beyond tableReads). */
  limit?: number;
  /** Most memory references made: table entries read, plus each peek's references (default REPLAY_TABLE_READS). */
  tableReads?: number;
}

/** Default bound on the memory references one replay makes (table entries read, peeks' walks): 2^20. */
export const REPLAY_TABLE_READS = 1 << 20;

/** The mappings, lazily; `truncated` is true once the walk stopped at a bound (limit or tableReads) before finishing. */
export interface ReplayIterator extends IterableIterator<Mapping> {
  readonly truncated: boolean;
}

const TWO32 = 4294967296;
const U64 = (1n << 64n) - 1n;

/** Table reads left to one replay. */
class Budget {
  reads: number;
  out = false;
  constructor(reads: number) { this.reads = reads; }
  take(n = 1): boolean {
    if (this.reads <= 0) { this.out = true; return false; }
    this.reads -= n;
    return true;
  }
}

function entry(mem: MemoryPort, pa: number, b: Budget): [number, number] | null {
  if (!b.take() || !mem.contains(pa, 8)) return null;
  return [mem.load32(pa), mem.load32(pa + 4)];
}

/** Leaf entries of a v1 table under `root` (level `mode`) whose pages overlap [lo, hi). */
/**
 * `prune`: skip the subtree of an entry with IR = IW = 0 (permissions are ANDed along the
 * path, so no page beneath it is accessible by an untranslated request); table reads of a
 * nested walk (hostSpa) do not prune.
 */
function* v1Leaves(mem: MemoryPort, table: number, level: number, vaBase: bigint, lo: bigint, hi: bigint, b: Budget, prune = false):
  Generator<{ va: bigint; level: number; eLo: number; eHi: number }> {
  const shift = v1LevelShift(level);
  const span = 1n << BigInt(shift);
  for (let i = 0; i < 512; i++) {
    const va = vaBase + BigInt(i) * span;
    if (va >= hi || va + span <= lo || va > U64) continue;
    if (b.out) return;
    const e = entry(mem, table + i * 8, b);
    if (e === null || (e[0] & V1_PR) === 0) continue;
    const nl = (e[0] >>> V1_NEXT_LEVEL_SHIFT) & V1_NEXT_LEVEL_MASK;
    if (nl === V1_NL_LEAF || nl === V1_NL_ENCODED) { yield { va, level, eLo: e[0], eHi: e[1] }; continue; }
    if (nl >= level) continue; // invalid level: the translator faults, nothing to report
    if (prune && (e[1] & (V1_IR_HI | V1_IW_HI)) === 0) continue; // no permission anywhere beneath
    const next = (e[1] & V1_ADDR_HI) * TWO32 + ((e[0] & V1_ADDR_LO) >>> 0);
    // skipped levels (nl < level - 1) have index 0: the child covers the start of this entry's span
    yield* v1Leaves(mem, next, nl, va, lo, hi, b, prune);
  }
}

/** SPA of a GPA through the host table (candidate only: peek has the last word), or -1. */
function hostSpa(mem: MemoryPort, f: DteFields, gpa: number, b: Budget): number {
  const g = BigInt(gpa);
  for (const leaf of v1Leaves(mem, f.HostPageTableRootPtr, f.Mode, 0n, g, g + 1n, b)) {
    let log2 = v1LevelShift(leaf.level);
    const nl = (leaf.eLo >>> V1_NEXT_LEVEL_SHIFT) & V1_NEXT_LEVEL_MASK;
    if (nl === V1_NL_ENCODED) {
      let z = 12;
      while (z < 52 && (z < 32 ? (leaf.eLo >>> z) & 1 : (leaf.eHi >>> (z - 32)) & 1) === 1) z++;
      log2 = z + 1;
    }
    const base = (leaf.eHi & V1_ADDR_HI) * TWO32 + ((leaf.eLo & V1_ADDR_LO) >>> 0);
    const size = 2 ** log2;
    return base - (base % size) + (gpa % size);
  }
  return -1;
}

/**
 * Bytes of the aligned block around `gpa` that one host entry decides (a leaf, an entry that
 * is not present, an invalid one): every GPA of the block translates, or fails, alike.
 */
function hostExtent(mem: MemoryPort, f: DteFields, gpa: number, b: Budget): bigint {
  const g = BigInt(gpa);
  let table = f.HostPageTableRootPtr, level = f.Mode;
  for (let guard = 0; guard < 7 && level >= 1; guard++) {
    const shift = v1LevelShift(level);
    const e = entry(mem, table + Number((g >> BigInt(shift)) & 511n) * 8, b);
    if (e === null || (e[0] & V1_PR) === 0) return 1n << BigInt(shift);
    const nl = (e[0] >>> V1_NEXT_LEVEL_SHIFT) & V1_NEXT_LEVEL_MASK;
    if (nl === V1_NL_LEAF || nl === V1_NL_ENCODED || nl >= level) return 1n << BigInt(shift);
    table = (e[1] & V1_ADDR_HI) * TWO32 + ((e[0] & V1_ADDR_LO) >>> 0);
    level = nl;
  }
  return 4096n;
}

function checkCount(name: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw new RangeError(`replay: options.${name} must be a non-negative safe integer, got ${String(v)}`);
  return v;
}

/** replay(): the mappings of a device, within the bounds of `options` (see the file header). */
export function replayMappings(io: ReplaySource, deviceId: number, options: ReplayOptions = {}): ReplayIterator {
  if (!Number.isInteger(deviceId) || deviceId < 0 || deviceId > 0xffff) throw new RangeError(`replay: deviceId must be an integer 0..65535, got ${String(deviceId)}`);
  if (options === null || typeof options !== "object") throw new TypeError("replay: options must be an object { pasid?, limit?, tableReads? }");
  for (const k of Object.keys(options)) if (k !== "pasid" && k !== "limit" && k !== "tableReads") throw new RangeError(`replay: options.${k} is not an option (known: pasid, limit, tableReads)`);
  const limit = checkCount("limit", options.limit) ?? Infinity;
  const budget = new Budget(checkCount("tableReads", options.tableReads) ?? REPLAY_TABLE_READS);
  const inner = walkMappings(io, deviceId, options, budget);
  let count = 0, done = false, truncated = false;
  const it: ReplayIterator = {
    get truncated() { return truncated; },
    next(): IteratorResult<Mapping> {
      if (done) return { done: true, value: undefined };
      if (count >= limit) { done = true; truncated = true; return { done: true, value: undefined }; }
      const r = inner.next();
      if (r.done === true) { done = true; truncated = budget.out; return { done: true, value: undefined }; }
      count++;
      return r;
    },
    [Symbol.iterator]() { return it; },
  };
  return it;
}

function* walkMappings(io: ReplaySource, deviceId: number, options: ReplayOptions, budget: Budget): Generator<Mapping> {
  const want = options.pasid;
  if (want !== undefined && want !== null && !(Number.isInteger(want) && want >= 0 && want <= 0xfffff)) {
    throw new RangeError(`replay: options.pasid must be null or an integer 0..1048575, got ${String(want)}`);
  }
  const mem = io.memory;
  const out = new TranslationResult();
  const iommuEn = io.regs.test(MMIO_CONTROL, CONTROL.IommuEn);
  const d = iommuEn ? io.deviceTable.lookup(deviceId, true) : null;
  if (iommuEn && d === null) return; // illegal DTE or DTE outside memory: every request is refused
  const f = d ? { ...d.f } : null;
  const guestLevels = d ? d.guestLevels : 4;
  const gtOn = f !== null && f.V && f.TV && io.features.guestTranslation && io.regs.test(MMIO_CONTROL, CONTROL.GTEn) && f.GV;
  const nested = f !== null && f.Mode !== 0;

  /**
   * Report the pages of the leaf [va, va + span) that peek grants (from covered.end on), in
   * the page sizes peek reports. A refused page refuses its whole leaf, except under a nested
   * guest leaf (`gpaBase` = the leaf's guest-physical base), where the host block around the
   * page's GPA is skipped.
   */
  function* pages(va: bigint, span: bigint, pasid: number | undefined, covered: { end: bigint }, gpaBase = -1): Generator<Mapping> {
    const end = va + span;
    let a = va > covered.end ? va : covered.end;
    while (a < end && a <= U64) {
      if (budget.out) return;
      const r = probe(a, pasid);
      if (!r.ok) {
        if (r.fault === "address-out-of-range" || r.fault === "non-canonical") return; // the whole leaf lies outside
        if (gpaBase < 0 || !nested) return; // the leaf's own entries refused it: every page alike
        const gpa = gpaBase + Number(a - va);
        const block = hostExtent(mem, f!, gpa, budget);
        a += block - (BigInt(gpa) % block);
        continue;
      }
      const size = BigInt(r.pageSize);
      const base = a - (a % size);
      yield {
        deviceId, domainId: f ? f.DomainID : 0, pasid: pasid ?? null, gn: r.path === "guest" || r.path === "nested",
        nested: r.path === "nested", address: base, pageSize: r.pageSize, spa: r.spa - Number(a - base),
        readable: r.readable, writable: r.writable, executable: r.executable, user: r.user,
      };
      a = base + size;
      covered.end = a;
    }
  }
  /** peek a read; a write if reading is refused; privileged if user mode is refused. */
  function probe(address: bigint, pasid: number | undefined): TranslationResult {
    const req: TranslationRequest = pasid === undefined ? { deviceId, address } : { deviceId, address, pasid };
    let r = io.peek(req, out);
    budget.take(r.memoryReferences + 1);
    if (!r.ok && r.fault === "permission") { r = io.peek({ ...req, write: true }, out); budget.take(r.memoryReferences + 1); }
    if (!r.ok && r.fault === "user-supervisor" && pasid !== undefined) {
      r = io.peek({ ...req, privileged: true }, out);
      budget.take(r.memoryReferences + 1);
      if (!r.ok && r.fault === "permission") { r = io.peek({ ...req, privileged: true, write: true }, out); budget.take(r.memoryReferences + 1); }
    }
    return r;
  }
  function identity(): Mapping | null {
    const r = probe(0n, undefined);
    if (!r.ok) return null;
    return { deviceId, domainId: f ? f.DomainID : 0, pasid: null, gn: false, nested: false, address: 0n, pageSize: 2 ** 64, spa: 0,
      readable: r.readable, writable: r.writable, executable: r.executable, user: r.user };
  }
  function tableSpa(addr: number): number { return nested ? hostSpa(mem, f!, addr, budget) : addr; }

  /** Guest (long-mode) leaves of one PASID's table, each checked by peek. */
  function* guest(table: number, level: number, vaBase: bigint, pasid: number | undefined, covered: { end: bigint }): Generator<Mapping> {
    const spa = tableSpa(table);
    if (spa < 0) return;
    const shift = LM_LEVEL_SHIFT[level]!;
    const span = 1n << BigInt(shift);
    const signBit = 1n << BigInt(9 * guestLevels + 11);
    for (let i = 0; i < 512; i++) {
      let va = vaBase + BigInt(i) * span;
      if (level === guestLevels && (va & signBit) !== 0n) va |= U64 & ~((signBit << 1n) - 1n);
      if (budget.out) return;
      const e = entry(mem, spa + i * 8, budget);
      if (e === null || (e[0] & LM_P) === 0) continue;
      const ps = (e[0] & LM_PS) !== 0;
      if (level === 1 || (ps && (level === 2 || level === 3))) {
        yield* pages(va, span, pasid, covered, (e[1] & LM_ADDR_HI) * TWO32 + ((e[0] & LM_ADDR_LO) >>> 0));
        continue;
      }
      if (ps) continue; // PS in a PML4E/PML5E: reserved, the translator faults
      yield* guest((e[1] & LM_ADDR_HI) * TWO32 + ((e[0] & LM_ADDR_LO) >>> 0), level - 1, va, pasid, covered);
    }
  }

  // ---- requests without a PASID ----
  if (want === undefined || want === null) {
    if (f === null || !f.V) { const m = identity(); if (m) yield m; }
    else if (f.TV) {
      if (gtOn && f.GIoV && io.features.guestIo) {
        const root = gcr3Entry(0);
        if (root >= 0) yield* guest(root, guestLevels, 0n, undefined, { end: 0n });
      } else if (f.Mode === 0) { const m = identity(); if (m) yield m; }
      else if (f.Mode <= io.features.hats + 4 && f.Mode < 7) {
        const covered = { end: 0n };
        for (const leaf of v1Leaves(mem, f.HostPageTableRootPtr, f.Mode, 0n, 0n, 1n << 64n, budget, true)) {
          yield* pages(leaf.va, 1n << BigInt(v1LevelShift(leaf.level)), undefined, covered);
        }
      }
    }
  }
  // ---- PASID-tagged requests ----
  if (want !== null && gtOn) {
    const glxLevels = f!.GLX + 1;
    const maxPasid = Math.min(2 ** (9 * glxLevels), 2 ** (io.features.pasMax + 1)) - 1;
    for (const [pasid, cr3] of gcr3Entries(f!.GCR3TableRootPtr, glxLevels - 1, 0)) {
      if (pasid > maxPasid || (want !== undefined && pasid !== want)) continue;
      yield* guest(cr3, guestLevels, 0n, pasid, { end: 0n });
    }
  }

  function gcr3IsGpa(): boolean {
    return nested && io.features.gcr3TrpMode && io.regs.test(MMIO_CONTROL, CONTROL.GCR3TRPMode);
  }
  /** Valid GCR3 entries under a GCR3 table (level k = GLX at the root): [pasid, guest CR3]. */
  function* gcr3Entries(table: number, k: number, pasidBase: number): Generator<[number, number]> {
    const spa = gcr3IsGpa() ? hostSpa(mem, f!, table, budget) : table;
    if (spa < 0) return;
    for (let i = 0; i < 512; i++) {
      if (want !== undefined && want !== null && ((want >>> (9 * k)) & 0x1ff) !== i) continue;
      if (budget.out) return;
      const e = entry(mem, spa + i * 8, budget);
      if (e === null || (e[0] & GCR3_V) === 0) continue;
      const next = (e[1] & GCR3_ADDR_HI) * TWO32 + ((e[0] & GCR3_ADDR_LO) >>> 0);
      const pasid = pasidBase + i * 2 ** (9 * k);
      if (k === 0) yield [pasid, next];
      else yield* gcr3Entries(next, k - 1, pasid);
    }
  }
  function gcr3Entry(pasid: number): number {
    for (const [p, cr3] of gcr3Entries(f!.GCR3TableRootPtr, f!.GLX, 0)) if (p === pasid) return cr3;
    return -1;
  }
}
