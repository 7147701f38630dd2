/**
 * Snapshots: the IOMMU's state (registers, caches, statistics, clock, command processor,
 * timed-mode walkers) as plain JSON-able data; a model restored from one behaves exactly as
 * the original from that point on.
 */
import { describe, expect, it } from "vitest";
import { buildScenario, scenarioRequests, D_HOST, GUEST, GVA, HOST } from "./scenario.js";
import { AmdIommu, PhysicalMemory, spec, type EndpointPort, type TranslationRequest, type TranslationResult } from "../../src/index.js";
import type { IommuTestbench } from "../../src/builders/index.js";
import { SnapshotError } from "../../src/embedding/iommu-snapshot.js";
import { CosimSession } from "../../src/embedding/cosim-session.js";
import { DEV, MSI, irSetup } from "../iommu/interrupts/ir-setup.js";

const {
  MMIO_COMMAND_BUFFER_TAIL, MMIO_CONTROL, buildCompletionWait, buildInvalidateIommuPages, buildInvalidateIotlbPages, buildInvalidateDevtabEntry,
} = spec;

/** Queue commands on any IOMMU that uses the testbench's command ring layout (the driver's side). */
function submit(tb: IommuTestbench, io: AmdIommu, mem: PhysicalMemory, cmds: Uint32Array[]): void {
  let tail = Number(io.mmioRead64(MMIO_COMMAND_BUFFER_TAIL));
  for (const c of cmds) {
    for (let i = 0; i < 4; i++) mem.write32(tb.commandBuffer + tail + 4 * i, c[i]!);
    tail = (tail + 16) % tb.ringBytes;
  }
  io.mmioWrite64(MMIO_COMMAND_BUFFER_TAIL, BigInt(tail));
}

function copyOf(mem: PhysicalMemory): PhysicalMemory {
  const m = new PhysicalMemory({ bytes: mem.bytes });
  new Uint8Array(m.buffer).set(new Uint8Array(mem.buffer));
  return m;
}

const plain = (r: TranslationResult) => ({ ...r });

/** The inputs run after the snapshot: translations (functional and timed), commands, time. */
function continueWith(tb: IommuTestbench, io: AmdIommu, mem: PhysicalMemory): unknown[] {
  const out: unknown[] = [];
  const reqs = scenarioRequests();
  for (const r of reqs.slice(20)) out.push(plain(io.translate(r)));
  submit(tb, io, mem, [buildInvalidateIommuPages({ domainId: D_HOST, address: 0x1000_0000 }), buildInvalidateDevtabEntry(GUEST),
    buildCompletionWait({ store: true, address: tb.semaphore, data: 77n })]);
  out.push(io.runUntilIdle());
  let t = io.now;
  for (const r of reqs.slice(0, 20)) { t += 50; out.push(plain(io.translateTimed(r, t))); }
  return out;
}

