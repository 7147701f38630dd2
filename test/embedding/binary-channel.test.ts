/**
 * The binary co-simulation channel in-process (src/embedding/binary-channel/): frames built
 * byte by byte as a client writes them, run through BinarySession and the FrameReader, the
 * answers decoded at the README's offsets. Covers the answer layout of the translation ops,
 * notifications before the answer that caused them, bad input (frames, records, ops, sizes)
 * as error answers, resynchronisation after garbage, simulator-owned memory against the
 * stepped translation, and the clients' copies of the constants (the transports, which serve
 * with blocking reads, run in a child process: binary-transports.test.ts).
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BinarySession } from "../../src/embedding/binary-channel/binary-session.js";
import { FrameReader } from "../../src/embedding/binary-channel/binary-pipe.js";
import * as L from "../../src/embedding/binary-channel/frame-layout.js";
import { AmdIommu, PhysicalMemory, spec } from "../../src/index.js";
import { BumpAllocator, DeviceTableWriter, V1PageTable } from "../../src/builders/index.js";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const { Op, FrameKind } = L;

/** A request frame from records [op, iommu, flags, body bytes]. */
function frame(records: [number, number, number, Uint8Array | number[]][], kind: number = FrameKind.Request): Uint8Array {
  const parts = records.map(([op, idx, flags, body]) => {
    const b = body instanceof Uint8Array ? body : new Uint8Array(body);
    const len = 8 + ((b.length + 7) & ~7);
    const r = new Uint8Array(len);
    const dv = new DataView(r.buffer);
    r[0] = op; r[1] = idx; dv.setUint16(2, flags, true); dv.setUint32(4, len, true); r.set(b, 8);
    return r;
  });
  const total = 16 + parts.reduce((s, p) => s + p.length, 0);
  const f = new Uint8Array(total);
  const dv = new DataView(f.buffer);
  dv.setUint32(0, L.MAGIC, true); dv.setUint32(4, total, true); dv.setUint32(8, records.length, true); f[12] = kind; f[13] = L.VERSION;
  let o = 16;
  for (const p of parts) { f.set(p, o); o += p.length; }
  return f;
}
/** Little-endian body builder. */
function body(...fields: [("u32" | "u64"), number | bigint][]): Uint8Array {
  const n = fields.reduce((s, [t]) => s + (t === "u32" ? 4 : 8), 0);
  const b = new Uint8Array(n);
  const dv = new DataView(b.buffer);
  let o = 0;
  for (const [t, v] of fields) {
    if (t === "u32") { dv.setUint32(o, Number(v), true); o += 4; } else { dv.setBigUint64(o, BigInt(v), true); o += 8; }
  }
  return b;
}
interface Rec { op: number; b1: number; flags: number; len: number; dv: DataView; bytes: Uint8Array }
/** The records of an answer frame. */
function records(ans: Uint8Array): Rec[] {
  const dv = new DataView(ans.buffer, ans.byteOffset, ans.byteLength);
  expect(dv.getUint32(0, true)).toBe(L.MAGIC);
  expect(dv.getUint32(4, true)).toBe(ans.length);
  const count = dv.getUint32(8, true);
  const out: Rec[] = [];
  let o = 16;
  for (let i = 0; i < count; i++) {
    const len = dv.getUint32(o + 4, true);
    out.push({ op: ans[o]!, b1: ans[o + 1]!, flags: dv.getUint16(o + 2, true), len, dv: new DataView(ans.buffer, ans.byteOffset + o, len), bytes: ans.slice(o, o + len) });
    o += len;
  }
  expect(o).toBe(ans.length);
  return out;
}
const errText = (r: Rec) => new TextDecoder().decode(r.bytes.subarray(16, 16 + r.dv.getUint32(12, true)));
function runFrame(s: BinarySession, f: Uint8Array): Rec[] {
  const r = new FrameReader();
  r.push(f);
  const n = r.next(FrameKind.Request);
  if (!("at" in n)) throw new Error("frame not ready: " + JSON.stringify(n));
  return records(s.run(r.u8, r.u32, n.at).slice());
}
const translateRec = (op: number, dev: number, addr: number | bigint, flags = 0, pasid = 0, cycle = 0): [number, number, number, Uint8Array] =>
  [op, 0, flags, body(["u32", dev], ["u32", pasid], ["u64", addr], ["u64", cycle])];

