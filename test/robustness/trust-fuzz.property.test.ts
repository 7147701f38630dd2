/**
 * Fuzz of the two data boundaries an embedder's files and clients cross: snapshots (restore)
 * and pipe lines (the co-simulation session). Properties, for every input:
 *   - no throw escapes (restore refuses with a SnapshotError naming a path; a pipe line gets
 *     an answer, never an exception);
 *   - nothing outside the model's state changes (memory on restore, Object.prototype, the
 *     module-level tables every IOMMU shares, another IOMMU's translations);
 *   - a refused restore changes nothing; every pipe line gets exactly one answer, and every
 *     answer conforms to its declared schema.
 * Counts: FUZZ_SNAPSHOTS snapshots and FUZZ_PIPE_RUNS x up to 12 lines (README "Shared mode,
 * robustness and soak runs"); IOMMU_FUZZ_LONG=1 multiplies them by 20.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { buildScenario, scenarioRequests } from "../embedding/scenario.js";
import { SnapshotError } from "../../src/embedding/iommu-snapshot.js";
import { CosimSession, NOTIFICATION, OPS } from "../../src/embedding/cosim-session.js";
import { ERROR_ANSWER } from "../../src/embedding/pipe-schema.js";
import { POW2 } from "../../src/iommu/caches/tag-store.js";
import { PhysicalMemory, spec } from "../../src/index.js";
import { BumpAllocator, DeviceTableWriter, V1PageTable } from "../../src/builders/index.js";

const LONG = process.env.IOMMU_FUZZ_LONG === "1" ? 20 : 1;
const FUZZ_SNAPSHOTS = 150 * LONG;
const FUZZ_PIPE_RUNS = 600 * LONG;

type J = Record<string, unknown>;
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
const pow2 = Array.from(POW2);
const protoKeys = () => [Object.getOwnPropertyNames(Object.prototype).length, Object.getOwnPropertyNames(Array.prototype).length];
const protos0 = protoKeys();

/** Every path to a value in a JSON document (arrays: a few indices only). */
function paths(x: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(x)) { for (const i of [0, 1, x.length - 1]) if (i >= 0 && i < x.length) paths(x[i], [...at, i], out); }
  else if (x !== null && typeof x === "object") for (const [k, v] of Object.entries(x)) paths(v, [...at, k], out);
  return out;
}
function setAt(doc: unknown, path: (string | number)[], v: unknown, how: "replace" | "add" | "delete", key: string): unknown {
  if (path.length === 0) return how === "replace" ? v : doc;
  let o = doc as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) o = o[p] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (how === "replace") o[last] = v;
  else if (how === "delete") { if (Array.isArray(o)) o.pop(); else delete o[last]; }
  else { const t = o[last]; if (t !== null && typeof t === "object" && !Array.isArray(t)) Object.defineProperty(t, key, { value: v, enumerable: true, configurable: true, writable: true }); }
  return doc;
}

const strange = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(-1, 0.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 64, 1e300, -1e300, "Infinity", "-Infinity", "NaN", "", "0x10", null, true, [], {}, [1, 2, 3]),
  fc.integer(), fc.double(),
);

describe("snapshot fuzz: restore refuses or accepts, never escapes, never touches what is not the model's", { timeout: 600_000 }, () => {
  it(`${FUZZ_SNAPSHOTS} mutated snapshots`, () => {
    const s = buildScenario();
    const io = s.tb.iommu;
    const reqs = scenarioRequests();
    for (const r of reqs.slice(0, 25)) io.translate(r);
    io.translateTimed(reqs[0]!, 5000);
    const base = clone(io.snapshot()) as unknown as J;
    const all = paths(base);
    const twin = buildScenario();
    const twinBefore = JSON.stringify(twin.tb.iommu.peek(reqs[0]!));
    const mem0 = Buffer.from(new Uint8Array(s.tb.memory.buffer)).toString("base64");
    let refused = 0, accepted = 0;
    fc.assert(fc.property(
      fc.integer({ min: 0, max: all.length - 1 }), fc.constantFrom("replace", "replace", "add", "delete"),
      fc.constantFrom("__proto__", "constructor", "prototype", "memory", "translator", "x", "length"), strange,
      (pi, how, key, v) => {
        const mut = setAt(clone(base), all[pi]!, v, how as "replace", key);
        const before = JSON.stringify(io.snapshot());
        let err: unknown = null;
        try { io.restore(mut as never); } catch (e) { err = e; }
        if (err !== null) {
          refused++;
          expect(err instanceof SnapshotError || (err instanceof TypeError && /^restore: /.test(err.message)), String(err)).toBe(true);
          expect(JSON.stringify(io.snapshot())).toBe(before); // a refused restore changes nothing
        } else {
          accepted++;
          expect(() => { io.stats(); for (const r of reqs.slice(0, 6)) io.peek(r); }).not.toThrow();
          io.restore(clone(base) as never);
        }
        expect(Buffer.from(new Uint8Array(s.tb.memory.buffer)).toString("base64")).toBe(mem0);
        expect(protoKeys()).toEqual(protos0);
        expect(({} as J).polluted).toBeUndefined();
        expect(Array.from(POW2)).toEqual(pow2);
      },
    ), { seed: 0x514a9, numRuns: FUZZ_SNAPSHOTS });
    expect(JSON.stringify(twin.tb.iommu.peek(reqs[0]!))).toBe(twinBefore);
    console.log(`[snapshot fuzz] ${FUZZ_SNAPSHOTS} snapshots: ${refused} refused, ${accepted} accepted; escapes 0`);
    expect(refused).toBeGreaterThan(0);
  });
});

