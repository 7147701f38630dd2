/**
 * Fuzzing the IOMMU with everything a driver or a device controls (fast-check, seeded):
 * random MMIO writes to every register (32- and 64-bit), random DTE bytes and semi-valid
 * DTEs, random table bytes (including entries pointing at their own table and at other
 * tables), random and semi-valid 16-byte commands at Tail, PPR floods, random requests
 * (untranslated, ATS, timed, peek) and time passing. The IOMMU runs over RecordingMemory.
 *
 * After every input: nothing threw; every memory access was an aligned word inside memory;
 * every write was one the IOMMU was told it may make (the log slot at Tail, the store of
 * the COMPLETION_WAIT it fetched, A/D of an entry it read); runUntilIdle returned; and the
 * command processor is in a state the spec allows (idle, halted with CmdBufRun = 0,
 * disabled, or waiting for a device with InvTimeOut = 0); results are well formed.
 * CI: a bounded number of runs; IOMMU_FUZZ_LONG=1 runs 40x more.
 */
import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { PhysicalMemory } from "../../src/memory/physical-memory.js";
import { AmdIommu } from "../../src/iommu/amd-iommu.js";
import { BumpAllocator } from "../../src/builders/page-allocator.js";
import { DeviceTableWriter } from "../../src/builders/device-table-writer.js";
import { V1PageTable } from "../../src/builders/v1-page-table.js";
import { LongModeTable } from "../../src/builders/long-mode-table.js";
import { Gcr3Table } from "../../src/builders/gcr3-table.js";
import { encodeDte } from "../../src/spec/dte.js";
import { COMMANDS, encodeCommand } from "../../src/spec/commands.js";
import {
  CONTROL, MMIO_COMMAND_BUFFER_BASE, MMIO_COMMAND_BUFFER_HEAD, MMIO_COMMAND_BUFFER_TAIL, MMIO_CONTROL, MMIO_DEVICE_TABLE_BASE,
  MMIO_EVENT_LOG_BASE, MMIO_EVENT_LOG_HEAD, MMIO_EVENT_LOG_TAIL, MMIO_PPR_LOG_BASE, MMIO_PPR_LOG_HEAD, MMIO_PPR_LOG_TAIL,
  MMIO_STATUS, REGISTERS, STATUS,
} from "../../src/spec/registers.js";
import { TranslationResult } from "../../src/iommu/translation/request.js";
import { RecordingMemory } from "./recording-memory.js";
import { Translator } from "../../src/iommu/translation/translator.js";

const LONG = process.env.IOMMU_FUZZ_LONG === "1";
const MEMORY = 2 * 1024 * 1024; // small: random addresses often fall outside
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const OFFSETS = REGISTERS.map((r) => r.offset);

type Action =
  | { k: "mmio64"; offset: number; value: bigint }
  | { k: "mmio32"; offset: number; value: number }
  | { k: "mmioFlip"; offset: number; bit: number }
  | { k: "dteRaw"; dev: number; dw: number[] }
  | { k: "dte"; dev: number; f: Record<string, number | boolean>; root: number; gcr3: number; useTables: boolean }
  | { k: "table"; page: number; index: number; lo: number; hi: number; kind: "random" | "self" | "other" }
  | { k: "path"; guest: boolean; page: number; level: number; lo: number; hi: number; kind: "random" | "self" | "other" }
  | { k: "cmdRaw"; dw: number[]; count: number }
  | { k: "cmd"; op: number; vals: number[]; count: number }
  | { k: "ppr"; dev: number; pasid: number | null; count: number; prg: number; address: number }
  | { k: "req"; kind: "untranslated" | "ats" | "peek" | "timed"; dev: number; address: number | bigint; pasid: number | null; write: boolean; execute: boolean; privileged: boolean }
  | { k: "drain" }
  | { k: "run" };