/** A session with memory and IOMMU 0 programmed for device 0x10: page 0x100000 -> 0x300000. */
function programmed() {
  const s = new BinarySession();
  const mem = new PhysicalMemory({ bytes: 4 << 20 });
  const pages = new BumpAllocator(mem, 0x1000);
  const dt = new DeviceTableWriter(mem, pages.allocContiguous(8), 256);
  const cmd = pages.allocContiguous(1), ev = pages.allocContiguous(1);
  const v1 = new V1PageTable(mem, pages, 3);
  v1.map(0x10_0000, 0x30_0000);
  dt.set(0x10, { V: true, TV: true, Mode: 3, HostPageTableRootPtr: v1.root, IR: true, IW: true, DomainID: 5, HAD: 3 });
  const image = mem.readBytes(0, pages.used);
  const C = spec.CONTROL;
  const ctl = (n: keyof typeof C) => BigInt(C[n].mask) << BigInt(32 * C[n].half);
  const setup = runFrame(s, frame([
    [Op.AddMemory, 0, 0, body(["u64", 0], ["u64", 8 << 20])],
    [Op.CreateIommu, 0, 0, body(["u32", 0], ["u32", 0], ["u64", 0])],
    [Op.MemoryWrite, 0, 0, new Uint8Array([...body(["u64", 0], ["u32", image.length], ["u32", 0]), ...image])],
    [Op.MmioWrite, 0, 0, body(["u32", spec.MMIO_DEVICE_TABLE_BASE], ["u32", 8], ["u64", dt.registerValue])],
    [Op.MmioWrite, 0, 0, body(["u32", spec.MMIO_COMMAND_BUFFER_BASE], ["u32", 8], ["u64", BigInt(cmd) | (8n << 56n)])],
    [Op.MmioWrite, 0, 0, body(["u32", spec.MMIO_EVENT_LOG_BASE], ["u32", 8], ["u64", BigInt(ev) | (8n << 56n)])],
    [Op.MmioWrite, 0, 0, body(["u32", spec.MMIO_CONTROL], ["u32", 8], ["u64", ctl("IommuEn") | ctl("CmdBufEn") | ctl("EventLogEn")])],
  ]));
  expect(setup.map((r) => r.b1)).toEqual([0, 0, 0, 0, 0, 0, 0]);
  return { s, cmd, ev, leaf: v1.entryAddress(0x10_0000, 1) };
}