describe("pipe fuzz: every line gets exactly one answer, conforming to its schema; nothing escapes", { timeout: 600_000 }, () => {
  const answer = new Map(OPS.map((o) => [o.name, TypeCompiler.Compile(o.answer)]));
  const error = TypeCompiler.Compile(ERROR_ANSWER);
  const note = TypeCompiler.Compile(NOTIFICATION);
  const { CONTROL, MMIO_CONTROL, MMIO_DEVICE_TABLE_BASE } = spec;
  const bit = (n: keyof typeof CONTROL) => BigInt(CONTROL[n].mask) << BigInt(32 * CONTROL[n].half);

  function image(): J[] {
    const mem = new PhysicalMemory({ bytes: 1 << 20 });
    const pages = new BumpAllocator(mem, 0x1000);
    const dt = new DeviceTableWriter(mem, pages.allocContiguous(8), 256);
    const v1 = new V1PageTable(mem, pages, 3);
    v1.map(0x10_0000, 0x30_000);
    dt.set(0x10, { V: true, TV: true, Mode: 3, HostPageTableRootPtr: v1.root, IR: true, IW: true, DomainID: 5 });
    return [
      { op: "add-memory", base: 0, bytes: 2 << 20 }, { op: "create-iommu", options: { iotlb: { entries: 16 } } },
      { op: "write-memory", pa: 0, data: Buffer.from(mem.readBytes(0, pages.used)).toString("base64") },
      { op: "mmio-write", offset: MMIO_DEVICE_TABLE_BASE, value: "0x" + dt.registerValue.toString(16) },
      { op: "mmio-write", offset: MMIO_CONTROL, value: "0x" + bit("IommuEn").toString(16) },
      { op: "subscribe", events: ["map", "unmap", "interrupt"] },
    ];
  }
  const templates: J[] = [
    { op: "hello" }, { op: "translate", deviceId: 0x10, address: "0x100abc", write: true }, { op: "translate", deviceId: 0x10, address: 4096, kind: "peek" },
    { op: "translate", deviceId: 0x10, address: 0x100000, cycle: 100 }, { op: "read-memory", pa: 0, bytes: 16 }, { op: "write-memory", pa: 0x1f0000, data: "AAAAAA==" },
    { op: "mmio-read", offset: 0x18, width: 32 }, { op: "mmio-write", offset: 0x2000, value: 0 }, { op: "advance" }, { op: "advance", cycle: 10 },
    { op: "replay", deviceId: 0x10, limit: 4 }, { op: "stats" }, { op: "subscribe", events: ["map"] }, { op: "attach-endpoint", deviceId: 0x10, atsLatency: 5 },
    { op: "page-request", deviceId: 0x10, address: 0, prgIndex: 1 }, { op: "add-memory", base: 0x1000_0000, bytes: 4096 }, { op: "create-iommu", iommu: "b" },
  ];
  const field = fc.constantFrom("id", "op", "iommu", "deviceId", "address", "pasid", "write", "kind", "cycle", "pa", "bytes", "data", "offset", "value", "width", "events", "limit", "options", "snapshot", "wirte", "__proto__", "constructor");
  const mutated = fc.tuple(fc.constantFrom(...templates), field, strange, fc.boolean()).map(([t, k, v, del]) => {
    const m: J = { ...t, id: k.length };
    if (del) delete m[k]; else Object.defineProperty(m, k, { value: v, enumerable: true, configurable: true, writable: true });
    return JSON.stringify(m);
  });
  const line = fc.oneof(
    { weight: 5, arbitrary: mutated },
    { weight: 2, arbitrary: fc.constantFrom(...templates).map((t) => JSON.stringify(t)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
    { weight: 1, arbitrary: fc.json({ maxDepth: 4 }) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 5000 }).map((n) => `{"id":${"[".repeat(n)}${"]".repeat(n)},"op":"hello"}`) },
  );

  it(`${FUZZ_PIPE_RUNS} sessions of up to 12 fuzzed lines`, () => {
    let lines = 0, errors = 0;
    const outside = buildScenario();
    const req = scenarioRequests()[0]!;
    const outsideBefore = JSON.stringify(outside.tb.iommu.peek(req));
    fc.assert(fc.property(fc.array(line, { minLength: 1, maxLength: 12 }), (input) => {
      const out: string[] = [];
      const session = new CosimSession((l) => out.push(l));
      for (const m of image()) session.line(JSON.stringify(m));
      for (const text of input) {
        const n = out.length;
        expect(() => session.line(text)).not.toThrow();
        lines++;
        const got = out.slice(n).map((l) => JSON.parse(l) as J);
        const answers = got.filter((m) => !("notify" in m));
        expect(answers, text).toHaveLength(1);
        for (const m of got.filter((x) => "notify" in x)) expect(note.Check(m), JSON.stringify(m)).toBe(true);
        const a = answers[0]!;
        if (a.ok === true) {
          const op = (JSON.parse(text) as J).op as string;
          expect(answer.get(op)!.Check(a), `${op}: ${JSON.stringify(a).slice(0, 200)}`).toBe(true);
        } else { errors++; expect(error.Check(a), JSON.stringify(a)).toBe(true); }
        if (session.done) break;
      }
      expect(protoKeys()).toEqual(protos0);
      expect(({} as J).polluted).toBeUndefined();
      expect(Array.from(POW2)).toEqual(pow2);
    }), { seed: 0x9179e, numRuns: FUZZ_PIPE_RUNS });
    expect(JSON.stringify(outside.tb.iommu.peek(req))).toBe(outsideBefore);
    console.log(`[pipe fuzz] ${FUZZ_PIPE_RUNS} sessions, ${lines} lines: ${lines} answers (${errors} error answers); escapes 0`);
  });
});
