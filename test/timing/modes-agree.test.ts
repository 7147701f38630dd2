/**
 * Functional and timed mode are one code path: for any sequence of requests (host, guest
 * and nested devices, reads and writes, mapped and unmapped pages, invalidations in between)
 * both give identical architectural results, identical memory (A/D bits, event log) and
 * identical counters. Run for every cache configuration.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { IommuTestbench, V1PageTable, LongModeTable, Gcr3Table } from "../../src/builders/index.js";
import { TranslationResult, type TranslationRequest } from "../../src/index.js";
import { buildInvalidateIommuPages } from "../../src/spec/commands.js";

const HOST = 0x10, GUEST = 0x20, NESTED = 0x30, ABSENT = 0x40;
const IOVA = 0x8000_0000, GVA = 0x7f00_0000_0000;

function build(iotlb: number, pde: number, guestLevels: 4 | 5) {
  const tb = new IommuTestbench({ bytes: 32 * 1024 * 1024, iommu: { iotlb: { entries: iotlb }, pdeCache: { entries: pde }, timing: { walkers: 2 } } });
  const v1 = new V1PageTable(tb.memory, tb.pages, 4);
  const data = tb.pages.allocContiguous(16);
  for (let i = 0; i < 12; i++) v1.map(IOVA + i * 4096, data + i * 4096, { writable: i % 4 !== 3 }); // pages 12..15 unmapped, every 4th read-only
  tb.deviceTable.set(HOST, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: v1.root, IR: true, IW: true, DomainID: 1, HAD: 3 });
  const g = new LongModeTable(tb.memory, tb.pages, guestLevels);
  for (let i = 0; i < 12; i++) g.map(GVA + i * 4096, data + i * 4096, { writable: i % 4 !== 3, user: i % 5 !== 4 });
  const gcr3 = new Gcr3Table(tb.memory, tb.pages, 0);
  gcr3.set(1, g.root);
  tb.deviceTable.set(GUEST, { V: true, TV: true, Mode: 0, IR: true, IW: true, DomainID: 2, GV: true, GLX: 0, GCR3TableRootPtr: gcr3.root, GuestPagingMode: guestLevels === 5 ? 1 : 0 });
  // nested: guest tables whose addresses are GPAs, identity-mapped by a v1 table over the first 32 MiB
  const host = new V1PageTable(tb.memory, tb.pages, 3);
  for (let a = 0; a < 32 * 1024 * 1024; a += 2 * 1024 * 1024) host.map(a, a, { size: 2 * 1024 * 1024 });
  tb.deviceTable.set(NESTED, { V: true, TV: true, Mode: 3, HostPageTableRootPtr: host.root, IR: true, IW: true, DomainID: 3, GV: true, GLX: 0, GCR3TableRootPtr: gcr3.root, GuestPagingMode: guestLevels === 5 ? 1 : 0 });
  tb.sync();
  return tb;
}

type Op = { kind: "req"; dev: number; page: number; write: boolean; privileged: boolean } | { kind: "inv"; domain: number; page: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 9, arbitrary: fc.record({ kind: fc.constant("req" as const), dev: fc.constantFrom(HOST, GUEST, NESTED, ABSENT), page: fc.integer({ min: 0, max: 15 }), write: fc.boolean(), privileged: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("inv" as const), domain: fc.constantFrom(1, 2, 3), page: fc.integer({ min: 0, max: 15 }) }) },
);

function request(op: Extract<Op, { kind: "req" }>): TranslationRequest {
  if (op.dev === HOST || op.dev === ABSENT) return { deviceId: op.dev, address: IOVA + op.page * 4096 + 8, write: op.write };
  return { deviceId: op.dev, address: GVA + op.page * 4096 + 8, write: op.write, pasid: 1, privileged: op.privileged };
}

const ARCH = ["ok", "spa", "pageSize", "cycles", "readable", "writable", "executable", "user", "fault", "event", "path", "iotlbHit",
  "dteCacheHit", "gcr3CacheHit", "pdeHits", "memoryReferences", "walkReferences", "adUpdates"] as const;

function run(ops: Op[], timed: boolean, iotlb: number, pde: number, levels: 4 | 5) {
  const tb = build(iotlb, pde, levels);
  const results: unknown[] = [];
  const out = new TranslationResult();
  let t = tb.iommu.now;
  for (const op of ops) {
    if (op.kind === "inv") {
      tb.sync(buildInvalidateIommuPages({ domainId: op.domain, pasid: 1, gn: op.domain !== 1, address: (op.domain === 1 ? IOVA : GVA) + op.page * 4096 }));
      continue;
    }
    t += 3;
    const r = timed ? tb.iommu.translateTimed(request(op), t, out) : tb.iommu.translateInto(request(op), out);
    results.push(ARCH.map((k) => r[k]));
  }
  tb.iommu.runUntilIdle();
  const mem = tb.memory.u32.slice(0, tb.pages.used / 4);
  const { cycle: _c, timing: _t, commands, ...counters } = tb.iommu.stats();
  return { results, mem, counters, events: tb.events(), executed: commands.executed };
}

describe("functional and timed mode give identical architectural results", () => {
  for (const [iotlb, pde] of [[64, 64], [0, 64], [64, 0], [0, 0]] as const) {
    for (const levels of [4, 5] as const) {
      it(`IOTLB ${iotlb ? "on" : "off"}, PDE cache ${pde ? "on" : "off"}, ${levels}-level guest tables`, () => {
        fc.assert(fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) => {
          const f = run(ops, false, iotlb, pde, levels);
          const t = run(ops, true, iotlb, pde, levels);
          expect(t.results).toEqual(f.results);
          expect(t.events).toEqual(f.events);
          expect(t.counters).toEqual(f.counters);
          expect(t.executed).toBe(f.executed);
          expect(Buffer.compare(Buffer.from(t.mem.buffer), Buffer.from(f.mem.buffer))).toBe(0);
        }), { numRuns: 8, seed: 6 + iotlb + pde + levels });
      });
    }
  }

  it("the sequences exercise hits, walks, A/D updates and faults", () => {
    const ops: Op[] = [];
    for (let p = 0; p < 16; p++) for (const dev of [HOST, GUEST, NESTED]) ops.push({ kind: "req", dev, page: p, write: p % 2 === 0, privileged: false });
    ops.push(...ops.slice(0, 12));
    const f = run(ops, false, 64, 64, 4);
    const flat = f.results as unknown[][];
    const col = (k: (typeof ARCH)[number]) => flat.map((r) => r[ARCH.indexOf(k)]);
    expect(col("iotlbHit")).toContain(true);
    expect(col("ok")).toContain(false);
    expect((col("adUpdates") as number[]).some((n) => n > 0)).toBe(true);
    expect(col("path")).toEqual(expect.arrayContaining(["host", "guest", "nested"]));
    expect(f.events.length).toBeGreaterThan(0);
  });
});