describe("binary channel: answers at the README's offsets", () => {
  it("translate answer: flags, fault, path, page shift, references, event, SPA, completion cycle, cycles", () => {
    const { s } = programmed();
    const [hit, miss, timed, late] = runFrame(s, frame([
      translateRec(Op.Translate, 0x10, 0x10_0abc, L.TFlag.Write),
      translateRec(Op.Translate, 0x10, 0x20_0000),
      translateRec(Op.TranslateTimed, 0x10, 0x10_0000, 0, 0, 5000),
      translateRec(Op.TranslateTimed, 0x10, 0x10_0000, 0, 0, 2 ** 33 + 7), // an issue cycle whose high word is not zero
    ]));
    expect(hit!.len).toBe(L.Len.TranslateAnswer);
    expect(hit!.b1).toBe(L.Status.Ok);
    expect(hit!.flags).toBe(L.AFlag.Allowed | L.AFlag.Readable | L.AFlag.Writable | L.AFlag.Executable | L.AFlag.User);
    expect(hit!.bytes[8]).toBe(0); // no fault
    expect(L.PATHS[hit!.bytes[9]!]).toBe("host");
    expect(hit!.bytes[10]).toBe(12);
    expect(hit!.bytes[11]).toBeGreaterThan(0); // memory references of the walk
    expect(hit!.dv.getBigUint64(16, true)).toBe(0x30_0abcn);
    expect(miss!.flags & L.AFlag.Allowed).toBe(0);
    expect(L.FAULTS[miss!.bytes[8]! - 1]).toBe("not-present");
    expect(miss!.dv.getUint16(12, true)).toBe(spec.EV_IO_PAGE_FAULT);
    expect(timed!.flags & L.AFlag.IotlbHit).toBe(L.AFlag.IotlbHit);
    expect(timed!.dv.getBigUint64(24, true)).toBe(5000n + BigInt(timed!.dv.getUint32(32, true)));
    expect(late!.dv.getBigUint64(24, true)).toBe(2n ** 33n + 7n + BigInt(late!.dv.getUint32(32, true)));
  });

  it("the same answers as the JSON channel's translate for the same requests (one shared implementation)", () => {
    const a = programmed(), b = programmed();
    const reqs = [[0x10, 0x10_0abc, 1], [0x10, 0x20_0000, 0], [0x11, 0x10_0000, 0], [0x10, 0x10_0008, 1]] as const;
    const bin = runFrame(a.s, frame(reqs.map(([d, x, w]) => translateRec(Op.Translate, d, x, w))));
    reqs.forEach(([d, x, w], i) => {
      const j = b.s.session.request({ op: "translate", iommu: "0", deviceId: d, address: x, write: w === 1 });
      const r = bin[i]!;
      expect((r.flags & L.AFlag.Allowed) !== 0).toBe(j.allowed);
      expect("0x" + r.dv.getBigUint64(16, true).toString(16)).toBe(j.spa);
      expect(r.bytes[8] === 0 ? null : L.FAULTS[r.bytes[8]! - 1]).toBe(j.fault);
      expect(L.PATHS[r.bytes[9]!]).toBe(j.path);
      expect(r.dv.getUint32(32, true)).toBe(j.cycles);
      expect(r.dv.getUint16(12, true)).toBe(j.event);
    });
  });

  it("notifications (MAP, UNMAP) come before the answer of the record that caused them", () => {
    const { s, cmd } = programmed();
    const mask = 1 << L.EVENT_BITS.indexOf("map") | 1 << L.EVENT_BITS.indexOf("unmap");
    const inval = spec.buildInvalidateIommuPages({ domainId: 5, address: 0x10_0000 });
    const rs = runFrame(s, frame([
      [Op.Subscribe, 0, 0, body(["u32", mask], ["u32", 0])],
      translateRec(Op.Translate, 0x10, 0x10_0000),
      [Op.MemoryWrite, 0, 0, new Uint8Array([...body(["u64", cmd], ["u32", 16], ["u32", 0]), ...new Uint8Array(inval.buffer)])],
      [Op.MmioWrite, 0, 0, body(["u32", spec.MMIO_COMMAND_BUFFER_TAIL], ["u32", 8], ["u64", 16])],
      [Op.Advance, 0, 0, body(["u64", 0])],
    ]));
    expect(rs.map((r) => r.op)).toEqual([Op.Subscribe, Op.NotifyMap, Op.Translate, Op.MemoryWrite, Op.MmioWrite, Op.NotifyUnmap, Op.Advance]);
    const map = rs[1]!, unmap = rs[5]!;
    expect(map.dv.getUint32(8, true)).toBe(0x10);
    expect(map.dv.getUint32(12, true)).toBe(5);
    expect(map.bytes[20]).toBe(12);
    expect(map.dv.getBigUint64(24, true)).toBe(0x10_0000n);
    expect(map.dv.getBigUint64(32, true)).toBe(0x30_0000n);
    expect(unmap.dv.getUint32(8, true)).toBe(5); // domain
    expect(unmap.flags & 8).toBe(8); // domain valid
    expect(L.UNMAP_COMMANDS[unmap.dv.getUint32(20, true)]).toBe("INVALIDATE_IOMMU_PAGES");
    expect(unmap.dv.getBigUint64(24, true)).toBe(0x10_0000n);
    expect(unmap.dv.getBigUint64(32, true)).toBe(0x1000n);
  });

  it("a 64-bit address above 2^53 and a PASID reach the model (BigInt only off the common path)", () => {
    const { s } = programmed();
    const [hi, pasid] = runFrame(s, frame([translateRec(Op.Peek, 0x10, 0xffff_8000_0000_0000n), translateRec(Op.Translate, 0x10, 0x10_0000, L.TFlag.Pasid, 7)]));
    expect(hi!.b1).toBe(L.Status.Ok);
    expect(L.FAULTS[hi!.bytes[8]! - 1]).toBe("address-out-of-range");
    expect(pasid!.b1).toBe(L.Status.Ok);
    expect(pasid!.flags & L.AFlag.Allowed).toBe(0); // a PASID on a DTE without guest translation
  });
});

