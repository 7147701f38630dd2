/**
 * The pipe op remap-interrupt (docs/ARCHITECTURE.md section 4's remapInterrupt over the
 * co-simulation pipe): remapped through an IRTE, peek changes nothing, timed mode, faults
 * with their event code, field errors for bad input.
 */
import { describe, expect, it } from "vitest";
import { CosimSession } from "../../src/embedding/cosim-session.js";
import { PhysicalMemory, spec } from "../../src/index.js";
import { BumpAllocator, DeviceTableWriter, InterruptTable } from "../../src/builders/index.js";

type Msg = Record<string, unknown>;
const hex = (v: number | bigint) => "0x" + v.toString(16);

function setup() {
  const lines: string[] = [];
  const s = new CosimSession((l) => lines.push(l));
  const send = (m: Msg) => { const n = lines.length; s.line(JSON.stringify(m)); const o = lines.slice(n).map((l) => JSON.parse(l) as Msg); return o[o.length - 1]!; };
  const mem = new PhysicalMemory({ bytes: 4 * 1024 * 1024 });
  const pages = new BumpAllocator(mem, 0x1000);
  const dt = new DeviceTableWriter(mem, pages.allocContiguous(8), 256);
  const ev = pages.allocContiguous(2);
  const table = new InterruptTable(mem, pages, { format: "128", intTabLen: 4 });
  table.set(3, { RemapEn: true, Vector: 0x61, Destination: 0x0102_0304 });
  dt.set(0x18, { V: true, TV: true, DomainID: 9, ...table.dteFields() });
  const C = spec.CONTROL;
  const bit = (n: keyof typeof C) => BigInt(C[n].mask) << BigInt(32 * C[n].half);
  for (const m of [
    { op: "add-memory", base: 0, bytes: 4 * 1024 * 1024 }, { op: "create-iommu" },
    { op: "write-memory", pa: 0, data: Buffer.from(mem.readBytes(0, pages.used)).toString("base64") },
    { op: "mmio-write", offset: spec.MMIO_DEVICE_TABLE_BASE, value: hex(dt.registerValue) },
    { op: "mmio-write", offset: spec.MMIO_EVENT_LOG_BASE, value: hex(BigInt(ev) | (9n << 56n)) },
    { op: "mmio-write", offset: spec.MMIO_CONTROL, value: hex(bit("IommuEn") | bit("EventLogEn") | bit("GAEn") | bit("XTEn")) },
  ]) expect(send(m).error, JSON.stringify(m)).toBeUndefined();
  return { send };
}

describe("pipe op remap-interrupt", () => {
  it("a fixed MSI with data 3 is remapped to the IRTE's vector and 32-bit destination", () => {
    const { send } = setup();
    const a = send({ id: 1, op: "remap-interrupt", deviceId: 0x18, address: "0xfee00000", data: 3 });
    expect(a).toMatchObject({ id: 1, ok: true, delivered: true, path: "remapped", vector: 0x61, destination: 0x0102_0304, deliveryMode: 0, destinationMode: 0, posted: false, fault: null, event: 0, index: 3 });
  });
  it("peek changes nothing (no IRTE cache fill: the next remap misses) and timed mode gives completionCycle", () => {
    const { send } = setup();
    expect(send({ op: "remap-interrupt", deviceId: 0x18, address: 0xfee0_0000, data: 3, kind: "peek" })).toMatchObject({ ok: true, delivered: true, vector: 0x61 });
    const t = send({ op: "remap-interrupt", deviceId: 0x18, address: 0xfee0_0000, data: 3, cycle: 1000 });
    expect([t.irteCacheHit, t.completionCycle]).toEqual([false, 1000 + (t.cycles as number)]);
  });
  it("an index beyond the table faults with IO_PAGE_FAULT", () => {
    const { send } = setup();
    expect(send({ op: "remap-interrupt", deviceId: 0x18, address: 0xfee0_0000, data: 40 })).toMatchObject({ ok: true, delivered: false, fault: "index-out-of-range", event: spec.EV_IO_PAGE_FAULT });
  });
  it("bad fields are refused naming the field", () => {
    const { send } = setup();
    const a = send({ op: "remap-interrupt", deviceId: 0x18, address: 0xfee0_0000, data: -1 });
    expect([a.ok, String(a.error)]).toEqual([false, expect.stringMatching(/data/)]);
    const b = send({ op: "remap-interrupt", deviceId: 0x18, address: 0xfee0_0000, data: 1, kind: "peek", cycle: 5 });
    expect([b.ok, String(b.error)]).toEqual([false, expect.stringMatching(/cycle/)]);
  });
});