const offsetArb = fc.oneof(fc.constantFrom(...OFFSETS), fc.nat(2047).map((i) => i * 8));
const devArb = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(0x10, 0x11, 0x12, 0x13) }, { weight: 1, arbitrary: fc.nat(160) }, { weight: 1, arbitrary: fc.nat(0xffff) });
const addrArb = fc.oneof(
  { weight: 4, arbitrary: fc.nat(0x9fff).map((p) => 0x4000_0000 + p) },
  { weight: 4, arbitrary: fc.nat(0x9fff).map((p) => 0x7000_0000_0000 + p) },
  { weight: 1, arbitrary: fc.nat(0x3ff).map((p) => 0x4000_0000 + p * 4096) },
  { weight: 1, arbitrary: fc.nat(Number.MAX_SAFE_INTEGER) as fc.Arbitrary<number | bigint> },
  { weight: 1, arbitrary: u64 as fc.Arbitrary<number | bigint> },
  { weight: 1, arbitrary: fc.nat(MEMORY * 2) },
);
/** Entry indices on the walk paths of the mapped addresses (v1 0x4000_0000.., guest 0x7000_0000_0000..) or any. */
const hotIndex = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xe0) }, { weight: 1, arbitrary: fc.nat(511) });
const dteDevArb = fc.oneof({ weight: 1, arbitrary: fc.constantFrom(0x10, 0x11, 0x12) }, { weight: 4, arbitrary: fc.integer({ min: 0x13, max: 0x30 }) }, { weight: 1, arbitrary: fc.nat(0xffff) });
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ k: fc.constant("mmio64" as const), offset: offsetArb, value: u64 }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant("mmioFlip" as const), offset: fc.constantFrom(...OFFSETS), bit: fc.nat(63) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("mmio32" as const), offset: fc.oneof(offsetArb, offsetArb.map((o) => o + 4)), value: u32 }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("dteRaw" as const), dev: dteDevArb, dw: fc.array(u32, { minLength: 8, maxLength: 8 }) }) },
  {
    weight: 3, arbitrary: fc.record({
      k: fc.constant("dte" as const), dev: dteDevArb, root: fc.nat(), gcr3: fc.nat(), useTables: fc.boolean(),
      f: fc.record({
        V: fc.boolean(), TV: fc.boolean(), Mode: fc.nat(7), HAD: fc.constantFrom(0, 1, 3, 3, 2), IR: fc.boolean(), IW: fc.boolean(), GV: fc.boolean(), GLX: fc.constantFrom(0, 0, 1, 2, 3),
        GIoV: fc.boolean(), PPR: fc.boolean(), I: fc.boolean(), SE: fc.boolean(), SA: fc.boolean(), DomainID: fc.nat(3), GuestPagingMode: fc.constantFrom(0, 0, 1, 2),
        HostPageTableRootPtr: fc.nat(MEMORY / 4096 + 16).map((p) => p * 4096), GCR3TableRootPtr: fc.nat(MEMORY / 4096 + 16).map((p) => p * 4096),
        EX: fc.boolean(), IV: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
      }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ k: fc.constant("table" as const), page: fc.nat(64), index: hotIndex, lo: u32, hi: fc.oneof(u32, fc.constant(0), fc.nat(0xff).map((x) => (x << 24) >>> 0)), kind: fc.constantFrom("random" as const, "self" as const, "other" as const) }) },
  {
    weight: 3, arbitrary: fc.record({
      k: fc.constant("path" as const), guest: fc.boolean(), page: fc.nat(9), level: fc.integer({ min: 1, max: 4 }), lo: u32,
      hi: fc.oneof(u32, fc.constant(0), fc.nat(0xff).map((x) => (x << 24) >>> 0)), kind: fc.constantFrom("random" as const, "self" as const, "other" as const),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("cmdRaw" as const), dw: fc.array(u32, { minLength: 4, maxLength: 4 }), count: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant("cmd" as const), op: fc.nat(COMMANDS.length - 1), vals: fc.array(u32, { minLength: 16, maxLength: 16 }), count: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("ppr" as const), dev: devArb, pasid: fc.option(fc.nat(0xfffff)), count: fc.integer({ min: 1, max: 300 }), prg: fc.nat(511), address: fc.nat(Number.MAX_SAFE_INTEGER) }) },
  {
    weight: 12, arbitrary: fc.record({
      k: fc.constant("req" as const), kind: fc.constantFrom("untranslated" as const, "untranslated" as const, "ats" as const, "peek" as const, "timed" as const),
      dev: devArb, address: addrArb, pasid: fc.option(fc.oneof({ weight: 4, arbitrary: fc.nat(2) }, { weight: 1, arbitrary: fc.nat(0xfffff) })), write: fc.boolean(), execute: fc.boolean(), privileged: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ k: "drain" as const }) },
  { weight: 2, arbitrary: fc.constant({ k: "run" as const }) },
);

