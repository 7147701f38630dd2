/**
 * The binary co-simulation channel: runs request frames (frame-layout.ts) against a
 * CosimSession and writes answer frames. The ops are the JSON protocol's (cosim-session.ts):
 * setup, MMIO, memory, advance, subscribe, attach-endpoint, page-request and the JSON escape
 * op go through CosimSession.request with the same arguments, so both channels share one
 * implementation; the translation ops (translate, ATS, peek, timed) call the IOMMU directly
 * into one reused request and result (translateInto: no allocation per translation).
 * Notifications the session writes become notification records placed before the answer of
 * the record that caused them.
 *
 * Bad input is data: a wrong frame or record gets an error answer naming the field; sizes
 * are bounded (MAX_FRAME, MAX_ANSWER, MAX_MEMORY_READ); nothing the client sends throws.
 */
import type { AmdIommu } from "../../iommu/amd-iommu.js";
import { TranslationResult, type TranslationRequest } from "../../iommu/translation/request.js";
import { CosimSession } from "../cosim-session.js";
import { SimulatorMemory, type MemoryRoundTrip } from "./simulator-memory.js";
import {
  AFlag, ErrorCode, EVENT_BITS, FAULTS, FRAME_HEADER, FrameKind, IAFlag, IFlag, INTERRUPT_FAULTS, INTERRUPT_PATHS, INTERRUPT_SOURCES, Len, MAGIC, MAX_ANSWER, MAX_ERROR_TEXT,
  MAX_FRAME, MAX_MEMORY_READ, Op, PATHS, PPR_OUTCOMES, RECORD_HEADER, REQUEST_OPS, Status, TFlag, UNMAP_COMMANDS, VERSION,
} from "./frame-layout.js";

type Msg = Record<string, unknown>;
const TWO32 = 4294967296;
const FAULT_CODE: Record<string, number> = Object.fromEntries(FAULTS.map((f, i) => [f, i + 1]));
const PATH_CODE: Record<string, number> = Object.fromEntries(PATHS.map((p, i) => [p, i]));
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A failure to answer as an error record: code and text. */
class RecordError extends Error {
  constructor(readonly code: ErrorCode, message: string) { super(message); }
}

/** A growable little-endian output frame. */
export class FrameWriter {
  buf = new ArrayBuffer(1 << 16);
  u8 = new Uint8Array(this.buf);
  u16 = new Uint16Array(this.buf);
  u32 = new Uint32Array(this.buf);
  len = 0;
  count = 0;

  begin(kind: FrameKind): void {
    this.len = FRAME_HEADER; this.count = 0;
    this.u32[0] = MAGIC; this.u32[2] = 0; this.u32[3] = kind | (VERSION << 8);
  }
  finish(): Uint8Array {
    this.u32[1] = this.len; this.u32[2] = this.count;
    return this.u8.subarray(0, this.len);
  }
  /** Room for a record of `bytes` that the caller fills completely (every byte); returns its byte offset. */
  reserve(bytes: number): number {
    const o = this.len;
    if (o + bytes > this.buf.byteLength) this.grow(o + bytes);
    this.len = o + bytes; this.count++;
    return o;
  }
  /** Start a record of `bytes` (a multiple of 8), zeroed; returns its byte offset. */
  record(op: number, byte1: number, flags: number, bytes: number): number {
    const o = this.len;
    if (o + bytes > this.buf.byteLength) this.grow(o + bytes);
    const u32 = this.u32;
    for (let i = o >>> 2, e = (o + bytes) >>> 2; i < e; i++) u32[i] = 0;
    this.u8[o] = op; this.u8[o + 1] = byte1; this.u16[(o + 2) >>> 1] = flags; u32[(o + 4) >>> 2] = bytes;
    this.len = o + bytes; this.count++;
    return o;
  }
  setU64(o: number, v: number): void { const lo = v >>> 0; this.u32[o >>> 2] = lo; this.u32[(o >>> 2) + 1] = (v - lo) / TWO32; }
  setBig(o: number, v: bigint): void { this.u32[o >>> 2] = Number(v & 0xffff_ffffn); this.u32[(o >>> 2) + 1] = Number((v >> 32n) & 0xffff_ffffn); }
  private grow(need: number): void {
    let n = this.buf.byteLength;
    while (n < need) n *= 2;
    const b = new ArrayBuffer(n);
    new Uint8Array(b).set(this.u8.subarray(0, this.len));
    this.buf = b; this.u8 = new Uint8Array(b); this.u16 = new Uint16Array(b); this.u32 = new Uint32Array(b);
  }
}