describe("snapshots", () => {
  it("run, snapshot, restore into a new instance over a copy of memory, continue both: same results, memory and statistics", () => {
    const s = buildScenario({ iommu: { iotlb: { entries: 8, ways: 2 }, pdeCache: { entries: 4, ways: 2, replacement: "random" }, seed: 3 } });
    const io = s.tb.iommu;
    for (const r of scenarioRequests().slice(0, 20)) io.translate(r);
    let t = 0;
    for (const r of scenarioRequests().slice(0, 6)) io.translateTimed(r, (t += 3)); // walkers left busy
    s.tb.sync(buildInvalidateIommuPages({ domainId: D_HOST, address: 0x2000_0000, pde: true }));
    const snap = JSON.parse(JSON.stringify(io.snapshot()));
    const mem2 = copyOf(s.tb.memory);
    const twin = AmdIommu.restore(snap, { memory: mem2 });
    expect(twin.snapshot()).toEqual(io.snapshot());
    const a = continueWith(s.tb, io, s.tb.memory);
    const b = continueWith(s.tb, twin, mem2);
    expect(b).toEqual(a);
    expect(Buffer.compare(new Uint8Array(s.tb.memory.buffer), new Uint8Array(mem2.buffer))).toBe(0);
    expect(twin.stats()).toEqual(io.stats());
    expect(twin.snapshot()).toEqual(io.snapshot());
  });

  it("the snapshot is plain data: it survives JSON unchanged, with 'no deadline' (Infinity) written as a string", () => {
    const s = buildScenario();
    const silent: EndpointPort = { atsInvalidate: () => null, prgResponse: () => {} }; // never answers
    s.tb.iommu.attachEndpoint(GUEST, silent);
    s.tb.control([], ["IommuEn"]);
    s.tb.iommu.mmioWrite64(MMIO_CONTROL, s.tb.iommu.mmioRead64(MMIO_CONTROL) & ~(7n << 5n) | 1n); // InvTimeOut = 0: no timeout
    s.tb.submit(buildInvalidateIotlbPages({ deviceId: GUEST, address: 0x1000 }));
    s.tb.iommu.runUntilIdle();
    const snap = s.tb.iommu.snapshot();
    const text = JSON.stringify(snap);
    expect(text).toContain('"Infinity"');
    expect(JSON.parse(text)).toEqual(snap);
    const twin = AmdIommu.restore(JSON.parse(text), { memory: copyOf(s.tb.memory) });
    expect(twin.snapshot()).toEqual(snap);
  });

  it("a COMPLETION_WAIT waiting for a device's ATS answer is restored waiting, and completes on both at the same cycle", () => {
    const s = buildScenario();
    const io = s.tb.iommu;
    const slow: EndpointPort = { atsInvalidate: () => 5000, prgResponse: () => {} };
    io.attachEndpoint(GUEST, slow);
    s.tb.submit(buildInvalidateIotlbPages({ deviceId: GUEST, address: 0x1000 }), buildCompletionWait({ store: true, address: s.tb.semaphore, data: 9n }));
    const before = s.tb.memory.read64(s.tb.semaphore);
    io.advanceTo(100);
    expect(s.tb.memory.read64(s.tb.semaphore)).toBe(before);
    const mem2 = copyOf(s.tb.memory);
    const twin = AmdIommu.restore(io.snapshot(), { memory: mem2 });
    twin.attachEndpoint(GUEST, slow);
    expect(twin.runUntilIdle()).toBe(io.runUntilIdle());
    expect([mem2.read64(s.tb.semaphore), s.tb.memory.read64(s.tb.semaphore)]).toEqual([9n, 9n]);
  });

  it("restore() in place rewinds: the same inputs after it give the same results again", () => {
    const s = buildScenario({ iommu: { iotlb: { entries: 4, ways: 4, replacement: "random" } } });
    const io = s.tb.iommu;
    for (const r of scenarioRequests().slice(0, 10)) io.translate(r);
    const snap = io.snapshot();
    const mem = new Uint8Array(s.tb.memory.buffer).slice();
    const run = () => scenarioRequests().slice(10).map((r: TranslationRequest) => plain(io.translate(r)));
    const first = run();
    new Uint8Array(s.tb.memory.buffer).set(mem);
    io.restore(snap);
    expect(run()).toEqual(first);
  });

  it("the MMIO registers come back: Control, ring pointers, and what a driver reads", () => {
    const s = buildScenario();
    s.tb.iommu.translate({ deviceId: HOST, address: 0x5000_0000 }); // an event moves EventLogTail
    const twin = AmdIommu.restore(s.tb.iommu.snapshot(), { memory: copyOf(s.tb.memory) });
    for (let off = 0; off < 0x2100; off += 8) expect(twin.mmioRead64(off)).toBe(s.tb.iommu.mmioRead64(off));
    expect(twin.translate({ deviceId: GUEST, address: GVA, pasid: 1 })).toMatchObject({ ok: true, spa: 0x42_0000 });
  });

  it("restoring into an IOMMU of another geometry, or something that is not a snapshot, throws naming it", () => {
    const s = buildScenario();
    const other = new AmdIommu({ memory: s.tb.memory, iotlb: { entries: 16 } });
    expect(() => other.restore(s.tb.iommu.snapshot())).toThrow(/snapshot.options.iotlb/);
    expect(() => AmdIommu.restore({ format: "x" } as never, { memory: s.tb.memory })).toThrow(/snapshot/);
    expect(() => AmdIommu.restore({ ...s.tb.iommu.snapshot(), version: 99 }, { memory: s.tb.memory })).toThrow(/snapshot.version/);
    // version 1 held timing statistics recorded per translation: refused, not misread
    expect(() => AmdIommu.restore({ ...s.tb.iommu.snapshot(), version: 1 }, { memory: s.tb.memory })).toThrow(/snapshot.version: 1 is not supported/);
  });
});