describe("binary channel: bad input is an error answer, never a throw", () => {
  it("unknown op, short record, record past the frame, bad flags, device id and width name the field; later records still run", () => {
    const s = new BinarySession();
    const rs = runFrame(s, frame([
      [0x3f, 0, 0, []],
      [Op.MmioWrite, 0, 0, body(["u32", 0])],
      [Op.Hello, 0, 0, []],
      [Op.AddMemory, 0, 0, body(["u64", 3], ["u64", 4096])],
      [Op.MmioRead, 0, 0, body(["u32", 0], ["u32", 2], ["u64", 0])],
      [Op.MemoryRead, 0, 0, body(["u64", 0], ["u32", L.MAX_MEMORY_READ + 1], ["u32", 0])],
      [Op.Subscribe, 0, 0, body(["u32", 0x100], ["u32", 0])],
      translateRec(Op.Translate, 0, 0),
    ]));
    expect(rs.map((r) => [r.op, r.b1])).toEqual([[0x3f, 1], [Op.MmioWrite, 1], [Op.Hello, 0], [Op.AddMemory, 1], [Op.MmioRead, 1], [Op.MemoryRead, 1], [Op.Subscribe, 1], [Op.Translate, 1]]);
    expect(rs[0]!.dv.getUint32(8, true)).toBe(L.ErrorCode.UnknownOp);
    expect(errText(rs[0]!)).toMatch(/unknown op 0x3f/);
    expect(rs[1]!.dv.getUint32(8, true)).toBe(L.ErrorCode.BadRecord);
    expect(errText(rs[1]!)).toMatch(/record length 16, expected 24/);
    expect(rs[2]!.dv.getUint32(8, true)).toBe(L.VERSION);
    expect(errText(rs[3]!)).toMatch(/base must be a 4 KiB-aligned/);
    expect(errText(rs[4]!)).toMatch(/width must be 4 or 8/);
    expect(errText(rs[5]!)).toMatch(/bytes must be 0\.\.1048576/);
    expect(errText(rs[6]!)).toMatch(/mask 0x100/);
    expect(errText(rs[7]!)).toMatch(/"0" does not exist/);
    const t = translateRec(Op.Translate, 70000, 0, 0x10);
    const s2 = programmed().s;
    const [dev, fl] = runFrame(s2, frame([t, translateRec(Op.Translate, 0x10, 0, 0x10)]));
    expect(errText(dev!)).toMatch(/deviceId must be 0\.\.65535/);
    expect(errText(fl!)).toMatch(/flags 0x10/);
  });

  it("a record whose length runs past the frame stops the frame with one BadRecord answer", () => {
    const s = new BinarySession();
    const f = frame([[Op.Hello, 0, 0, []], [Op.Hello, 0, 0, []]]);
    new DataView(f.buffer).setUint32(16 + 8 + 4, 64, true); // second record claims 64 bytes
    const rs = runFrame(s, f);
    expect(rs.map((r) => [r.op, r.b1])).toEqual([[Op.Hello, 0], [Op.Hello, 1]]);
    expect(errText(rs[1]!)).toMatch(/inside the frame; 1 records not run/);
  });

  it("garbage before a frame: one BadFrame answer, then the reader finds the next magic and the frame runs", () => {
    const r = new FrameReader();
    r.push(new Uint8Array([1, 2, 3, 0x49, 0x4f, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]));
    r.push(frame([[Op.Hello, 0, 0, []]]));
    const first = r.next(FrameKind.Request);
    expect(first).toMatchObject({ error: expect.stringMatching(/bad magic/) });
    const second = r.next(FrameKind.Request);
    expect(second).toHaveProperty("at");
    const s = new BinarySession();
    const rs = records(s.run(r.u8, r.u32, (second as { at: number }).at).slice());
    expect(rs[0]!.op).toBe(Op.Hello);
    expect(r.next(FrameKind.Request)).toEqual({ need: 16 });
  });

  it("frame header checks: length beyond MAX_FRAME, not a multiple of 8, wrong kind, wrong version", () => {
    for (const [off, v, msg] of [[4, L.MAX_FRAME + 8, /frame length/], [4, 20, /frame length/], [12, 9 | (1 << 8), /frame kind 9/], [12, 1 | (7 << 8), /version 7/]] as const) {
      const f = frame([[Op.Hello, 0, 0, []]]);
      new DataView(f.buffer).setUint32(off, v, true);
      const r = new FrameReader();
      r.push(f);
      expect(r.next(FrameKind.Request)).toMatchObject({ error: expect.stringMatching(msg) });
    }
  });

  it("an answer frame is bounded: read-memory records past MAX_ANSWER get TooLarge answers", () => {
    const s = new BinarySession();
    runFrame(s, frame([[Op.AddMemory, 0, 0, body(["u64", 0], ["u64", L.MAX_MEMORY_READ])]]));
    const n = L.MAX_ANSWER / L.MAX_MEMORY_READ + 2;
    const rs = runFrame(s, frame(Array.from({ length: n }, () => [Op.MemoryRead, 0, 0, body(["u64", 0], ["u32", L.MAX_MEMORY_READ], ["u32", 0])] as [number, number, number, Uint8Array])));
    expect(rs).toHaveLength(n);
    const ok = rs.filter((r) => r.b1 === 0).length;
    expect(ok).toBeGreaterThan(0);
    expect(ok).toBeLessThan(n);
    expect(rs.at(-1)!.dv.getUint32(8, true)).toBe(L.ErrorCode.TooLarge);
  }, 60_000);
});

