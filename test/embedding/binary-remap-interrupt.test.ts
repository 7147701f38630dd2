/**
 * The binary channel's remap-interrupt record (op 0x20, README "Binary channel"): request
 * +8 DeviceID, +12 data, +16 address, +24 PASID, +32 cycle; answer flags (delivered, posted,
 * doorbell, GA-logged, IRTE-cache hit, RqEoi, logical), address, data, destination, vector,
 * delivery mode, event, fault and path codes, index, cycles, completion cycle. Also: a GA-log
 * interrupt notification carries source 3.
 */
import { describe, expect, it } from "vitest";
import { BinarySession } from "../../src/embedding/binary-channel/binary-session.js";
import { FrameReader } from "../../src/embedding/binary-channel/binary-pipe.js";
import * as L from "../../src/embedding/binary-channel/frame-layout.js";
import { PhysicalMemory, spec } from "../../src/index.js";
import { BumpAllocator, DeviceTableWriter, InterruptTable } from "../../src/builders/index.js";

const { Op, FrameKind } = L;

function frame(records: [number, number, number, Uint8Array][]): Uint8Array {
  const parts = records.map(([op, idx, flags, b]) => {
    const len = 8 + ((b.length + 7) & ~7);
    const r = new Uint8Array(len);
    const dv = new DataView(r.buffer);
    r[0] = op; r[1] = idx; dv.setUint16(2, flags, true); dv.setUint32(4, len, true); r.set(b, 8);
    return r;
  });
  const total = 16 + parts.reduce((n, p) => n + p.length, 0);
  const f = new Uint8Array(total);
  const dv = new DataView(f.buffer);
  dv.setUint32(0, L.MAGIC, true); dv.setUint32(4, total, true); dv.setUint32(8, records.length, true); f[12] = FrameKind.Request; f[13] = L.VERSION;
  let o = 16;
  for (const p of parts) { f.set(p, o); o += p.length; }
  return f;
}
function body(...fields: [("u32" | "u64"), number | bigint][]): Uint8Array {
  const b = new Uint8Array(fields.reduce((n, [t]) => n + (t === "u32" ? 4 : 8), 0));
  const dv = new DataView(b.buffer);
  let o = 0;
  for (const [t, v] of fields) { if (t === "u32") { dv.setUint32(o, Number(v), true); o += 4; } else { dv.setBigUint64(o, BigInt(v), true); o += 8; } }
  return b;
}
interface Rec { op: number; b1: number; flags: number; len: number; dv: DataView; bytes: Uint8Array }
function run(s: BinarySession, f: Uint8Array): Rec[] {
  const r = new FrameReader();
  r.push(f);
  const n = r.next(FrameKind.Request);
  if (!("at" in n)) throw new Error("frame not ready");
  const ans = s.run(r.u8, r.u32, n.at).slice();
  const dv = new DataView(ans.buffer);
  const out: Rec[] = [];
  let o = 16;
  for (let i = 0; i < dv.getUint32(8, true); i++) {
    const len = dv.getUint32(o + 4, true);
    out.push({ op: ans[o]!, b1: ans[o + 1]!, flags: dv.getUint16(o + 2, true), len, dv: new DataView(ans.buffer, o, len), bytes: ans.slice(o, o + len) });
    o += len;
  }
  return out;
}
const remap = (dev: number, address: number, data: number, flags = 0, pasid = 0, cycle = 0): [number, number, number, Uint8Array] =>
  [Op.RemapInterrupt, 0, flags, body(["u32", dev], ["u32", data], ["u64", address], ["u32", pasid], ["u32", 0], ["u64", cycle])];

