/**
 * The co-simulation pipe as a declared protocol (cosim-session.ts OPS, pipe-schema.ts): each
 * test is named after a promise of README "Embedding: the pipe protocol" and fails if the
 * behaviour it names is removed.
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { PassThrough } from "node:stream";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { CosimSession, NOTIFICATION, OPS, PIPE_LIMITS } from "../../src/embedding/cosim-session.js";
import { ERROR_ANSWER, isBase64 } from "../../src/embedding/pipe-schema.js";
import { boundedLines } from "../../src/embedding/bounded-lines.js";
import { schemaFiles } from "../../src/embedding/schema-files.js";
import { main } from "../../src/cli/serve.js";
import { PhysicalMemory, spec } from "../../src/index.js";
import { BumpAllocator, DeviceTableWriter, V1PageTable } from "../../src/builders/index.js";

type Msg = Record<string, unknown>;
const { CONTROL, MMIO_CONTROL, MMIO_DEVICE_TABLE_BASE, MMIO_EVENT_LOG_BASE } = spec;
const bit = (n: keyof typeof CONTROL) => BigInt(CONTROL[n].mask) << BigInt(32 * CONTROL[n].half);
const hex = (v: number | bigint) => "0x" + v.toString(16);

/** A session whose output lines are collected (parsed). */
function session() {
  const lines: string[] = [];
  const s = new CosimSession((l) => lines.push(l));
  const send = (m: Msg | string) => { const n = lines.length; s.line(typeof m === "string" ? m : JSON.stringify(m)); return lines.slice(n).map((l) => JSON.parse(l) as Msg); };
  return { s, lines, send, last: (m: Msg | string) => { const o = send(m); return o[o.length - 1]!; } };
}

/** A device 0x10 with one 4 KiB mapping 0x100000 -> 0x300000, an event log, the IOMMU on: as write-memory and mmio-write lines. */
function image(): Msg[] {
  const mem = new PhysicalMemory({ bytes: 4 * 1024 * 1024 });
  const pages = new BumpAllocator(mem, 0x1000);
  const dt = new DeviceTableWriter(mem, pages.allocContiguous(8), 256);
  const ev = pages.allocContiguous(2);
  const v1 = new V1PageTable(mem, pages, 3);
  v1.map(0x10_0000, 0x30_0000);
  dt.set(0x10, { V: true, TV: true, Mode: 3, HostPageTableRootPtr: v1.root, IR: true, IW: true, DomainID: 5 });
  return [
    { op: "add-memory", base: 0, bytes: 8 * 1024 * 1024 }, { op: "create-iommu" },
    { op: "write-memory", pa: 0, data: Buffer.from(mem.readBytes(0, pages.used)).toString("base64") },
    { op: "mmio-write", offset: MMIO_DEVICE_TABLE_BASE, value: hex(dt.registerValue) },
    { op: "mmio-write", offset: MMIO_EVENT_LOG_BASE, value: hex(BigInt(ev) | (9n << 56n)) },
    { op: "mmio-write", offset: MMIO_CONTROL, value: hex(bit("IommuEn") | bit("EventLogEn") | bit("EventIntEn")) },
  ];
}

const answerCheck = new Map(OPS.map((o) => [o.name, TypeCompiler.Compile(o.answer)]));
const errorCheck = TypeCompiler.Compile(ERROR_ANSWER);
const noteCheck = TypeCompiler.Compile(NOTIFICATION);