describe("binary channel: simulator-owned memory", () => {
  it("translations become the stepped translation's memory requests, answered by the client; the result equals the model-owned run", () => {
    // the client's memory: a PhysicalMemory it owns; a reference IOMMU runs on a copy of it
    const mem = new PhysicalMemory({ bytes: 4 << 20 });
    const pages = new BumpAllocator(mem, 0x1000);
    const dt = new DeviceTableWriter(mem, pages.allocContiguous(8), 256);
    const v1 = new V1PageTable(mem, pages, 3);
    v1.map(0x10_0000, 0x30_0000);
    dt.set(0x10, { V: true, TV: true, Mode: 3, HostPageTableRootPtr: v1.root, IR: true, IW: true, DomainID: 5, HAD: 3 });
    const ref = new PhysicalMemory({ bytes: 4 << 20 });
    ref.writeBytes(0, mem.readBytes(0, 4 << 20));
    const seen: string[] = [];
    const reply = new FrameReader();
    const s = new BinarySession({
      roundTrip: (f) => {
        const [q] = records(f.slice());
        const pa = Number(q!.dv.getBigUint64(8, true)), a = q!.dv.getUint32(16, true), b = q!.dv.getUint32(20, true);
        let ans: Uint8Array;
        if (q!.op === Op.MemRead) {
          seen.push(`read ${pa.toString(16)} ${a}`);
          ans = frame([[Op.MemRead, 0, 0, mem.readBytes(pa, a)]], FrameKind.MemoryAnswer);
        } else if (q!.op === Op.MemCas) {
          seen.push(`cas ${pa.toString(16)}`);
          ans = frame([[Op.MemCas, 0, 0, body(["u32", mem.cas32(pa, a, b)], ["u32", 0])]], FrameKind.MemoryAnswer);
        } else {
          seen.push(`write ${pa.toString(16)}`);
          mem.store32(pa, a);
          ans = frame([[Op.MemWrite, 0, 0, []]], FrameKind.MemoryAnswer);
        }
        reply.pos = 0; reply.end = 0;
        reply.push(ans);
        const n = reply.next(FrameKind.MemoryAnswer) as { at: number };
        return { u8: reply.u8, u32: reply.u32, at: n.at };
      },
    });
    const refIo = new AmdIommu({ memory: ref });
    const rs = runFrame(s, frame([
      [Op.CreateIommu, 0, 1, body(["u32", 0], ["u32", 0], ["u64", 4 << 20])],
      [Op.MmioWrite, 0, 0, body(["u32", spec.MMIO_DEVICE_TABLE_BASE], ["u32", 8], ["u64", dt.registerValue])],
      [Op.MmioWrite, 0, 0, body(["u32", spec.MMIO_CONTROL], ["u32", 8], ["u64", 1])],
      translateRec(Op.Translate, 0x10, 0x10_0abc, L.TFlag.Write),
      translateRec(Op.Translate, 0x10, 0x10_0abc, L.TFlag.Write),
      translateRec(Op.TranslateTimed, 0x10, 0x10_0abc),
    ]));
    refIo.mmioWrite64(spec.MMIO_DEVICE_TABLE_BASE, dt.registerValue);
    refIo.mmioWrite64(spec.MMIO_CONTROL, 1n);
    const want = refIo.translate({ deviceId: 0x10, address: 0x10_0abc, write: true });
    const st = refIo.translateStepped({ deviceId: 0x10, address: 0x10_0abc, write: true }); // second: an IOTLB hit, no requests
    expect(st.next()).toBeNull();
    expect(rs.map((r) => r.b1)).toEqual([0, 0, 0, 0, 0, 1]);
    expect(rs[3]!.dv.getBigUint64(16, true)).toBe(BigInt(want.spa));
    expect(rs[3]!.dv.getUint32(32, true)).toBe(want.cycles);
    expect(seen[0]).toMatch(/^read [0-9a-f]+ 32$/); // the DTE, whole
    expect(seen.filter((x) => x.startsWith("read")).slice(1).every((x) => x.endsWith(" 8"))).toBe(true);
    expect(seen.at(-1)).toMatch(/^cas /); // A/D of the leaf
    expect(seen).toHaveLength(5); // and nothing for the IOTLB hit
    expect(Buffer.from(mem.readBytes(0, 4 << 20)).equals(Buffer.from(ref.readBytes(0, 4 << 20)))).toBe(true); // the same A/D bits in the client's memory
    expect(errText(rs[5]!)).toMatch(/functional only/);
  });

  it("a wrong memory answer (op, status, length, count) fails that translation with an error naming it; the session goes on", () => {
    const bad: ((f: Uint8Array) => Uint8Array)[] = [
      () => frame([[Op.MemCas, 0, 0, body(["u32", 0], ["u32", 0])]], FrameKind.MemoryAnswer), // wrong op
      () => { const f = frame([[Op.MemRead, 0, 0, new Uint8Array(32)]], FrameKind.MemoryAnswer); f[17] = 1; return f; }, // error status
      () => frame([[Op.MemRead, 0, 0, new Uint8Array(8)]], FrameKind.MemoryAnswer), // 8 bytes for a 32-byte DTE read
      () => frame([[Op.MemRead, 0, 0, new Uint8Array(32)], [Op.MemRead, 0, 0, new Uint8Array(32)]], FrameKind.MemoryAnswer), // two records
    ];
    let which = 0;
    const reply = new FrameReader();
    const s = new BinarySession({
      roundTrip: (f) => {
        reply.pos = 0; reply.end = 0;
        reply.push(bad[which]!(f));
        const n = reply.next(FrameKind.MemoryAnswer) as { at: number };
        return { u8: reply.u8, u32: reply.u32, at: n.at };
      },
    });
    runFrame(s, frame([
      [Op.CreateIommu, 0, 1, body(["u32", 0], ["u32", 0], ["u64", 1 << 20])],
      [Op.MmioWrite, 0, 0, body(["u32", spec.MMIO_DEVICE_TABLE_BASE], ["u32", 8], ["u64", 0x1000n])],
      [Op.MmioWrite, 0, 0, body(["u32", spec.MMIO_CONTROL], ["u32", 8], ["u64", 1])],
    ]));
    const texts: string[] = [];
    for (which = 0; which < bad.length; which++) {
      const [r, hello] = runFrame(s, frame([translateRec(Op.Translate, 0x10, 0x1000), [Op.Hello, 0, 0, []]]));
      expect(r!.b1).toBe(L.Status.Error);
      texts.push(errText(r!));
      expect(hello!.b1).toBe(L.Status.Ok);
    }
    expect(texts[0]).toMatch(/memory answer to read at 0x1200: record op 0xc2, expected 0xc1/);
    expect(texts[1]).toMatch(/answered with an error/);
    expect(texts[2]).toMatch(/record length 16, expected 40/);
    expect(texts[3]).toMatch(/exactly one record/);
  });

  it("without a blocking transport (a session with no memory round trip), simulator-owned memory is refused with a reason", () => {
    const s = new BinarySession();
    const [r] = runFrame(s, frame([[Op.CreateIommu, 0, 1, body(["u32", 0], ["u32", 0], ["u64", 4096])]]));
    expect(errText(r!)).toMatch(/needs a blocking transport/);
  });
});