/** A 64-bit value from a JSON answer ("0x..." string or number) as a bigint. */
function big(v: unknown): bigint {
  if (typeof v === "bigint") return v;
  if (typeof v === "number") return BigInt(v);
  if (typeof v === "string") return BigInt(v);
  return 0n;
}

export interface BinarySessionOptions {
  /**
   * Simulator-owned memory: sends one memory-request frame and returns the client's
   * memory-answer frame (the transports block on it). Without it, IOMMUs created with
   * the simulator-memory flag are refused.
   */
  roundTrip?: MemoryRoundTrip;
}

export class BinarySession {
  /** The JSON session whose ops the binary channel shares. */
  readonly session: CosimSession;
  /** Set by the quit op. */
  done = false;
  private readonly w = new FrameWriter();
  private readonly ios: (AmdIommu | undefined)[] = [];
  private readonly stepped: boolean[] = [];
  private readonly req: TranslationRequest = { deviceId: 0, address: 0 };
  private readonly res = new TranslationResult();
  private readonly simMemory: SimulatorMemory | null;
  /** The last translation path and its code (a string-keyed look-up per answer costs more than the translation). */
  private lastPath: string = "none";
  private lastPathCode = 0;

  constructor(options: BinarySessionOptions = {}) {
    if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error("the binary channel needs a little-endian host (it writes frames through 32-bit views)");
    // with request() the session writes only notifications (answers are returned)
    this.session = new CosimSession((line) => this.notification(JSON.parse(line) as Msg));
    this.simMemory = options.roundTrip === undefined ? null : new SimulatorMemory(options.roundTrip);
  }

  /**
   * Run one request frame: `u8`/`u32` view the input, the frame starts at byte `at` (a
   * multiple of 4) and its header has been checked by the caller (checkHeader). Returns the
   * answer frame (valid until the next call).
   */
  run(u8: Uint8Array, u32: Uint32Array, at: number): Uint8Array {
    const w = this.w;
    w.begin(FrameKind.Answer);
    const len = u32[(at + 4) >>> 2]!;
    const count = u32[(at + 8) >>> 2]!;
    const end = at + len;
    let o = at + FRAME_HEADER;
    for (let i = 0; i < count; i++) {
      if (o + RECORD_HEADER > end) { this.error(0, ErrorCode.BadRecord, `record ${i}: the frame ends (length ${len}) before its header; ${count - i} records not run`); break; }
      const op = u8[o]!;
      const rlen = u32[(o + 4) >>> 2]!;
      if (rlen < RECORD_HEADER || (rlen & 7) !== 0 || o + rlen > end) {
        this.error(op, ErrorCode.BadRecord, `record ${i} (op 0x${op.toString(16)}): length ${rlen} must be a multiple of 8, >= 8 and inside the frame; ${count - i} records not run`);
        break;
      }
      try {
        // an answer record is written last, after the op succeeded
        if (op >= Op.Translate && op <= Op.TranslateTimed && rlen === Len.Translate) this.translate(op, u8[o + 1]!, u8[o + 2]! | (u8[o + 3]! << 8), u32, o >>> 2);
        else this.record(op, u8, u32, o, rlen);
      } catch (e) {
        // notifications the op caused before it failed stay (they happened); then the error answer
        this.error(op, e instanceof RecordError ? e.code : ErrorCode.Refused, e instanceof Error ? e.message : String(e));
      }
      o += rlen;
      if (this.done) break;
    }
    return w.finish();
  }

  /** An error answer for `op`: u32 code, u32 text length, text (at most MAX_ERROR_TEXT bytes). */
  private error(op: number, code: ErrorCode, text: string): void {
    let t = encoder.encode(text);
    if (t.length > MAX_ERROR_TEXT) t = t.subarray(0, MAX_ERROR_TEXT);
    const w = this.w;
    const o = w.record(op, Status.Error, 0, RECORD_HEADER + 8 + ((t.length + 7) & ~7));
    w.u32[(o + 8) >>> 2] = code; w.u32[(o + 12) >>> 2] = t.length;
    w.u8.set(t, o + 16);
  }