function programmed() {
  const s = new BinarySession();
  const mem = new PhysicalMemory({ bytes: 4 << 20 });
  const pages = new BumpAllocator(mem, 0x1000);
  const dt = new DeviceTableWriter(mem, pages.allocContiguous(8), 256);
  const ev = pages.allocContiguous(1), ga = pages.allocContiguous(1), backing = pages.alloc();
  const table = new InterruptTable(mem, pages, { format: "128", intTabLen: 4 });
  table.set(2, { RemapEn: true, Vector: 0x71, Destination: 0x0a0b_0c0d, DM: true, RqEoi: true });
  table.set(3, { RemapEn: true, GuestMode: true, Vector: 0x22, GATag: 0x55, GALogIntr: true, VapicBackingPage: backing });
  dt.set(0x18, { V: true, TV: true, DomainID: 4, ...table.dteFields() });
  const image = mem.readBytes(0, pages.used);
  const C = spec.CONTROL;
  const ctl = (n: keyof typeof C) => BigInt(C[n].mask) << BigInt(32 * C[n].half);
  const setup = run(s, frame([
    [Op.AddMemory, 0, 0, body(["u64", 0], ["u64", 8 << 20])],
    [Op.CreateIommu, 0, 0, body(["u32", 0], ["u32", 0], ["u64", 0])],
    [Op.MemoryWrite, 0, 0, new Uint8Array([...body(["u64", 0], ["u32", image.length], ["u32", 0]), ...image])],
    [Op.MmioWrite, 0, 0, body(["u32", spec.MMIO_DEVICE_TABLE_BASE], ["u32", 8], ["u64", dt.registerValue])],
    [Op.MmioWrite, 0, 0, body(["u32", spec.MMIO_EVENT_LOG_BASE], ["u32", 8], ["u64", BigInt(ev) | (8n << 56n)])],
    [Op.MmioWrite, 0, 0, body(["u32", spec.MMIO_GA_LOG_BASE], ["u32", 8], ["u64", BigInt(ga) | (8n << 56n)])],
    [Op.MmioWrite, 0, 0, body(["u32", spec.MMIO_CONTROL], ["u32", 8], ["u64", ctl("IommuEn") | ctl("EventLogEn") | ctl("GAEn") | ctl("XTEn") | (1n << 25n) | ctl("GALogEn") | ctl("GAIntEn")])],
    [Op.Subscribe, 0, 0, body(["u32", 1 << L.EVENT_BITS.indexOf("interrupt")], ["u32", 0])],
  ]));
  expect(setup.map((r) => r.b1)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  return s;
}

describe("binary channel: remap-interrupt (op 0x20)", () => {
  it("a remapped interrupt: flags, address, data, 32-bit destination, vector, delivery mode, codes, index, cycles", () => {
    const s = programmed();
    const [a] = run(s, frame([remap(0x18, 0xfee0_0000, 2)]));
    expect([a!.op, a!.b1, a!.len]).toEqual([Op.RemapInterrupt, L.Status.Ok, L.Len.RemapInterruptAnswer]);
    expect(a!.flags).toBe(L.IAFlag.Delivered | L.IAFlag.RequestEoi | L.IAFlag.DestinationLogical);
    const dv = a!.dv;
    expect([dv.getUint32(8, true), dv.getUint32(12, true), dv.getUint32(16, true), dv.getUint32(20, true)]).toEqual([(0xfee0_0000 | 0x0d << 12 | 8 | 4) >>> 0, 0x71, 0x0a0b_0c0d, 0x71]);
    expect([a!.bytes[24], a!.bytes[25], L.INTERRUPT_FAULTS[a!.bytes[26]!], L.INTERRUPT_PATHS[a!.bytes[27]!], dv.getInt32(28, true)]).toEqual([0, 0, null, "remapped", 2]);
    expect(Number(dv.getBigUint64(32, true))).toBeGreaterThan(0);
  });
  it("a guest-mode interrupt for a blocked vCPU: posted, GA-logged, and the GA-log interrupt notification (source 3) comes first", () => {
    const s = programmed();
    const recs = run(s, frame([remap(0x18, 0xfee0_0000, 3)]));
    expect(recs.map((r) => r.op)).toEqual([Op.NotifyInterrupt, Op.RemapInterrupt]);
    expect(L.INTERRUPT_SOURCES[recs[0]!.dv.getUint32(8, true)]).toBe("ga-log");
    expect(recs[1]!.flags).toBe(L.IAFlag.Delivered | L.IAFlag.Posted | L.IAFlag.GaLogged);
  });
  it("peek and timed flags; a fault gives its event and fault codes; bad input an error record naming the field", () => {
    const s = programmed();
    const [p, t, f, bad] = run(s, frame([
      remap(0x18, 0xfee0_0000, 2, L.IFlag.Peek), remap(0x18, 0xfee0_0000, 2, L.IFlag.Timed, 0, 7000), remap(0x18, 0xfee0_0000, 40),
      remap(0x18, 0xfee0_0000, 2, L.IFlag.Peek | L.IFlag.Timed),
    ]));
    expect(p!.flags & L.IAFlag.IrteCacheHit).toBe(0);
    expect(t!.flags & L.IAFlag.IrteCacheHit).toBe(0); // the peek filled nothing
    expect(Number(t!.dv.getBigUint64(40, true))).toBe(7000 + Number(t!.dv.getBigUint64(32, true)));
    expect([f!.flags & L.IAFlag.Delivered, f!.bytes[25], L.INTERRUPT_FAULTS[f!.bytes[26]!]]).toEqual([0, spec.EV_IO_PAGE_FAULT, "index-out-of-range"]);
    expect(bad!.b1).toBe(L.Status.Error);
    expect(new TextDecoder().decode(bad!.bytes.subarray(16, 16 + bad!.dv.getUint32(12, true)))).toMatch(/cycle/);
  });
});
