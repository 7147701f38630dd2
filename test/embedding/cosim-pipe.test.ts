/**
 * The co-simulation pipe (src/cli/serve.ts + cosim-session.ts), driven in-process through
 * streams exactly as a host simulator drives it through stdin/stdout: memory regions,
 * base64 memory blocks, MMIO, translate (functional, timed, ATS, peek), advance, notifications.
 */
import { describe, expect, it } from "vitest";
import { PassThrough } from "node:stream";
import { main } from "../../src/cli/serve.js";
import { PhysicalMemory, spec } from "../../src/index.js";
import { BumpAllocator, DeviceTableWriter, V1PageTable } from "../../src/builders/index.js";

const {
  CONTROL, MMIO_CONTROL, MMIO_DEVICE_TABLE_BASE, MMIO_COMMAND_BUFFER_BASE, MMIO_COMMAND_BUFFER_TAIL, MMIO_EVENT_LOG_BASE,
  MMIO_EVENT_LOG_TAIL, V1_A, V1_D, buildInvalidateIommuPages, EV_IO_PAGE_FAULT,
} = spec;
type Msg = Record<string, unknown>;
const bit = (n: keyof typeof CONTROL) => BigInt(CONTROL[n].mask) << BigInt(32 * CONTROL[n].half);
const hex = (v: number | bigint) => "0x" + v.toString(16);

/** Run the pipe over `lines`; returns every output line parsed, and main's exit code. */
async function pipe(lines: Msg[], argv: string[] = []): Promise<{ out: Msg[]; code: number }> {
  const input = new PassThrough(), output = new PassThrough();
  const chunks: string[] = [];
  output.on("data", (c: Buffer) => chunks.push(c.toString()));
  const done = main(argv, { input, output });
  for (const l of lines) input.write(typeof l === "string" ? l + "\n" : JSON.stringify(l) + "\n");
  input.end();
  const code = await done;
  return { out: chunks.join("").split("\n").filter((x) => x !== "").map((x) => JSON.parse(x) as Msg), code };
}

/** What a host simulator prepares in its own memory: a device table, a v1 table, rings; as write-memory messages. */
function hostImage() {
  const mem = new PhysicalMemory({ bytes: 4 * 1024 * 1024 });
  const pages = new BumpAllocator(mem, 0x1000);
  const dt = new DeviceTableWriter(mem, pages.allocContiguous(8), 256);
  const cmd = pages.allocContiguous(2), ev = pages.allocContiguous(2);
  const v1 = new V1PageTable(mem, pages, 3);
  v1.map(0x10_0000, 0x30_0000);
  dt.set(0x10, { V: true, TV: true, Mode: 3, HostPageTableRootPtr: v1.root, IR: true, IW: true, DomainID: 5, HAD: 3 });
  const used = pages.used;
  const writes: Msg[] = [{ id: "img", op: "write-memory", pa: 0, data: Buffer.from(mem.readBytes(0, used)).toString("base64") }];
  const program: Msg[] = [
    { op: "mmio-write", offset: MMIO_DEVICE_TABLE_BASE, value: hex(dt.registerValue) },
    { op: "mmio-write", offset: MMIO_COMMAND_BUFFER_BASE, value: hex(BigInt(cmd) | (9n << 56n)) },
    { op: "mmio-write", offset: MMIO_EVENT_LOG_BASE, value: hex(BigInt(ev) | (9n << 56n)) },
    { op: "mmio-write", offset: MMIO_CONTROL, value: hex(bit("IommuEn") | bit("CmdBufEn") | bit("EventLogEn")) },
  ];
  return { writes, program, cmd, ev, leaf: v1.entryAddress(0x10_0000, 1) };
}

const answers = (out: Msg[]) => out.filter((m) => "id" in m);
const byId = (out: Msg[], id: unknown) => out.find((m) => m.id === id)!;

