/**
 * Stepped translation: a translation driven as the memory requests of the spec's walk (DTE
 * fetch, table reads, A/D compare-exchanges, event-log writes), answered by the host one at a
 * time, with the functional call's architectural result and side effects.
 */
import { describe, expect, it } from "vitest";
import { buildScenario, scenarioRequests, HOST, GUEST, NESTED, GVA, D_HOST } from "./scenario.js";
import { spec, type AmdIommu, type MemoryAccess, type MemoryRequest, type SteppedTranslation, type TranslationResult } from "../../src/index.js";

const { MMIO_DEVICE_TABLE_BASE, MMIO_EVENT_LOG_TAIL, V1_A, V1_D, V1_PR, EV_IO_PAGE_FAULT } = spec;

/** Answer requests from the IOMMU's own memory until done; returns the requests seen. */
function drive(st: SteppedTranslation, io: AmdIommu): MemoryRequest[] {
  const seen: MemoryRequest[] = [];
  const mem = io.memory;
  for (let r = st.next(); r !== null; r = st.next()) {
    seen.push(r);
    if (r.kind === "read") st.complete(Array.from({ length: r.bytes / 4 }, (_, i) => mem.load32(r.pa + 4 * i)));
    else if (r.kind === "cas") st.complete(mem.cas32(r.pa, r.expected, r.value));
    else { mem.store32(r.pa, r.value); st.complete(); }
  }
  return seen;
}

function plain(r: TranslationResult): Record<string, unknown> { return { ...r }; }