describe("the pipe protocol is declared", { timeout: 60_000 }, () => {
  it("the published JSON Schemas (schema/*.schema.json) are what the model checks against (run npm run schemas after a change)", () => {
    for (const [name, text] of Object.entries(schemaFiles())) {
      expect(readFileSync(new URL(`../../schema/${name}`, import.meta.url), "utf8"), `schema/${name} is stale: npm run schemas`).toBe(text);
    }
    const pipe = JSON.parse(schemaFiles()["pipe-protocol.schema.json"]!) as { $defs: Record<string, unknown> };
    for (const o of OPS) expect(Object.keys(pipe.$defs)).toEqual(expect.arrayContaining([`request-${o.name}`, `answer-${o.name}`]));
  });

  it("every answer conforms to its op's declared answer schema and every notification to the notification schema", () => {
    const { send } = session();
    const out: Msg[] = [];
    const ops: Msg[] = [
      { id: 0, op: "hello" }, ...image(),
      { id: "sub", op: "subscribe", events: ["unmap", "map", "interrupt", "device-tlb-unmap", "prg-response"] },
      { id: "t", op: "translate", deviceId: 0x10, address: "0x100abc", write: true },
      { id: "f", op: "translate", deviceId: 0x10, address: 0x20_0000 },
      { id: "ats", op: "translate", deviceId: 0x10, address: 0x10_0000, kind: "ats" },
      { id: "timed", op: "translate", deviceId: 0x10, address: 0x10_0000, cycle: 5000 },
      { id: "r", op: "read-memory", pa: 0, bytes: 16 }, { id: "mr", op: "mmio-read", offset: MMIO_CONTROL, width: 32 },
      { id: "att", op: "attach-endpoint", deviceId: 0x10, atsLatency: 10 },
      { id: "pr", op: "page-request", deviceId: 0x10, address: 0x10_0000, prgIndex: 1 },
      { id: "ri", op: "remap-interrupt", deviceId: 0x10, address: "0xfee01000", data: 0x4021 },
      { id: "rip", op: "remap-interrupt", deviceId: 0x10, address: 0xfee0_0000, data: 0x21, kind: "peek" },
      { id: "rit", op: "remap-interrupt", deviceId: 0x10, address: 0xfee0_0000, data: 0x21, cycle: 9000 },
      { id: "rp", op: "replay", deviceId: 0x10 }, { id: "rp0", op: "replay", deviceId: 0x99, limit: 1 },
      { id: "st", op: "stats" }, { id: "sn", op: "snapshot" }, { id: "adv", op: "advance" },
      { id: "un", op: "unsubscribe", events: ["map"] },
    ];
    for (const m of ops) out.push(...send(m));
    const snap = out.find((m) => m.id === "sn")!.snapshot;
    out.push(...send({ id: "rs", op: "restore", snapshot: snap as Msg }), ...send({ id: "q", op: "quit" }));
    const seen = new Set<string>();
    for (const m of out) {
      if ("notify" in m) { expect(noteCheck.Check(m), JSON.stringify(m)).toBe(true); seen.add(String(m.notify)); continue; }
      expect(m.ok, JSON.stringify(m)).toBe(true);
      const op = ops.find((o) => o.id === m.id)?.op ?? (m.id === "rs" ? "restore" : m.id === "q" ? "quit" : undefined);
      if (op === undefined) continue;
      expect([...answerCheck.get(String(op))!.Errors(m)].map((e) => `${e.path} ${e.message}`), `${String(op)}: ${JSON.stringify(m).slice(0, 200)}`).toEqual([]);
    }
    expect([...seen].sort()).toEqual(["interrupt", "map"]);
  });

  it("an unknown field is an error answer naming it: a misspelt \"wirte\" is not taken as a read", () => {
    const { send, last } = session();
    for (const m of image()) send(m);
    const before = (last({ op: "stats" }).stats as { translation: { requests: number } }).translation.requests;
    const a = last({ id: 7, op: "translate", deviceId: 0x10, address: 0x10_0000, wirte: true });
    expect(a).toMatchObject({ id: 7, ok: false, field: "wirte", error: "wirte: unknown field" });
    expect((last({ op: "stats" }).stats as { translation: { requests: number } }).translation.requests).toBe(before);
  });

  it("out-of-range values are error answers naming the field, never truncated", () => {
    const { send, last } = session();
    for (const m of image()) send(m);
    const cases: [Msg, string][] = [
      [{ op: "mmio-read", offset: MMIO_CONTROL, width: 16 }, "width"],
      [{ op: "translate", deviceId: 0x10, address: "0x10000000000000000" }, "address"],
      [{ op: "translate", deviceId: 0x10, address: "18446744073709551616" }, "address"],
      [{ op: "translate", deviceId: 0x10, address: 1.5 }, "address"],
      [{ op: "translate", deviceId: 70000, address: 0 }, "deviceId"],
      [{ op: "translate", deviceId: 0x10, address: 0, pasid: 0x100000 }, "pasid"],
      [{ op: "mmio-write", offset: MMIO_CONTROL, width: 32, value: "0x100000000" }, "value"],
      [{ op: "mmio-write", offset: MMIO_CONTROL, value: -1 }, "value"],
      [{ op: "read-memory", pa: 0, bytes: PIPE_LIMITS.memoryBlockBytes + 1 }, "bytes"],
      [{ op: "replay", deviceId: 0x10, limit: PIPE_LIMITS.replayMappings + 1 }, "limit"],
      [{ op: "create-iommu", iommu: "x", options: { iotbl: { entries: 4 } } }, "options/iotbl"],
      [{ op: "create-iommu", iommu: "x", options: { iotlb: { entries: 2 ** 21 } } }, "options/iotlb/entries"],
      [{ op: "translate", deviceId: 0x10, address: 0, write: "yes" }, "write"],
    ];
    const control = last({ op: "mmio-read", offset: MMIO_CONTROL });
    for (const [m, field] of cases) expect(last(m), JSON.stringify(m)).toMatchObject({ ok: false, field });
    expect(last({ op: "mmio-read", offset: MMIO_CONTROL })).toEqual(control);
  });

  it("bad base64 is an error answer naming data, and nothing is written", () => {
    const { send, last } = session();
    send({ op: "add-memory", base: 0, bytes: 4096 });
    send({ op: "write-memory", pa: 0, data: Buffer.from([1, 2, 3, 4]).toString("base64") });
    for (const data of ["!!!", "abc", "AQID=A==", "AQ=D"]) {
      expect(isBase64(data)).toBe(false);
      expect(last({ op: "write-memory", pa: 0, data })).toMatchObject({ ok: false, field: "data" });
    }
    expect(last({ op: "read-memory", pa: 0, bytes: 4 })).toMatchObject({ ok: true, data: Buffer.from([1, 2, 3, 4]).toString("base64") });
  });

  it("a deeply nested id gets one error answer (not a crash of the answer's serialisation) and the session goes on", () => {
    const { send } = session();
    const deep = "[".repeat(200_000) + "]".repeat(200_000);
    const out = send(`{"id": ${deep}, "op": "hello"}`);
    expect(out).toEqual([{ id: null, ok: false, error: `nesting deeper than ${PIPE_LIMITS.depth} levels` }]);
    expect(send({ id: { a: 1 }, op: "hello" })).toEqual([expect.objectContaining({ id: null, ok: false, field: "id" })]);
    expect(send({ id: 1, op: "hello" })).toEqual([expect.objectContaining({ id: 1, ok: true })]);
  });

  it("every line gets exactly one answer: empty lines, non-JSON, non-objects, unknown ops", () => {
    const { send } = session();
    for (const l of ["", "   ", "{", "[]", "null", "42", "\"x\"", "{\"op\": 5}", "{\"op\": \"fly\"}", "{\"op\": \"__proto__\"}", "{\"op\": \"constructor\"}"]) {
      const out = send(l);
      expect(out, l).toHaveLength(1);
      expect(errorCheck.Check(out[0]), JSON.stringify(out[0])).toBe(true);
    }
  });

  it("a line longer than the limit is dropped unread with one error answer, and the next line is served", async () => {
    const input = new PassThrough(), output = new PassThrough();
    const chunks: string[] = [];
    output.on("data", (c: Buffer) => chunks.push(c.toString()));
    const done = main([], { input, output });
    const big = Buffer.alloc(1 << 20, 0x20);
    for (let i = 0; i < PIPE_LIMITS.lineBytes / big.length + 1; i++) input.write(big);
    input.write("\n" + JSON.stringify({ id: 2, op: "hello" }) + "\n");
    input.end();
    expect(await done).toBe(0);
    const out = chunks.join("").split("\n").filter((x) => x !== "").map((x) => JSON.parse(x) as Msg);
    expect(out).toHaveLength(2);
    expect(out[0]).toMatchObject({ id: null, ok: false, error: expect.stringMatching(/line longer than/) });
    expect(out[1]).toMatchObject({ id: 2, ok: true });
  });

  it("boundedLines never holds more than the limit of one line and splits \\n and \\r\\n lines across chunks", async () => {
    const input = new PassThrough();
    const got: unknown[] = [];
    const p = (async () => { for await (const l of boundedLines(input, 8)) got.push(l); })();
    input.write("ab"); input.write("c\r\n0123456789"); input.write("ABC\nxy\n"); input.end("tail");
    await p;
    expect(got).toEqual(["abc", { tooLong: 13 }, "xy", "tail"]);
  });

  it("every 64-bit value goes out as a string: a whole-space identity mapping's page size is \"0x10000000000000000\"", () => {
    const { send, last } = session();
    send({ op: "add-memory", base: 0, bytes: 4096 }); send({ op: "create-iommu" });
    const r = last({ op: "replay", deviceId: 1 });
    expect(r).toMatchObject({ ok: true, mappings: [{ address: "0x0", pageSize: "0x10000000000000000", spa: "0x0" }] });
    expect(last({ op: "translate", deviceId: 1, address: "0xffffffffffff000" })).toMatchObject({ spa: "0xffffffffffff000" });
  });

  it("every notification carries the cycle it happened at (interrupts too)", () => {
    const { send } = session();
    for (const m of image()) send(m);
    send({ op: "subscribe", events: ["interrupt"] });
    const out = send({ id: "f", op: "translate", deviceId: 0x10, address: 0x20_0000, cycle: 777 });
    const note = out.find((m) => m.notify === "interrupt");
    expect(note).toMatchObject({ source: "event-log", cycle: expect.any(Number) });
    expect(note!.cycle as number).toBeGreaterThanOrEqual(777);
  });

  it("adding an op is one entry in OPS: hello lists exactly the declared ops", () => {
    const { last } = session();
    expect(last({ op: "hello" }).ops).toEqual(OPS.map((o) => o.name));
  });
});