  /** The IOMMU at `index` (named by its decimal index in the JSON protocol). */
  private io(index: number): AmdIommu {
    const io = this.ios[index];
    if (io !== undefined) return io;
    const found = this.session.entry(String(index)).io;
    this.ios[index] = found;
    return found;
  }

  private call(m: Msg): Msg {
    const a = this.session.request(m);
    if (a.ok !== true) throw new RecordError(ErrorCode.Refused, String(a.error));
    return a;
  }

  private record(op: number, u8: Uint8Array, u32: Uint32Array, o: number, rlen: number): void {
    const idx = u8[o + 1]!;
    const flags = u8[o + 2]! | (u8[o + 3]! << 8);
    const w = this.w;
    const need = (bytes: number, what: string) => { if (rlen < bytes) throw new RecordError(ErrorCode.BadRecord, `${what}: record length ${rlen}, expected ${bytes}`); };
    const q = o >>> 2; // word index of the record
    switch (op) {
      case Op.Translate: case Op.TranslateAts: case Op.Peek: case Op.TranslateTimed:
        need(Len.Translate, REQUEST_OPS.get(op)!);
        this.translate(op, idx, flags, u32, q);
        return;
      case Op.Hello: {
        const a = w.record(op, Status.Ok, 0, Len.HelloAnswer);
        w.u32[(a + 8) >>> 2] = VERSION; w.u32[(a + 12) >>> 2] = MAX_FRAME; w.u32[(a + 16) >>> 2] = MAX_ANSWER;
        return;
      }
      case Op.AddMemory:
        need(Len.AddMemory, "add-memory");
        this.call({ op: "add-memory", base: u64(u32, q + 2), bytes: u64(u32, q + 4) });
        w.record(op, Status.Ok, 0, RECORD_HEADER);
        return;
      case Op.CreateIommu: {
        need(24, "create-iommu");
        const segment = u32[q + 2]!, jsonBytes = u32[q + 3]!, memBytes = u64(u32, q + 4);
        if (24 + jsonBytes > rlen) throw new RecordError(ErrorCode.BadRecord, `create-iommu: options length ${jsonBytes} passes the record (length ${rlen})`);
        let options: unknown = {};
        if (jsonBytes > 0) {
          try { options = JSON.parse(decoder.decode(u8.subarray(o + 24, o + 24 + jsonBytes))); } catch { throw new RecordError(ErrorCode.Refused, "create-iommu: options must be a JSON object"); }
        }
        const m: Msg = { op: "create-iommu", iommu: String(idx), segment, options };
        if ((flags & 1) !== 0) {
          if (this.simMemory === null) throw new RecordError(ErrorCode.Refused, "create-iommu: simulator-owned memory needs a blocking transport (serve --binary over stdin/stdout or --socket PATH)");
          this.session.nextMemory = this.simMemory.port(idx, memBytes);
        }
        try { this.call(m); } finally { this.session.nextMemory = null; }
        this.ios[idx] = undefined;
        this.stepped[idx] = (flags & 1) !== 0;
        w.record(op, Status.Ok, 0, RECORD_HEADER);
        return;
      }
      case Op.MmioRead: case Op.MmioWrite: {
        need(Len.Mmio, REQUEST_OPS.get(op)!);
        const width = u32[q + 3]!;
        if (width !== 4 && width !== 8) throw new RecordError(ErrorCode.Refused, `${REQUEST_OPS.get(op)}: width must be 4 or 8 bytes, got ${width}`);
        const m: Msg = { op: REQUEST_OPS.get(op), iommu: String(idx), offset: u32[q + 2]!, width: width * 8 };
        if (op === Op.MmioWrite) m.value = "0x" + ((BigInt(u32[q + 5]!) << 32n) | BigInt(u32[q + 4]!)).toString(16);
        const a = this.call(m);
        if (op === Op.MmioWrite) { w.record(op, Status.Ok, 0, RECORD_HEADER); return; }
        const r = w.record(op, Status.Ok, 0, Len.MmioAnswer);
        w.setBig(r + 8, big(a.value));
        return;
      }
      case Op.MemoryRead: {
        need(24, "read-memory");
        const bytes = u32[q + 4]!;
        if (bytes > MAX_MEMORY_READ) throw new RecordError(ErrorCode.Refused, `read-memory: bytes must be 0..${MAX_MEMORY_READ}, got ${bytes}`);
        const size = 16 + ((bytes + 7) & ~7);
        if (w.len + size > MAX_ANSWER) throw new RecordError(ErrorCode.TooLarge, `read-memory: the answer frame would pass ${MAX_ANSWER} bytes; read in several frames`);
        const data = this.session.memory.readBytes(Number(u64(u32, q + 2)), bytes);
        const r = w.record(op, Status.Ok, 0, size);
        w.u32[(r + 8) >>> 2] = bytes;
        w.u8.set(data, r + 16);
        return;
      }
      case Op.MemoryWrite: {
        need(24, "write-memory");
        const bytes = u32[q + 4]!;
        if (24 + bytes > rlen) throw new RecordError(ErrorCode.BadRecord, `write-memory: ${bytes} bytes of data pass the record (length ${rlen})`);
        this.session.memory.writeBytes(Number(u64(u32, q + 2)), u8.subarray(o + 24, o + 24 + bytes));
        w.record(op, Status.Ok, 0, RECORD_HEADER);
        return;
      }
      case Op.PageRequest: {
        need(Len.PageRequest, "page-request");
        const m: Msg = {
          op: "page-request", iommu: String(idx), deviceId: u32[q + 2]!, prgIndex: u32[q + 4]!, address: u64s(u32, q + 6),
          read: (flags & 1) !== 0, write: (flags & 2) !== 0, execute: (flags & 4) !== 0, privileged: (flags & 8) !== 0, last: (flags & 32) !== 0,
        };
        if ((flags & 16) !== 0) m.pasid = u32[q + 3]!;
        const a = this.call(m);
        const r = w.record(op, Status.Ok, 0, Len.PageRequestAnswer);
        w.u32[(r + 8) >>> 2] = PPR_OUTCOMES.indexOf(a.outcome as (typeof PPR_OUTCOMES)[number]);
        return;
      }
      case Op.RemapInterrupt: {
        // request: +8 u32 DeviceID, +12 u32 data, +16 u64 address, +24 u32 PASID (flag Pasid), +32 u64 cycle (flag Timed)
        need(Len.RemapInterrupt, "remap-interrupt");
        const m: Msg = { op: "remap-interrupt", iommu: String(idx), deviceId: u32[q + 2]!, data: u32[q + 3]!, address: u64s(u32, q + 4) };
        if ((flags & IFlag.Pasid) !== 0) m.pasid = u32[q + 6]!;
        if ((flags & IFlag.Peek) !== 0) m.kind = "peek";
        if ((flags & IFlag.Timed) !== 0) m.cycle = u64(u32, q + 8);
        const a = this.call(m);
        // answer: flags IAFlag; +8 u32 address, +12 u32 data, +16 u32 destination, +20 u32 vector, +24 u8 delivery mode,
        // +25 u8 event code, +26 u8 fault code, +27 u8 path code, +28 i32 index, +32 u64 cycles, +40 u64 completion cycle
        const af = (a.delivered ? IAFlag.Delivered : 0) | (a.posted ? IAFlag.Posted : 0) | (a.doorbell ? IAFlag.Doorbell : 0) |
          (a.gaLogged ? IAFlag.GaLogged : 0) | (a.irteCacheHit ? IAFlag.IrteCacheHit : 0) | (a.requestEoi ? IAFlag.RequestEoi : 0) |
          (a.destinationMode === 1 ? IAFlag.DestinationLogical : 0);
        const r = w.record(op, Status.Ok, af, Len.RemapInterruptAnswer);
        w.u32[(r + 8) >>> 2] = Number(big(a.address)); w.u32[(r + 12) >>> 2] = a.data as number;
        w.u32[(r + 16) >>> 2] = a.destination as number; w.u32[(r + 20) >>> 2] = a.vector as number;
        w.u8[r + 24] = a.deliveryMode as number; w.u8[r + 25] = a.event as number;
        w.u8[r + 26] = INTERRUPT_FAULTS.indexOf(a.fault as (typeof INTERRUPT_FAULTS)[number]);
        w.u8[r + 27] = INTERRUPT_PATHS.indexOf(a.path as (typeof INTERRUPT_PATHS)[number]);
        w.u32[(r + 28) >>> 2] = (a.index as number) >>> 0;
        w.setU64(r + 32, a.cycles as number); w.setU64(r + 40, a.completionCycle as number);
        return;
      }
      case Op.Advance: {
        need(Len.Advance, "advance");
        const m: Msg = { op: "advance" };
        if (idx !== 0xff) m.iommu = String(idx);
        if ((flags & 1) !== 0) m.cycle = u64(u32, q + 2);
        const a = this.call(m);
        const r = w.record(op, Status.Ok, 0, Len.AdvanceAnswer);
        w.setU64(r + 8, a.cycle as number);
        return;
      }
      case Op.Subscribe: {
        need(Len.Subscribe, "subscribe");
        const mask = u32[q + 2]!;
        if (mask >>> EVENT_BITS.length !== 0) throw new RecordError(ErrorCode.Refused, `subscribe: mask 0x${mask.toString(16)} has bits above ${EVENT_BITS.length - 1} (events: ${EVENT_BITS.join(", ")})`);
        this.call({ op: "unsubscribe", iommu: String(idx), events: EVENT_BITS.filter((_, i) => (mask & (1 << i)) === 0) });
        this.call({ op: "subscribe", iommu: String(idx), events: EVENT_BITS.filter((_, i) => (mask & (1 << i)) !== 0) });
        const r = w.record(op, Status.Ok, 0, Len.Subscribe);
        w.u32[(r + 8) >>> 2] = mask;
        return;
      }
      case Op.AttachEndpoint: {
        need(Len.AttachEndpoint, "attach-endpoint");
        const lat = u32[q + 3]!;
        this.call({ op: "attach-endpoint", iommu: String(idx), deviceId: u32[q + 2]!, atsLatency: lat === 0xffff_ffff ? null : lat });
        w.record(op, Status.Ok, 0, RECORD_HEADER);
        return;
      }
      case Op.Quit:
        this.call({ op: "quit" });
        this.done = true;
        w.record(op, Status.Ok, 0, RECORD_HEADER);
        return;
      case Op.Json: {
        need(16, "json");
        const bytes = u32[q + 2]!;
        if (16 + bytes > rlen) throw new RecordError(ErrorCode.BadRecord, `json: ${bytes} bytes of text pass the record (length ${rlen})`);
        let m: unknown;
        try { m = JSON.parse(decoder.decode(u8.subarray(o + 16, o + 16 + bytes))); } catch { throw new RecordError(ErrorCode.Refused, "json: the text is not a JSON object"); }
        if (m === null || typeof m !== "object" || Array.isArray(m)) throw new RecordError(ErrorCode.Refused, "json: the text must be a JSON object with \"op\"");
        const a = this.session.request(m as Msg);
        if ((m as Msg).op === "quit" && a.ok === true) this.done = true;
        if ((m as Msg).op === "create-iommu" || (m as Msg).op === "restore") this.ios.length = 0;
        const t = encoder.encode(JSON.stringify(a));
        const size = 16 + ((t.length + 7) & ~7);
        if (w.len + size > MAX_ANSWER) throw new RecordError(ErrorCode.TooLarge, `json: the answer (${t.length} bytes) would pass ${MAX_ANSWER} bytes`);
        const r = w.record(op, Status.Ok, 0, size); // the JSON answer says ok or not
        w.u32[(r + 8) >>> 2] = t.length;
        w.u8.set(t, r + 16);
        return;
      }
      default:
        throw new RecordError(ErrorCode.UnknownOp, `unknown op 0x${op.toString(16)} (known: ${[...REQUEST_OPS].map(([c, n]) => `0x${c.toString(16)} ${n}`).join(", ")})`);
    }
  }

