/**
 * Simulator-owned memory over the binary channel: the IOMMU's memory is the client's. Each
 * table read, A/D compare-exchange, event-log write and completion-wait store of an IOMMU
 * created with the simulator-memory flag becomes a memory-request frame (frame-layout.ts,
 * kind 3) that the server sends and waits on; the client performs it in its own memory
 * model, charging its own latency, and answers with a memory-answer frame (kind 4).
 *
 * It reuses the in-process machinery: translations run as stepped translations
 * (stepped-translation.ts), so the client sees whole entries (a 32-byte DTE read, 8-byte
 * table-entry reads, the A/D compare-exchange of an entry's low word, event-log words) in
 * the order the hardware issues them; everything else the IOMMU does to memory (command
 * buffer reads, log writes, completion-wait stores) goes through a CallbackMemoryPort whose
 * callbacks are 32-bit memory requests.
 */
import type { AmdIommu } from "../../iommu/amd-iommu.js";
import type { TranslationRequest, TranslationResult } from "../../iommu/translation/request.js";
import type { MemoryPort } from "../../memory/memory-port.js";
import { CallbackMemoryPort } from "../callback-memory-port.js";
import type { MemoryRequest } from "../stepped-translation.js";
import { FrameKind, Len, Op, RECORD_HEADER, Status } from "./frame-layout.js";
import { FrameWriter } from "./binary-session.js";

/** Send a memory-request frame; return the client's memory-answer frame (views and the frame's byte offset). */
export type MemoryRoundTrip = (frame: Uint8Array) => { u8: Uint8Array; u32: Uint32Array; at: number };


export class SimulatorMemory {
  private readonly w = new FrameWriter();
  /** Memory requests sent so far (all IOMMUs). */
  requests = 0;

  constructor(private readonly roundTrip: MemoryRoundTrip) {}

  /** The memory port of IOMMU `idx` over a client memory of `bytes` bytes (every address below it exists). */
  port(idx: number, bytes: number | string): MemoryPort {
    if (typeof bytes !== "number" || !(bytes > 0)) throw new RangeError(`create-iommu: simulator-owned memory needs its size in bytes (1..2^53-1) at offset 16, got ${String(bytes)}`);
    const ask = this.ask.bind(this);
    const port = new CallbackMemoryPort({
      bytes,
      read32: (pa) => ask(idx, Op.MemRead, 0, pa, 4, 0)[0]!,
      write32: (pa, v) => { ask(idx, Op.MemWrite, 0, pa, v, 0); },
      cas32: (pa, expected, v) => ask(idx, Op.MemCas, 0, pa, expected, v)[0]!,
    });
    // a completion-wait store is one request with flag bit 0 (write, then wake what polls the word)
    port.storeNotify32 = (pa: number, v: number) => { ask(idx, Op.MemWrite, 1, pa, v, 0); };
    return port;
  }

  /** A translation of an IOMMU on simulator memory: stepped, each memory request sent to the client. */
  translate(io: AmdIommu, idx: number, req: TranslationRequest, kind: "untranslated" | "ats" | "peek"): TranslationResult {
    const st = io.translateStepped(req, { kind });
    for (let r: MemoryRequest | null = st.next(); r !== null; r = st.next()) {
      if (r.kind === "read") st.complete(this.ask(idx, Op.MemRead, 0, r.pa, r.bytes, 0));
      else if (r.kind === "cas") st.complete(this.ask(idx, Op.MemCas, 0, r.pa, r.expected, r.value)[0]!);
      else { this.ask(idx, Op.MemWrite, 0, r.pa, r.value, 0); st.complete(); }
    }
    return st.result;
  }

  /**
   * One memory request. MemRead: a = bytes (4, 8, 32) -> the words read. MemCas: a = expected,
   * b = value -> [found]. MemWrite: a = value; flags bit 0 = a completion-wait store -> [].
   */
  private ask(idx: number, op: Op, flags: number, pa: number, a: number, b: number): Uint32Array {
    const w = this.w;
    w.begin(FrameKind.MemoryRequest);
    const o = w.record(op, idx, flags, op === Op.MemRead ? Len.MemRead : op === Op.MemCas ? Len.MemCas : Len.MemWrite);
    w.setU64(o + 8, pa);
    w.u32[(o + 16) >>> 2] = a >>> 0; w.u32[(o + 20) >>> 2] = b >>> 0;
    this.requests++;
    const ans = this.roundTrip(w.finish());
    const at = ans.at, u32 = ans.u32, u8 = ans.u8;
    const what = `memory answer to ${op === Op.MemRead ? "read" : op === Op.MemCas ? "cas" : "write"} at 0x${pa.toString(16)}`;
    if (u32[(at + 8) >>> 2] !== 1) throw new Error(`${what}: the frame must carry exactly one record`);
    const r = at + 16;
    const len = u32[(r + 4) >>> 2]!;
    if (u8[r] !== op) throw new Error(`${what}: record op 0x${u8[r]!.toString(16)}, expected 0x${op.toString(16)}`);
    if (u8[r + 1] !== Status.Ok) throw new Error(`${what}: the simulator answered with an error (status ${u8[r + 1]})`);
    const want = op === Op.MemRead ? RECORD_HEADER + ((a + 7) & ~7) : op === Op.MemCas ? 16 : RECORD_HEADER;
    if (len !== want || r + len > at + u32[(at + 4) >>> 2]!) throw new Error(`${what}: record length ${len}, expected ${want}`);
    if (op === Op.MemRead) return u32.slice((r + 8) >>> 2, (r + 8 + a) >>> 2);
    if (op === Op.MemCas) return u32.slice((r + 8) >>> 2, (r + 12) >>> 2);
    return EMPTY;
  }
}
const EMPTY = new Uint32Array(0);