describe("stepped translation", () => {
  it("a cold v1 4-level walk is one 32-byte DTE read, one 8-byte read per level, then a compare-exchange setting A and D", () => {
    const s = buildScenario();
    const io = s.tb.iommu;
    const st = io.translateStepped({ deviceId: HOST, address: 0x1000_0010, write: true });
    const seen = drive(st, io);
    const dte = Number(io.mmioRead64(MMIO_DEVICE_TABLE_BASE) & ~0xfffn) + HOST * 32;
    const leaf = s.host.entryAddress(0x1000_0000, 1);
    expect(seen.map((r) => r.kind === "read" ? `read ${r.bytes}@${r.pa}` : `${r.kind}@${r.pa}`)).toEqual([
      `read 32@${dte}`,
      `read 8@${s.host.entryAddress(0x1000_0000, 4)}`,
      `read 8@${s.host.entryAddress(0x1000_0000, 3)}`,
      `read 8@${s.host.entryAddress(0x1000_0000, 2)}`,
      `read 8@${leaf}`,
      `cas@${leaf}`,
    ]);
    const cas = seen[5] as Extract<MemoryRequest, { kind: "cas" }>;
    expect(cas.value).toBe((cas.expected | V1_A | V1_D) >>> 0);
    expect(st.done).toBe(true);
    expect(st.result).toMatchObject({ ok: true, spa: 0x40_0010, pageSize: 4096 });
    expect(s.tb.memory.read32(leaf) & (V1_A | V1_D)).toBe(V1_A | V1_D);
  });

  it("an IOTLB hit needs no memory request: the translation is done at once", () => {
    const s = buildScenario();
    const io = s.tb.iommu;
    io.translate({ deviceId: HOST, address: 0x1000_0000 });
    const st = io.translateStepped({ deviceId: HOST, address: 0x1000_0008 });
    expect(st.next()).toBeNull();
    expect(st.done).toBe(true);
    expect(st.result).toMatchObject({ ok: true, iotlbHit: true, spa: 0x40_0008 });
  });

  it("every request of the scenario gives the functional result, memory, state and access log, on twin models", () => {
    const a = buildScenario(), b = buildScenario();
    const logA: MemoryAccess[] = [], logB: MemoryAccess[] = [];
    a.tb.iommu.traceMemoryAccesses(logA);
    b.tb.iommu.traceMemoryAccesses(logB);
    for (const req of scenarioRequests()) {
      const fa = a.tb.iommu.translate(req);
      const st = b.tb.iommu.translateStepped(req);
      drive(st, b.tb.iommu);
      expect(plain(st.result), JSON.stringify(req, (_k, v) => typeof v === "bigint" ? v.toString(16) : v)).toEqual(plain(fa));
    }
    const ats = { deviceId: GUEST, address: GVA, pasid: 1 };
    const st = b.tb.iommu.translateStepped(ats, { kind: "ats" });
    drive(st, b.tb.iommu);
    expect(plain(st.result)).toEqual(plain(a.tb.iommu.translateAts(ats)));
    expect(logB).toEqual(logA);
    expect(Buffer.compare(new Uint8Array(a.tb.memory.buffer), new Uint8Array(b.tb.memory.buffer))).toBe(0);
    expect(b.tb.iommu.snapshot()).toEqual(a.tb.iommu.snapshot());
    expect(b.tb.events()).toEqual(a.tb.events());
  });

  it("the same holds with every cache off, the shared (low-high-low) read protocol, and random replacement", () => {
    const o = { iommu: { iotlb: { entries: 0 }, pdeCache: { entries: 0 }, dteCache: { entries: 0 }, gcr3Cache: { entries: 0 }, concurrency: "shared" as const } };
    const o2 = { iommu: { iotlb: { entries: 4, ways: 2, replacement: "random" as const }, dteCache: { entries: 2, ways: 2 }, seed: 7 } };
    for (const opts of [o, o2]) {
      const a = buildScenario(opts), b = buildScenario(opts);
      for (const req of scenarioRequests()) {
        const fa = a.tb.iommu.translate(req);
        const st = b.tb.iommu.translateStepped(req);
        drive(st, b.tb.iommu);
        expect(plain(st.result)).toEqual(plain(fa));
      }
      expect(b.tb.iommu.snapshot()).toEqual(a.tb.iommu.snapshot());
      expect(Buffer.compare(new Uint8Array(a.tb.memory.buffer), new Uint8Array(b.tb.memory.buffer))).toBe(0);
    }
  });

  it("while requests are outstanding the IOMMU's state is untouched: caches, statistics, event log", () => {
    const s = buildScenario();
    const io = s.tb.iommu;
    const before = io.snapshot();
    const st = io.translateStepped({ deviceId: NESTED, address: GVA, pasid: 1, write: true });
    const mem = io.memory;
    for (let i = 0; i < 10; i++) {
      const r = st.next()!;
      expect(r.kind).toBe("read");
      if (r.kind === "read") st.complete(Array.from({ length: r.bytes / 4 }, (_, k) => mem.load32(r.pa + 4 * k)));
      expect(io.snapshot()).toEqual(before);
    }
    expect(st.done).toBe(false);
    drive(st, io);
    expect(st.result.ok).toBe(true);
    expect(io.stats().translation.requests).toBe(before.translation.requests + 1);
  });

  it("a fault's event-log entry reaches memory only through the host's write requests, at the slot Tail pointed to", () => {
    const s = buildScenario();
    const io = s.tb.iommu;
    const tail = Number(io.mmioRead64(MMIO_EVENT_LOG_TAIL));
    const st = io.translateStepped({ deviceId: HOST, address: 0x5000_0000 });
    const writes: number[] = [];
    const mem = io.memory;
    for (let r = st.next(); r !== null; r = st.next()) {
      if (r.kind === "write") { writes.push(r.pa - s.tb.eventLogBase - tail); st.complete(); continue; } // not performed
      if (r.kind === "read") st.complete(Array.from({ length: r.bytes / 4 }, (_, k) => mem.load32(r.pa + 4 * k)));
    }
    expect(writes.sort((x, y) => x - y)).toEqual([0, 4, 8, 12]);
    expect(st.result).toMatchObject({ ok: false, fault: "not-present", event: EV_IO_PAGE_FAULT });
    expect(Number(io.mmioRead64(MMIO_EVENT_LOG_TAIL))).toBe(tail + 16);
    expect(s.tb.memory.read32(s.tb.eventLogBase + tail + 4)).toBe(0); // the host did not perform them
  });

  it("a compare-exchange that finds the entry changed (a CPU cleared P meanwhile) re-reads it and faults not-present", () => {
    const s = buildScenario();
    const io = s.tb.iommu;
    const leaf = s.host.entryAddress(0x1000_0000, 1);
    const st = io.translateStepped({ deviceId: HOST, address: 0x1000_0000 });
    const mem = io.memory;
    const kinds: string[] = [];
    for (let r = st.next(); r !== null; r = st.next()) {
      kinds.push(`${r.kind}@${r.pa === leaf ? "leaf" : "other"}`);
      if (r.kind === "cas") {
        mem.store32(leaf, mem.load32(leaf) & ~V1_PR); // the CPU unmaps between the walker's read and its A update
        st.complete(mem.cas32(r.pa, r.expected, r.value));
      } else if (r.kind === "read") st.complete(Array.from({ length: r.bytes / 4 }, (_, k) => mem.load32(r.pa + 4 * k)));
      else { mem.store32(r.pa, r.value); st.complete(); }
    }
    // the lost race re-walks from the root (docs/ARCHITECTURE.md section 5) and now finds P = 0
    expect(kinds.slice(4, 10)).toEqual(["read@leaf", "cas@leaf", "read@other", "read@other", "read@other", "read@leaf"]);
    expect(st.result).toMatchObject({ ok: false, fault: "not-present" });
  });

  it("a MAP notification is sent once, when the stepped translation completes", () => {
    const s = buildScenario();
    const io = s.tb.iommu;
    const maps: unknown[] = [];
    io.notifiers.on("map", (e) => maps.push(e));
    const st = io.translateStepped({ deviceId: HOST, address: 0x1000_0010 });
    const r = st.next()!;
    if (r.kind === "read") st.complete(Array.from({ length: r.bytes / 4 }, (_, k) => io.memory.load32(r.pa + 4 * k)));
    expect(maps).toHaveLength(0);
    drive(st, io);
    expect(maps).toEqual([expect.objectContaining({ type: "map", deviceId: HOST, domainId: D_HOST, address: 0x1000_0000n, spa: 0x40_0000, pageSize: 4096 })]);
  });

  it("kind peek is stepped too and changes nothing: no A/D request, no statistics", () => {
    const s = buildScenario();
    const io = s.tb.iommu;
    const before = io.snapshot();
    const st = io.translateStepped({ deviceId: HOST, address: 0x1000_0010, write: true }, { kind: "peek" });
    const seen = drive(st, io);
    expect(seen.every((r) => r.kind === "read")).toBe(true);
    expect(st.result).toMatchObject({ ok: true, spa: 0x40_0010 });
    expect(io.snapshot()).toEqual(before);
  });

  it("runWith answers every request from a memory port (a synchronous fallback)", () => {
    const s = buildScenario();
    const r = s.tb.iommu.translateStepped({ deviceId: GUEST, address: GVA + 4n, pasid: 1 }).runWith(s.tb.memory);
    expect(r).toMatchObject({ ok: true, spa: 0x42_0004, path: "guest" });
  });

  it("embedder misuse throws naming the argument: wrong answer shape, no pending request, bad kind", () => {
    const s = buildScenario();
    const io = s.tb.iommu;
    const st = io.translateStepped({ deviceId: HOST, address: 0x1000_0000 });
    expect(() => st.complete(5)).toThrow(/value/);
    expect(() => st.complete([1, 2])).toThrow(/8 32-bit words/);
    drive(st, io);
    expect(() => st.complete()).toThrow(/no memory request is pending/);
    expect(() => io.translateStepped({ deviceId: HOST, address: 0 }, { kind: "timed" as never })).toThrow(/options.kind/);
    expect(() => io.translateStepped({ deviceId: 70000, address: 0 })).toThrow(/deviceId/);
  });
});