const optionsArb = fc.record({
  iotlb: fc.constantFrom(0, 4, 64), pde: fc.constantFrom(0, 16), dte: fc.constantFrom(0, 8, 256), gcr3: fc.constantFrom(0, 8),
  shared: fc.boolean(), tvZero: fc.constantFrom("io-page-fault" as const, "abort" as const), v1AccessedInPde: fc.boolean(),
  baseWriteResetsPointers: fc.boolean(), rewalk: fc.boolean(), ringLen: fc.constantFrom(8, 9),
  /** The memory offers a 32-bit view (as PhysicalMemory does): the walkers' plain loads and Translator.fastWalk are reached. */
  view: fc.boolean(),
});

const bit = (names: (keyof typeof CONTROL)[]) => names.reduce((v, n) => v | (BigInt(CONTROL[n].mask >>> 0) << BigInt(32 * CONTROL[n].half)), 0n);

/** A driver-programmed IOMMU over recording memory, with some valid tables to corrupt. */
type RigOptions = typeof optionsArb extends fc.Arbitrary<infer T> ? T : never;
function rig(o: RigOptions) {
  const memory = new PhysicalMemory({ bytes: MEMORY });
  const rec = new RecordingMemory(memory, o.view);
  const iommu = new AmdIommu({
    memory: rec, concurrency: o.shared ? "shared" : "single",
    iotlb: { entries: o.iotlb }, pdeCache: { entries: o.pde }, dteCache: { entries: o.dte }, gcr3Cache: { entries: o.gcr3 },
    quirks: { tvZero: o.tvZero, v1AccessedInPde: o.v1AccessedInPde, baseWriteResetsPointers: o.baseWriteResetsPointers, rewalkOnCachedPermissionFault: o.rewalk },
  });
  rec.iommu = iommu;
  const pages = new BumpAllocator(memory, 0x1000);
  const dt = new DeviceTableWriter(memory, pages.alloc(), 128);
  const ring = 2 ** (o.ringLen + 4);
  const cmd = pages.allocContiguous(ring / 4096), ev = pages.allocContiguous(ring / 4096), ppr = pages.allocContiguous(ring / 4096);
  const sem = pages.alloc();
  const tables: number[] = [];
  const tracked = { alloc: () => { const p = pages.alloc(); tables.push(p); return p; } };
  const v1 = new V1PageTable(memory, tracked, 3);
  for (let p = 0; p < 8; p++) v1.map(0x4000_0000 + p * 4096, 0x10_0000 + p * 4096, { writable: p % 2 === 0 });
  v1.map(0x4020_0000, 0x20_0000, { size: 2 * 1024 * 1024 });
  const lm = new LongModeTable(memory, tracked, 4);
  for (let p = 0; p < 8; p++) lm.map(0x7000_0000_0000 + p * 4096, 0x18_0000 + p * 4096, { writable: p % 2 === 0, nx: p % 3 === 0 });
  const gcr3 = new Gcr3Table(memory, tracked, 0);
  gcr3.set(1, lm.root); gcr3.set(0, lm.root);
  dt.set(0x10, { V: true, TV: true, Mode: 3, HostPageTableRootPtr: v1.root, IR: true, IW: true, HAD: 3, DomainID: 1, I: true });
  dt.set(0x11, { V: true, TV: true, GV: true, GLX: 0, GCR3TableRootPtr: gcr3.root, IR: true, IW: true, DomainID: 2, PPR: true, GIoV: true, I: true });
  dt.set(0x12, { V: true, TV: true, Mode: 3, HostPageTableRootPtr: v1.root, GV: true, GLX: 0, GCR3TableRootPtr: gcr3.root, IR: true, IW: true, DomainID: 3, PPR: true });
  const lenBits = BigInt(o.ringLen) << 56n;
  iommu.mmioWrite64(MMIO_DEVICE_TABLE_BASE, dt.registerValue);
  iommu.mmioWrite64(MMIO_COMMAND_BUFFER_BASE, BigInt(cmd) | lenBits);
  iommu.mmioWrite64(MMIO_EVENT_LOG_BASE, BigInt(ev) | lenBits);
  iommu.mmioWrite64(MMIO_PPR_LOG_BASE, BigInt(ppr) | lenBits);
  iommu.mmioWrite64(MMIO_CONTROL, bit(["CmdBufEn", "EventLogEn", "PPRLogEn", "PPREn", "GTEn", "IommuEn"]) | (4n << 5n));
  return { memory, rec, iommu, dt, tables, cmd, ring, sem, v1, lm };
}
type Rig = ReturnType<typeof rig>;