  /** translate / translate-ats / peek / translate-timed: 32-byte record in, 40-byte answer out. */
  private translate(op: number, idx: number, flags: number, u32: Uint32Array, q: number): void {
    const io = this.io(idx);
    const req = this.req;
    const deviceId = u32[q + 2]!;
    if (deviceId > 0xffff) throw new RecordError(ErrorCode.Refused, `translate: deviceId must be 0..65535, got ${deviceId}`);
    req.deviceId = deviceId;
    req.pasid = (flags & TFlag.Pasid) !== 0 ? u32[q + 3]! : undefined;
    const lo = u32[q + 4]!, hi = u32[q + 5]!;
    req.address = hi < 0x20_0000 ? hi * TWO32 + lo : (BigInt(hi) << 32n) | BigInt(lo);
    req.write = (flags & TFlag.Write) !== 0;
    req.execute = (flags & TFlag.Execute) !== 0;
    req.privileged = (flags & TFlag.Privileged) !== 0;
    if ((flags & ~15) !== 0) throw new RecordError(ErrorCode.Refused, `translate: flags 0x${flags.toString(16)} has bits above 3 (write, execute, privileged, pasid)`);
    let r = this.res;
    if (this.stepped[idx] === true) {
      if (op === Op.TranslateTimed) throw new RecordError(ErrorCode.Refused, "translate-timed: an IOMMU on simulator-owned memory is functional only (the simulator charges its own memory latency)");
      r = this.simMemory!.translate(io, idx, req, op === Op.TranslateAts ? "ats" : op === Op.Peek ? "peek" : "untranslated");
    } else if (op === Op.Translate) io.translateInto(req, r);
    else if (op === Op.TranslateAts) io.translateAts(req, r);
    else if (op === Op.Peek) io.peek(req, r);
    else {
      const clo = u32[q + 6]!, chi = u32[q + 7]!;
      if (chi >= 0x20_0000) throw new RecordError(ErrorCode.Refused, `translate-timed: cycle must be below 2^53`);
      io.timedIssue[0] = chi * TWO32 + clo; // (the issue cycle through the IOMMU's typed array: no heap number above 2^31)
      io.translateTimedAt(req, r);
    }
    // the 40-byte answer, written word by word (host little-endian, checked at start-up)
    const w = this.w;
    const q4 = w.reserve(Len.TranslateAnswer) >>> 2, o32 = w.u32;
    const flagsOut = (r.ok ? AFlag.Allowed : 0) | (r.readable ? AFlag.Readable : 0) | (r.writable ? AFlag.Writable : 0) |
      (r.executable ? AFlag.Executable : 0) | (r.user ? AFlag.User : 0) | (r.iotlbHit ? AFlag.IotlbHit : 0);
    o32[q4] = op | (Status.Ok << 8) | (flagsOut << 16);
    o32[q4 + 1] = Len.TranslateAnswer;
    const path = r.path;
    if (path !== this.lastPath) { this.lastPath = path; this.lastPathCode = PATH_CODE[path]!; }
    const ps = r.pageSize;
    const shift = ps === 0 ? 0 : ps < TWO32 ? 31 - Math.clz32(ps) : Math.round(Math.log2(ps));
    const refs = r.memoryReferences > 255 ? 255 : r.memoryReferences;
    o32[q4 + 2] = (r.fault === null ? 0 : FAULT_CODE[r.fault]!) | (this.lastPathCode << 8) | (shift << 16) | (refs << 24);
    o32[q4 + 3] = r.event & 0xffff;
    // x >>> 0 is x mod 2^32 for any integer below 2^53 (a double % calls fmod: slower than the translation)
    const spa = r.spa, cc = r.completionCycle;
    const spaLo = spa >>> 0, ccLo = cc >>> 0;
    o32[q4 + 4] = spaLo; o32[q4 + 5] = spa === spaLo ? 0 : (spa - spaLo) / TWO32;
    o32[q4 + 6] = ccLo; o32[q4 + 7] = cc === ccLo ? 0 : (cc - ccLo) / TWO32;
    o32[q4 + 8] = r.cycles;
    o32[q4 + 9] = 0;
  }