describe("snapshots: the IRTE cache geometry (options.irteCache)", () => {
  const GEOMETRY = { entries: 16, ways: 2, replacement: "fifo" as const };
  /** An IOMMU with a 16-entry IRTE cache holding the entries of two remapped interrupts. */
  const warm = () => {
    const s = irSetup({ format: "128", iommu: { irteCache: GEOMETRY } });
    s.table.set(3, { RemapEn: true, Vector: 0x33, Destination: 1 });
    s.table.set(4, { RemapEn: true, Vector: 0x44, Destination: 2 });
    for (const data of [3, 4]) expect(s.tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data }).irteCacheHit).toBe(false);
    return s;
  };

  it("new AmdIommu({ irteCache }) builds that geometry; a misspelt geometry field is an error naming it", () => {
    const s = warm();
    expect([s.tb.iommu.irteCache.tags.entries, s.tb.iommu.irteCache.tags.ways]).toEqual([16, 2]);
    expect(() => new AmdIommu({ memory: s.tb.memory, irteCache: { entries: 16, way: 2 } as never })).toThrow(/options\.irteCache\.way is not a cache-geometry field/);
  });

  it("round trip: the snapshot's options hold the IRTE cache geometry; AmdIommu.restore builds it and keeps the cached entries", () => {
    const s = warm();
    const snap = JSON.parse(JSON.stringify(s.tb.iommu.snapshot()));
    expect(snap.options.irteCache).toEqual(GEOMETRY);
    const mem2 = copyOf(s.tb.memory);
    const twin = AmdIommu.restore(snap, { memory: mem2 });
    expect([twin.irteCache.tags.entries, twin.irteCache.tags.ways, twin.irteCache.tags.policy]).toEqual([16, 2, "fifo"]);
    expect(twin.snapshot()).toEqual(s.tb.iommu.snapshot());
    // the cached IRTEs came along: a vector changed in memory without INVALIDATE_INTERRUPT_TABLE is not seen by either
    s.table.set(3, { RemapEn: true, Vector: 0x99, Destination: 1 });
    for (let i = 0; i < 16; i += 4) mem2.write32(s.table.root + 3 * 16 + i, s.tb.memory.read32(s.table.root + 3 * 16 + i));
    const a = s.tb.iommu.remapInterrupt({ deviceId: DEV, address: MSI, data: 3 });
    const b = twin.remapInterrupt({ deviceId: DEV, address: MSI, data: 3 });
    expect([b.irteCacheHit, b.vector]).toEqual([true, 0x33]);
    expect({ ...b }).toEqual({ ...a });
  });

  it("an IRTE cache geometry out of range is refused naming the field, before anything changes", () => {
    const s = warm();
    const snap = JSON.parse(JSON.stringify(s.tb.iommu.snapshot()));
    for (const [field, value] of [["entries", 2 ** 21], ["ways", -1], ["replacement", "mru"]] as const) {
      const bad = structuredClone(snap);
      bad.options.irteCache[field] = value;
      let err: unknown;
      try { AmdIommu.restore(bad, { memory: copyOf(s.tb.memory) }); } catch (e) { err = e; }
      expect(err, field).toBeInstanceOf(SnapshotError);
      expect((err as SnapshotError).path, field).toBe(`options.irteCache.${field}`);
    }
  });

  it("restoring into an IOMMU with another IRTE cache geometry is refused naming options.irteCache; nothing changes", () => {
    const s = warm();
    const snap = s.tb.iommu.snapshot();
    const other = new AmdIommu({ memory: copyOf(s.tb.memory), irteCache: { entries: 32, ways: 2, replacement: "fifo" } });
    const before = other.snapshot();
    expect(() => other.restore(snap)).toThrow(/snapshot\.options\.irteCache/);
    expect(other.snapshot()).toEqual(before);
  });

  it("a snapshot taken before options.irteCache existed (no such key) still restores: its IRTE cache is kept when the size fits", () => {
    const s = warm();
    const snap = JSON.parse(JSON.stringify(s.tb.iommu.snapshot()));
    delete snap.options.irteCache;
    const twin = new AmdIommu({ memory: copyOf(s.tb.memory), irteCache: GEOMETRY });
    twin.restore(snap);
    expect(twin.remapInterrupt({ deviceId: DEV, address: MSI, data: 4 }).irteCacheHit).toBe(true);
  });

  it("a snapshot taken before timing.rootComplexOverlap existed (no such key) still restores, with the default profile's overlap and the same state", () => {
    const s = warm();
    const snap = JSON.parse(JSON.stringify(s.tb.iommu.snapshot()));
    delete snap.options.timing.rootComplexOverlap;
    const twin = AmdIommu.restore(snap, { memory: copyOf(s.tb.memory) });
    expect(twin.timing.rootComplexOverlap).toBe(new AmdIommu({ memory: copyOf(s.tb.memory) }).timing.rootComplexOverlap);
    const again = twin.snapshot();
    expect({ ...again, options: { ...again.options, timing: { ...again.options.timing, rootComplexOverlap: undefined } } })
      .toEqual({ ...s.tb.iommu.snapshot(), options: { ...s.tb.iommu.snapshot().options, timing: { ...s.tb.iommu.snapshot().options.timing, rootComplexOverlap: undefined } } });
  });

  it("an IRTE cache turned off ({ entries: 0 }) round-trips too", () => {
    const s = irSetup({ format: "128", iommu: { irteCache: { entries: 0 } } });
    const snap = JSON.parse(JSON.stringify(s.tb.iommu.snapshot()));
    expect(snap.options.irteCache.entries).toBe(0);
    const twin = AmdIommu.restore(snap, { memory: copyOf(s.tb.memory) });
    expect(twin.irteCache.tags.entries).toBe(0);
  });

  it("the pipe's create-iommu takes options.irteCache and its snapshot reports it", () => {
    const lines: string[] = [];
    const session = new CosimSession((l) => lines.push(l));
    session.line(JSON.stringify({ op: "add-memory", base: 0, bytes: 1 << 22 }));
    session.line(JSON.stringify({ op: "create-iommu", options: { irteCache: { entries: 8, ways: 4 } } }));
    session.line(JSON.stringify({ op: "snapshot" }));
    const answers = lines.map((l) => JSON.parse(l) as { ok?: boolean; snapshot?: { options: { irteCache: unknown } } });
    expect(answers.every((a) => a.ok !== false), lines.join("\n")).toBe(true);
    expect(answers[2]!.snapshot!.options.irteCache).toEqual({ entries: 8, ways: 4, replacement: "lru" });
  });
});