let tail = 0;
function pushCommand(r: Rig, dw: ArrayLike<number>): void {
  tail = Number(r.iommu.mmioRead64(MMIO_COMMAND_BUFFER_TAIL)) & 0x7fff0;
  const base = r.iommu.regs.base(MMIO_COMMAND_BUFFER_BASE);
  const size = 2 ** (Math.max((r.iommu.regs.hi(MMIO_COMMAND_BUFFER_BASE) >>> 24) & 0xf, 8) + 4);
  const at = base + (tail % size);
  if (at + 16 <= r.memory.bytes) for (let i = 0; i < 4; i++) r.memory.write32(at + 4 * i, dw[i]! >>> 0);
  r.iommu.mmioWrite64(MMIO_COMMAND_BUFFER_TAIL, BigInt((tail + 16) % size));
}

/** A command of a known opcode with random field values (some pointing into memory). */
function semiValid(r: Rig, op: number, vals: number[]): Uint32Array {
  const spec = COMMANDS[op]!;
  const fields: Record<string, number | bigint> = {};
  spec.fields.forEach((f, i) => {
    if (f.reserved) return;
    const width = f.hi - f.lo + 1;
    let v = BigInt(vals[i % vals.length]!) & ((1n << BigInt(Math.min(width, 32))) - 1n);
    if (/Store/.test(f.name) && /31_3/.test(f.name) && (vals[15]! & 1) === 0) v = BigInt(r.sem >>> 3); // often a real semaphore
    if (/51_32/.test(f.name) && (vals[15]! & 2) === 0) v = 0n;
    fields[f.name] = v;
  });
  return encodeCommand(spec.name, fields);
}

const out = new TranslationResult();
const totals = { runs: 0, inputs: 0, requests: 0, commands: 0, logWrites: 0, adUpdates: 0, semaphoreStores: 0, violations: 0, viewReads: 0, fastWalks: 0 };
// count the fast walk's entries (a spy on the prototype: the suite must reach it, not only the general walk)
const proto = Translator.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
const realFastWalk = proto.fastWalk;
if (typeof realFastWalk !== "function") throw new Error("fuzz: Translator.prototype.fastWalk not found (renamed? update the spy)");
proto.fastWalk = function (this: unknown, ...args: unknown[]) { totals.fastWalks++; return realFastWalk.apply(this, args); };
afterAll(() => { proto.fastWalk = realFastWalk; });
afterAll(() => {
  // eslint-disable-next-line no-console
  console.log(`[fuzz] runs ${totals.runs}, inputs ${totals.inputs} (requests ${totals.requests}, commands executed ${totals.commands}), model writes checked: log ${totals.logWrites}, A/D ${totals.adUpdates}, semaphore ${totals.semaphoreStores}; reads through the 32-bit view ${totals.viewReads}, fast walks ${totals.fastWalks}; violations ${totals.violations}`);
});