describe("the clients' copies of the layout", () => {
  const ops: [string, number][] = [
    ["HELLO", Op.Hello], ["ADD_MEMORY", Op.AddMemory], ["CREATE_IOMMU", Op.CreateIommu], ["MMIO_READ", Op.MmioRead], ["MMIO_WRITE", Op.MmioWrite],
    ["MEMORY_READ", Op.MemoryRead], ["MEMORY_WRITE", Op.MemoryWrite], ["TRANSLATE", Op.Translate], ["TRANSLATE_ATS", Op.TranslateAts], ["PEEK", Op.Peek],
    ["TRANSLATE_TIMED", Op.TranslateTimed], ["PAGE_REQUEST", Op.PageRequest], ["ADVANCE", Op.Advance], ["SUBSCRIBE", Op.Subscribe],
    ["ATTACH_ENDPOINT", Op.AttachEndpoint], ["QUIT", Op.Quit], ["JSON", Op.Json], ["NOTIFY_UNMAP", Op.NotifyUnmap],
    ["NOTIFY_DEVICE_TLB_UNMAP", Op.NotifyDeviceTlbUnmap], ["NOTIFY_MAP", Op.NotifyMap], ["NOTIFY_INTERRUPT", Op.NotifyInterrupt],
    ["NOTIFY_PRG_RESPONSE", Op.NotifyPrgResponse], ["MEM_READ", Op.MemRead], ["MEM_CAS", Op.MemCas], ["MEM_WRITE", Op.MemWrite],
    ["REMAP_INTERRUPT", Op.RemapInterrupt],
  ];
  it("C header and Python module: magic, version, every opcode, the MMIO offsets, fault and path names", () => {
    const h = readFileSync(join(REPO, "clients/c/amd_iommu_client.h"), "utf8");
    const py = readFileSync(join(REPO, "clients/python/amd_iommu_client.py"), "utf8");
    const cdef = (n: string) => { const m = new RegExp(`#define AIC_${n} (0x[0-9a-f]+|\\d+)u?\\b`).exec(h); return m ? Number(m[1]) : NaN; };
    const pydef = (n: string) => { const m = new RegExp(`^${n} = (0x[0-9A-Fa-f]+|\\d+)`, "m").exec(py); return m ? Number(m[1]) : NaN; };
    expect(cdef("MAGIC")).toBe(L.MAGIC);
    expect(pydef("MAGIC")).toBe(L.MAGIC);
    expect(cdef("VERSION")).toBe(L.VERSION);
    for (const [n, v] of ops) { expect(cdef("OP_" + n), n).toBe(v); expect(pydef("OP_" + n), n).toBe(v); }
    for (const r of ["DEVICE_TABLE_BASE", "COMMAND_BUFFER_BASE", "EVENT_LOG_BASE", "CONTROL", "COMMAND_BUFFER_TAIL", "EVENT_LOG_HEAD", "EVENT_LOG_TAIL"]) {
      const want = (spec as unknown as Record<string, number>)["MMIO_" + r];
      expect(cdef("MMIO_" + r), r).toBe(want);
      expect(pydef("MMIO_" + r), r).toBe(want);
    }
    const pyList = (name: string) => JSON.parse("[" + new RegExp(`^${name} = \\(([^)]*)\\)`, "ms").exec(py)![1]!.replace(/None/g, "null").replace(/,\s*$/, "") + "]");
    expect(pyList("FAULTS")).toEqual([null, ...L.FAULTS]);
    expect(pyList("PATHS")).toEqual([...L.PATHS]);
    expect(pyList("PPR_OUTCOMES")).toEqual([...L.PPR_OUTCOMES]);
    expect(pyList("INTERRUPT_FAULTS")).toEqual([...L.INTERRUPT_FAULTS]);
    expect(pyList("INTERRUPT_PATHS")).toEqual([...L.INTERRUPT_PATHS]);
  });
  it("C header and Python module: remap-interrupt request and answer flags", () => {
    const h = readFileSync(join(REPO, "clients/c/amd_iommu_client.h"), "utf8");
    const py = readFileSync(join(REPO, "clients/python/amd_iommu_client.py"), "utf8");
    const cdef = (n: string) => { const m = new RegExp(`#define AIC_${n} (0x[0-9a-f]+|\\d+)u?\\b`).exec(h); return m ? Number(m[1]) : NaN; };
    const pyTuple = (names: string[]) => {
      const m = new RegExp(`^${names.join(", ")} = ([\\d, ]+)$`, "m").exec(py);
      return m ? m[1]!.split(",").map((x) => Number(x.trim())) : [];
    };
    const req: [string, number][] = [["PEEK", L.IFlag.Peek], ["TIMED", L.IFlag.Timed], ["PASID", L.IFlag.Pasid]];
    const ans: [string, number][] = [["DELIVERED", L.IAFlag.Delivered], ["POSTED", L.IAFlag.Posted], ["DOORBELL", L.IAFlag.Doorbell], ["GA_LOGGED", L.IAFlag.GaLogged],
      ["IRTE_CACHE_HIT", L.IAFlag.IrteCacheHit], ["REQUEST_EOI", L.IAFlag.RequestEoi], ["DESTINATION_LOGICAL", L.IAFlag.DestinationLogical]];
    for (const [n, v] of req) expect(cdef("I_" + n), n).toBe(v);
    for (const [n, v] of ans) expect(cdef("IA_" + n), n).toBe(v);
    expect(pyTuple(req.map(([n]) => "I_" + n))).toEqual(req.map(([, v]) => v));
    expect(pyTuple(ans.map(([n]) => "IA_" + n))).toEqual(ans.map(([, v]) => v));
  });
});