describe("co-simulation pipe", () => {
  it("hello names the protocol; a host programs the IOMMU through memory and MMIO and translates a DMA", async () => {
    const img = hostImage();
    const { out, code } = await pipe([
      { id: 0, op: "hello" },
      { op: "add-memory", base: 0, bytes: 8 * 1024 * 1024 },
      { op: "create-iommu", iommu: "0" },
      ...img.writes, ...img.program,
      { id: "t", op: "translate", iommu: "0", deviceId: 0x10, address: "0x100abc", write: true },
      { id: "pte", op: "read-memory", pa: img.leaf, bytes: 8 },
      { id: "q", op: "quit" },
      { id: "never", op: "hello" },
    ]);
    expect(code).toBe(0);
    expect(byId(out, 0)).toMatchObject({ ok: true, protocol: 2 });
    expect(answers(out).every((a) => a.ok === true)).toBe(true);
    expect(byId(out, "t")).toMatchObject({ allowed: true, spa: "0x300abc", pageSize: "0x1000", path: "host", fault: null });
    const pte = Buffer.from(byId(out, "pte").data as string, "base64").readUInt32LE(0);
    expect(pte & (V1_A | V1_D)).toBe(V1_A | V1_D);
    expect(out.some((m) => m.id === "never")).toBe(false); // nothing after quit
  });

  it("a subscribed UNMAP notification is written when the command runs at advance, before advance's answer", async () => {
    const img = hostImage();
    const cmd = buildInvalidateIommuPages({ domainId: 5, address: 0x10_0000 });
    const { out } = await pipe([
      { op: "add-memory", base: 0, bytes: 8 * 1024 * 1024 }, { op: "create-iommu" }, ...img.writes, ...img.program,
      { id: "s", op: "subscribe", iommu: "0", events: ["unmap", "map"] },
      { id: "t", op: "translate", deviceId: 0x10, address: 0x10_0000 },
      { op: "write-memory", pa: img.cmd, data: Buffer.from(cmd.buffer).toString("base64") },
      { id: "door", op: "mmio-write", offset: MMIO_COMMAND_BUFFER_TAIL, value: 16 },
      { id: "adv", op: "advance" },
    ]);
    const iMap = out.findIndex((m) => m.notify === "map");
    const iT = out.findIndex((m) => m.id === "t");
    expect(iMap).toBeGreaterThanOrEqual(0);
    expect(iMap).toBeLessThan(iT);
    expect(out[iMap]).toMatchObject({ iommu: "0", deviceId: 0x10, domainId: 5, address: "0x100000", spa: "0x300000", pageSize: "0x1000" });
    const iUnmap = out.findIndex((m) => m.notify === "unmap");
    expect(iUnmap).toBeGreaterThan(out.findIndex((m) => m.id === "door"));
    expect(iUnmap).toBeLessThan(out.findIndex((m) => m.id === "adv"));
    expect(out[iUnmap]).toMatchObject({ command: "INVALIDATE_IOMMU_PAGES", domainId: 5, start: "0x100000", size: "0x1000", all: false });
  });

  it("attach-endpoint forwards PRG responses as prg-response notifications; page-request answers the IOMMU's outcome", async () => {
    const img = hostImage();
    const prg = spec.buildCompletePprRequest({ deviceId: 0x10, prgIndex: 7, responseCode: 0 });
    const { out } = await pipe([
      { op: "add-memory", base: 0, bytes: 8 * 1024 * 1024 }, { op: "create-iommu" }, ...img.writes, ...img.program,
      { id: "att", op: "attach-endpoint", iommu: "0", deviceId: 0x10, atsLatency: 500 },
      { id: "sub", op: "subscribe", iommu: "0", events: ["prg-response"] },
      { id: "pr", op: "page-request", deviceId: 0x10, address: "0x100000", prgIndex: 7, write: true },
      { op: "write-memory", pa: img.cmd, data: Buffer.from(prg.buffer).toString("base64") },
      { id: "door", op: "mmio-write", offset: MMIO_COMMAND_BUFFER_TAIL, value: 16 },
      { id: "adv", op: "advance" },
      { id: "bad", op: "attach-endpoint", deviceId: 0x1_0000, atsLatency: 1 },
    ]);
    expect(byId(out, "att")).toMatchObject({ ok: true });
    expect(byId(out, "pr")).toMatchObject({ ok: true, outcome: "invalid" }); // DTE.PPR = 0: INVALID_PPR_REQUEST
    const iNote = out.findIndex((m) => m.notify === "prg-response");
    expect(out[iNote]).toMatchObject({ iommu: "0", deviceId: 0x10, prgIndex: 7, responseCode: 0 });
    expect(iNote).toBeLessThan(out.findIndex((m) => m.id === "adv"));
    expect(byId(out, "bad")).toMatchObject({ ok: false });
  });

  it("faults, timed translations, peek and MMIO reads answer as the library does", async () => {
    const img = hostImage();
    const { out } = await pipe([
      { op: "add-memory", base: 0, bytes: 8 * 1024 * 1024 }, { op: "create-iommu" }, ...img.writes, ...img.program,
      { id: "peek", op: "translate", deviceId: 0x10, address: 0x20_0000, kind: "peek" },
      { id: "f", op: "translate", deviceId: 0x10, address: 0x20_0000 },
      { id: "tail", op: "mmio-read", offset: MMIO_EVENT_LOG_TAIL },
      { id: "ev", op: "read-memory", pa: img.ev, bytes: 16 },
      { id: "timed", op: "translate", deviceId: 0x10, address: 0x10_0000, cycle: 1000 },
      { id: "st", op: "stats" },
    ]);
    expect(byId(out, "peek")).toMatchObject({ allowed: false, fault: "not-present", event: 0 });
    expect(byId(out, "f")).toMatchObject({ allowed: false, fault: "not-present", event: EV_IO_PAGE_FAULT });
    expect(byId(out, "tail")).toMatchObject({ value: "0x10" });
    expect(Buffer.from(byId(out, "ev").data as string, "base64").readUInt32LE(4) >>> 28).toBe(EV_IO_PAGE_FAULT);
    const timed = byId(out, "timed");
    expect(timed.completionCycle).toBe(1000 + (timed.cycles as number));
    expect((byId(out, "st").stats as { translation: { faults: number } }).translation.faults).toBe(1);
  });

  it("bad messages get error answers naming the problem, and the session goes on", async () => {
    const { out, code } = await pipe([
      "{not json" as unknown as Msg,
      { id: 1, op: "fly" },
      { id: 2, op: "translate", deviceId: 1, address: 0 },
      { id: 3, op: "add-memory", base: 12, bytes: 4096 },
      { id: 4, op: "add-memory", base: 0, bytes: 4096 },
      { id: 5, op: "create-iommu" },
      { id: 6, op: "translate", deviceId: 70000, address: 0 },
      { id: 7, op: "read-memory", pa: 4096, bytes: 4 },
      { id: 8, op: "mmio-write", offset: 3, value: 1 },
      { id: 9, op: "hello" },
    ]);
    expect(code).toBe(0);
    expect(out[0]).toMatchObject({ id: null, ok: false });
    expect(byId(out, 1).error).toMatch(/unknown op/);
    expect(byId(out, 2)).toMatchObject({ field: "iommu", error: expect.stringMatching(/"0" does not exist/) });
    expect(byId(out, 3).error).toMatch(/base/);
    expect(byId(out, 6)).toMatchObject({ field: "deviceId", error: expect.stringMatching(/^deviceId: must be DeviceID 0\.\.65535/) });
    expect(byId(out, 7).error).toMatch(/not inside one memory region/);
    expect(byId(out, 8).error).toMatch(/offset/);
    expect([4, 5, 9].map((i) => byId(out, i).ok)).toEqual([true, true, true]);
  });

  it("--memory and --iommus prepare a memory and one IOMMU per segment; memory holes answer as hardware errors", async () => {
    const { out } = await pipe([
      { id: 1, op: "mmio-write", iommu: "1", offset: MMIO_DEVICE_TABLE_BASE, value: "0x40000000" }, // device table in a hole
      { id: 2, op: "mmio-write", iommu: "1", offset: MMIO_CONTROL, value: hex(bit("IommuEn")) },
      { id: 3, op: "translate", iommu: "1", deviceId: 0, address: 0x1000 },
      { id: 4, op: "translate", iommu: "0", deviceId: 0, address: 0x1000 },
      { id: 5, op: "add-memory", base: 0x4000_0000, bytes: 4096 },
      { id: 6, op: "translate", iommu: "1", deviceId: 0, address: 0x1000 },
    ], ["--memory", String(1 << 20), "--iommus", "2"]);
    expect(byId(out, 3)).toMatchObject({ allowed: false, fault: "dte-hardware-error" });
    expect(byId(out, 4)).toMatchObject({ allowed: true, path: "iommu-disabled" });
    expect(byId(out, 6)).toMatchObject({ allowed: true, path: "untranslated" }); // a zero DTE (V = 0) in the new region
  });

  it("replay, snapshot and restore travel as JSON", async () => {
    const img = hostImage();
    const { out } = await pipe([
      { op: "add-memory", base: 0, bytes: 8 * 1024 * 1024 }, { op: "create-iommu" }, ...img.writes, ...img.program,
      { id: "r", op: "replay", deviceId: 0x10 },
      { id: "t1", op: "translate", deviceId: 0x10, address: 0x10_0000 },
      { id: "snap", op: "snapshot" },
      { id: "t2", op: "translate", deviceId: 0x10, address: 0x10_0000 },
    ]);
    expect(byId(out, "r")).toMatchObject({ truncated: false, mappings: [expect.objectContaining({ address: "0x100000", spa: "0x300000", pageSize: "0x1000" })] });
    expect(byId(out, "t2")).toMatchObject({ iotlbHit: true });
    const snap = byId(out, "snap").snapshot;
    const again = await pipe([
      { op: "add-memory", base: 0, bytes: 8 * 1024 * 1024 }, { op: "create-iommu" }, ...img.writes,
      { id: "rs", op: "restore", snapshot: snap },
      { id: "t3", op: "translate", deviceId: 0x10, address: 0x10_0000 },
    ]);
    expect(byId(again.out, "rs").ok).toBe(true);
    expect(byId(again.out, "t3")).toMatchObject({ allowed: true, iotlbHit: true, spa: "0x300000" });
  });
});