function apply(r: Rig, a: Action, problems: string[]): void {
  const io = r.iommu;
  r.rec.mark();
  switch (a.k) {
    case "mmio64": io.mmioWrite64(a.offset, a.value); break;
    case "mmio32": io.mmioWrite32(a.offset, a.value); break;
    case "mmioFlip": io.mmioWrite64(a.offset, io.mmioRead64(a.offset) ^ (1n << BigInt(a.bit))); break;
    case "dteRaw": if (r.dt.address(a.dev) + 32 <= r.memory.bytes) r.dt.setRaw(a.dev, a.dw); break;
    case "dte": {
      // often rooted at real tables (any of them: a GCR3 table as a host root is garbage too)
      const f = a.useTables ? { ...a.f, HostPageTableRootPtr: r.tables[a.root % r.tables.length]!, GCR3TableRootPtr: r.tables[a.gcr3 % r.tables.length]! } : a.f;
      if (r.dt.address(a.dev) + 32 <= r.memory.bytes) r.dt.setRaw(a.dev, encodeDte(f));
      break;
    }
    case "path": {
      // an entry on the walk path of a mapped address: the next request through it meets it
      let pa = -1;
      try { // the builders' own walk (harness code) may meet earlier corruption outside memory
        pa = a.guest ? r.lm.entryAddress(0x7000_0000_0000 + a.page * 4096, a.level) : r.v1.entryAddress(0x4000_0000 + a.page * 4096, Math.min(a.level, 3));
      } catch { break; }
      if (pa < 0 || !r.memory.contains(pa, 8)) break;
      const table = pa - (pa % 4096);
      let lo = a.lo, hi = a.hi;
      if (a.kind === "self") { lo = (table + (a.lo & 0xfff)) | 1; hi = a.hi & 0x60000000; }
      if (a.kind === "other") { lo = (r.tables[a.lo % r.tables.length]! + (a.lo & 0xfff)) | 1; hi = a.hi & 0x60000000; }
      r.memory.write32(pa + 4, hi >>> 0);
      r.memory.write32(pa, lo >>> 0);
      break;
    }
    case "table": {
      const table = r.tables[a.page % r.tables.length]!;
      let lo = a.lo, hi = a.hi;
      if (a.kind === "self") { lo = (table + (a.lo & 0xfff)) | 1; hi = a.hi & 0x60000000; }
      if (a.kind === "other") { lo = (r.tables[(a.page * 5 + 1) % r.tables.length]! + (a.lo & 0xfff)) | 1; hi = a.hi & 0x60000000; }
      r.memory.write32(table + a.index * 8 + 4, hi >>> 0);
      r.memory.write32(table + a.index * 8, lo >>> 0);
      break;
    }
    case "cmdRaw": for (let i = 0; i < a.count; i++) pushCommand(r, a.dw); break;
    case "cmd": for (let i = 0; i < a.count; i++) pushCommand(r, semiValid(r, a.op, a.vals)); break;
    case "ppr":
      for (let i = 0; i < a.count; i++) {
        const o = io.pageRequest({ deviceId: a.dev, address: a.address, prgIndex: (a.prg + i) & 0x1ff, last: (i & 3) === 3, read: true, ...(a.pasid !== null ? { pasid: a.pasid } : {}) });
        if (o !== "logged" && o !== "invalid" && o !== "dropped") problems.push(`pageRequest answered ${String(o)}`);
      }
      break;
    case "req": {
      totals.requests++;
      const req = { deviceId: a.dev, address: a.address, write: a.write, execute: a.execute, privileged: a.privileged, ...(a.pasid !== null ? { pasid: a.pasid } : {}) };
      let res: TranslationResult;
      if (a.kind === "untranslated") res = io.translateInto(req, out);
      else if (a.kind === "ats") res = io.translateAts(req, out);
      else if (a.kind === "peek") res = io.peek(req, out);
      else res = io.translateTimed(req, io.now, out);
      if (res.ok) {
        if (!(res.pageSize >= 4096 && Number.isInteger(Math.log2(res.pageSize)))) problems.push(`page size ${res.pageSize}`);
        if (!(Number.isInteger(res.spa) && res.spa >= 0)) problems.push(`spa ${res.spa}`);
        if (a.kind === "ats" && !res.readable && !res.writable) problems.push("ATS ok without a permission");
      } else if (res.fault === null && a.kind !== "ats") problems.push(`refused ${a.kind} request without a fault reason`);
      break;
    }
    case "drain": {
      // software consumes the logs and restarts them after an overflow
      io.mmioWrite64(MMIO_EVENT_LOG_HEAD, io.mmioRead64(MMIO_EVENT_LOG_TAIL));
      io.mmioWrite64(MMIO_PPR_LOG_HEAD, io.mmioRead64(MMIO_PPR_LOG_TAIL));
      const st = io.mmioRead64(MMIO_STATUS);
      const ovf = (BigInt(STATUS.EventOverflow.mask >>> 0) << BigInt(32 * STATUS.EventOverflow.half)) | (BigInt(STATUS.PprOverflow.mask >>> 0) << BigInt(32 * STATUS.PprOverflow.half));
      if ((st & ovf) !== 0n) {
        const ctl = io.mmioRead64(MMIO_CONTROL);
        io.mmioWrite64(MMIO_CONTROL, ctl & ~bit(["EventLogEn", "PPRLogEn"]));
        io.mmioWrite64(MMIO_STATUS, ovf);
        io.mmioWrite64(MMIO_CONTROL, ctl);
      }
      break;
    }
    case "run": io.runUntilIdle(); break;
  }
}