  /** A notification the session wrote (JSON form) as a notification record. */
  private notification(m: Msg): void {
    const w = this.w;
    const idx = Number(m.iommu) & 0xff;
    const pasid = typeof m.pasid === "number" ? m.pasid : null;
    switch (m.notify) {
      case "unmap": {
        const o = w.record(Op.NotifyUnmap, idx, (m.all ? 1 : 0) | (m.pde ? 2 : 0) | (m.gn ? 4 : 0) | (m.domainId !== null ? 8 : 0) |
          (m.deviceId !== null ? 16 : 0) | (pasid !== null ? 32 : 0), Len.Unmap);
        w.u32[(o + 8) >>> 2] = (m.domainId as number | null) ?? 0;
        w.u32[(o + 12) >>> 2] = (m.deviceId as number | null) ?? 0;
        w.u32[(o + 16) >>> 2] = pasid ?? 0;
        w.u32[(o + 20) >>> 2] = UNMAP_COMMANDS.indexOf(m.command as (typeof UNMAP_COMMANDS)[number]);
        w.setBig(o + 24, big(m.start));
        w.setBig(o + 32, m.all ? 0n : big(m.size));
        w.setU64(o + 40, m.cycle as number);
        return;
      }
      case "device-tlb-unmap": {
        const o = w.record(Op.NotifyDeviceTlbUnmap, idx, (m.all ? 1 : 0) | (m.gn ? 4 : 0) | (pasid !== null ? 32 : 0), Len.DeviceTlbUnmap);
        w.u32[(o + 8) >>> 2] = m.deviceId as number;
        w.u32[(o + 12) >>> 2] = pasid ?? 0;
        w.setBig(o + 16, big(m.start));
        w.setBig(o + 24, m.all ? 0n : big(m.size));
        w.setU64(o + 32, m.cycle as number);
        return;
      }
      case "map": {
        const o = w.record(Op.NotifyMap, idx, (m.readable ? 1 : 0) | (m.writable ? 2 : 0) | (m.executable ? 4 : 0) | (m.user ? 8 : 0) |
          (m.gn ? 16 : 0) | (m.nested ? 32 : 0) | (pasid !== null ? 64 : 0), Len.Map);
        w.u32[(o + 8) >>> 2] = m.deviceId as number;
        w.u32[(o + 12) >>> 2] = m.domainId as number;
        w.u32[(o + 16) >>> 2] = pasid ?? 0;
        w.u8[o + 20] = big(m.pageSize).toString(2).length - 1;
        w.u8[o + 21] = ["untranslated", "ats", "prefetch"].indexOf(m.cause as string);
        w.setBig(o + 24, big(m.address));
        w.setBig(o + 32, big(m.spa));
        w.setU64(o + 40, m.cycle as number);
        return;
      }
      case "interrupt": {
        const o = w.record(Op.NotifyInterrupt, idx, 0, Len.Interrupt);
        w.u32[(o + 8) >>> 2] = INTERRUPT_SOURCES.indexOf(m.source as (typeof INTERRUPT_SOURCES)[number]);
        return;
      }
      case "prg-response": {
        const o = w.record(Op.NotifyPrgResponse, idx, m.gn ? 4 : 0, Len.PrgResponse);
        w.u32[(o + 8) >>> 2] = m.deviceId as number;
        w.u32[(o + 12) >>> 2] = m.pasid as number;
        w.u32[(o + 16) >>> 2] = m.prgIndex as number;
        w.u32[(o + 20) >>> 2] = m.responseCode as number;
        w.setU64(o + 24, m.cycle as number);
        return;
      }
      default:
        return; // a notification kind this channel does not carry (none today)
    }
  }
}

/** A u64 field (two words from word index q) as a number when below 2^53, else as a "0x..." string for the JSON ops. */
function u64(u32: Uint32Array, q: number): number | string {
  const lo = u32[q]!, hi = u32[q + 1]!;
  return hi < 0x20_0000 ? hi * TWO32 + lo : "0x" + ((BigInt(hi) << 32n) | BigInt(lo)).toString(16);
}
/** A u64 field as a "0x..." string (addresses of the JSON ops). */
function u64s(u32: Uint32Array, q: number): string {
  return "0x" + ((BigInt(u32[q + 1]!) << 32n) | BigInt(u32[q]!)).toString(16);
}

/** Check a frame header at byte `at`: null when good, else the error text. `have` = bytes available from `at`. */
export function checkHeader(u32: Uint32Array, at: number, expectKind: FrameKind): string | null {
  const q = at >>> 2;
  if (u32[q] !== MAGIC) return `bad magic 0x${(u32[q]! >>> 0).toString(16)} (expected 0x${MAGIC.toString(16)} "IOMB")`;
  const len = u32[q + 1]!;
  if (len < FRAME_HEADER || len > MAX_FRAME || (len & 7) !== 0) return `frame length ${len} must be a multiple of 8 in ${FRAME_HEADER}..${MAX_FRAME}`;
  const kv = u32[q + 3]!;
  if ((kv & 0xff) !== expectKind) return `frame kind ${kv & 0xff}, expected ${expectKind}`;
  if (((kv >>> 8) & 0xff) !== VERSION) return `frame version ${(kv >>> 8) & 0xff}, expected ${VERSION}`;
  return null;
}