/** The command processor ended in a state the spec allows. */
function endState(r: Rig): string | null {
  const io = r.iommu;
  io.runUntilIdle();
  const cp = io.commands;
  if (!cp.hasWork()) return null; // idle, halted (CmdBufRun = 0) or disabled
  if (cp.pendingAts > 0 && cp.waitUntil === Infinity) return null; // waiting for a device that never answers, InvTimeOut = 0
  const head = io.mmioRead64(MMIO_COMMAND_BUFFER_HEAD), t = io.mmioRead64(MMIO_COMMAND_BUFFER_TAIL);
  return `command processor neither idle, halted nor waiting: head 0x${head.toString(16)} tail 0x${t.toString(16)}`;
}

describe("fuzzing every input a driver or device controls", () => {
  const numRuns = LONG ? 40_000 : 1000;
  it("never throws, touches memory only where told, and always ends in a state the spec allows", () => {
    fc.assert(
      fc.property(optionsArb, fc.array(action, { minLength: 10, maxLength: 80 }), (o, actions) => {
        const r = rig(o);
        const problems: string[] = [];
        for (const a of actions) {
          try { apply(r, a, problems); } catch (e) { problems.push(`${a.k} threw ${(e as Error).message}`); }
          totals.inputs++;
        }
        let end: string | null = null;
        try { end = endState(r); for (const off of OFFSETS) r.iommu.mmioRead64(off); } catch (e) { problems.push(`end threw ${(e as Error).message}`); }
        if (end !== null) problems.push(end);
        totals.runs++;
        totals.commands += r.iommu.commands.stats.executed;
        totals.viewReads += r.rec.viewReads;
        totals.logWrites += r.rec.counts.logWrites; totals.adUpdates += r.rec.counts.adUpdates; totals.semaphoreStores += r.rec.counts.semaphoreStores;
        const all = [...problems, ...r.rec.violations];
        totals.violations += all.length;
        expect(all).toEqual([]);
      }),
      { seed: 0xf022, numRuns },
    );
    // the fast path was fuzzed too: its walk entered, and walkers read through the memory's 32-bit view
    expect(totals.fastWalks).toBeGreaterThan(0);
    expect(totals.viewReads).toBeGreaterThan(0);
  }, LONG ? 1_800_000 : 120_000);
});
