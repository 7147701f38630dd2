/**
 * Stepped translation: one translation of the IOMMU (spec: "Translation"; the DTE fetch,
 * GCR3 and page-table reads, A/D compare-exchanges and event-log writes of
 * docs/spec-readings.md reg 3-5) driven as a sequence of memory requests that an
 * event-driven host completes one at a time, for hosts whose memory answers later
 * (SST-style asynchronous memory, gem5 timing ports).
 *
 *   const st = iommu.translateStepped({ deviceId, address });
 *   for (let r = st.next(); r !== null; r = st.next()) st.complete(answer(r));
 *   st.result   // the same TranslationResult the functional translate() gives
 *
 * It does not duplicate the walkers: each step re-runs the functional translation against a
 * memoizing memory port that replays the answers already given and stops at the first
 * access without one, which becomes the next request. Before each attempt the state a
 * translation can touch (DTE, IOTLB, page-directory and GCR3 caches, counters, the event log
 * registers, the DTE's fault-suppression flag, the device table's front entry) is checkpointed, and restored when the
 * attempt stops, so only the final attempt leaves effects: exactly one translation's worth
 * of cache fills, statistics, events and MAP notifications.
 *
 * Requests: "read" of a whole entry (8 bytes; a DTE is one 32-byte read), "cas" of the low
 * word of an entry for A/D (answer the value found), "write" of one 32-bit word of an event
 * log entry (answer with no value once it is performed). Cost: a translation of n requests runs n + 1
 * attempts, each with a checkpoint of the caches — slower than translate(), use it where
 * memory latency must come from the host.
 *
 * If other operations change the IOMMU's caches while a stepped translation waits, its next
 * attempt may take a different path; answers that no longer match are dropped and asked
 * again (as hardware re-walks). With nothing interleaved the request sequence and the result
 * equal the functional call's.
 */
import type { MemoryPort } from "../memory/memory-port.js";
import { MMIO_DEVICE_TABLE_BASE } from "../spec/registers.js";
import type { AmdIommu } from "../iommu/amd-iommu.js";
import { Kind } from "../iommu/translation/request.js";
import { TranslationResult, type MemoryAccess, type TranslationRequest } from "../iommu/translation/request.js";
import { notifyMap } from "./invalidation-notifiers.js";
import { TranslationCheckpoint } from "./translation-checkpoint.js";

export type MemoryRequest =
  | { kind: "read"; pa: number; bytes: 8 | 32 }
  | { kind: "cas"; pa: number; expected: number; value: number }
  | { kind: "write"; pa: number; value: number };

export interface SteppedOptions {
  /** "untranslated" (default, as translate), "ats" (as translateAts) or "peek" (as peek: no effects). */
  kind?: "untranslated" | "ats" | "peek";
}

interface Answered { req: MemoryRequest; words: Uint32Array | null; found: number }

const ABORT = Symbol("stepped-translation: waiting for memory");

/** The memoizing port: replays answered requests in order, stops at the first unanswered one. */
class StepPort implements MemoryPort {
  readonly bytes: number;
  readonly answers: Answered[] = [];
  pos = 0;
  pending: MemoryRequest | null = null;
  private block: Answered | null = null;
  dtBase = 0;
  dtEnd = 0;

  constructor(private readonly base: MemoryPort) { this.bytes = base.bytes; }

  rewind(dtBase: number, dtBytes: number): void {
    this.pos = 0; this.block = null; this.pending = null; this.dtBase = dtBase; this.dtEnd = dtBase + dtBytes;
  }
  contains(pa: number, length: number): boolean { return this.base.contains(pa, length); }

  private take(req: MemoryRequest): Answered {
    if (this.pos < this.answers.length) {
      const a = this.answers[this.pos]!;
      if (same(a.req, req)) { this.pos++; return a; }
      this.answers.length = this.pos; // the path changed: later answers are stale
    }
    this.pending = req;
    throw ABORT;
  }
  load32(pa: number): number {
    const b = this.block;
    if (b !== null && b.req.kind === "read" && pa >= b.req.pa && pa < b.req.pa + b.req.bytes) return b.words![(pa - b.req.pa) >>> 2]!;
    const bytes = pa >= this.dtBase && pa < this.dtEnd ? 32 : 8;
    const at = pa - ((pa - (bytes === 32 ? this.dtBase : 0)) % bytes);
    const a = this.take({ kind: "read", pa: at, bytes });
    this.block = a;
    return a.words![(pa - at) >>> 2]!;
  }
  store32(pa: number, value: number): void { this.block = null; this.take({ kind: "write", pa, value: value >>> 0 }); }
  storeNotify32(pa: number, value: number): void { this.store32(pa, value); }
  cas32(pa: number, expected: number, value: number): number {
    this.block = null;
    return this.take({ kind: "cas", pa, expected: expected >>> 0, value: value >>> 0 }).found;
  }
}

function same(a: MemoryRequest, b: MemoryRequest): boolean {
  if (a.kind !== b.kind || a.pa !== b.pa) return false;
  if (a.kind === "read") return a.bytes === (b as typeof a).bytes;
  if (a.kind === "cas") return a.expected === (b as typeof a).expected && a.value === (b as typeof a).value;
  return a.value === (b as typeof a).value;
}

/**
 * Point the translation blocks (DTE fetch, walks and A/D, event writes) at another port for
 * one attempt: each keeps its port in `mem`, and may keep a direct view of the memory's
 * words for its fast path, which is switched off (null) meanwhile. Returns the undo.
 */
function redirect(io: AmdIommu, port: MemoryPort): () => void {
  const base = io.memory as MemoryPort & { buffer?: unknown };
  const holders = [io.translator.ctx, io.deviceTable, io.eventLog] as unknown as Record<string, unknown>[];
  const undo: [Record<string, unknown>, string, unknown][] = [];
  for (const h of holders) {
    if (h.mem !== base) throw new Error("translateStepped: internal: a translation block no longer keeps its memory port in `mem`");
    for (const [k, v] of Object.entries(h)) {
      if (v === base) { undo.push([h, k, v]); h[k] = port; }
      else if (ArrayBuffer.isView(v) && base.buffer !== undefined && v.buffer === base.buffer) { undo.push([h, k, v]); h[k] = null; }
    }
  }
  return () => { for (const [h, k, v] of undo) h[k] = v; };
}

export class SteppedTranslation {
  /** The translation's result; valid once done is true. */
  readonly result = new TranslationResult();
  /** All requests answered and the translation finished. */
  done = false;
  /** Memory requests issued so far. */
  get requests(): number { return this.port.answers.length + (this.port.pending ? 1 : 0); }
  /** Functional re-executions run so far. */
  attempts = 0;
  private readonly request: TranslationRequest;
  private readonly kind: number;
  private readonly port: StepPort;
  private readonly checkpoint: TranslationCheckpoint;

  constructor(private readonly io: AmdIommu, request: TranslationRequest, options: SteppedOptions = {}) {
    if (request === null || typeof request !== "object") throw new TypeError("translateStepped: request must be an object { deviceId, address, ... }");
    if (options === null || typeof options !== "object") throw new TypeError("translateStepped: options must be an object { kind? }");
    const k = options.kind ?? "untranslated";
    if (k !== "untranslated" && k !== "ats" && k !== "peek") throw new RangeError(`translateStepped: options.kind must be "untranslated", "ats" or "peek", got ${String(k)}`);
    this.kind = k === "ats" ? Kind.Ats : k === "peek" ? Kind.Peek : Kind.Untranslated;
    this.request = { ...request };
    this.port = new StepPort(io.memory);
    this.checkpoint = new TranslationCheckpoint(io);
    this.attempt();
  }

  /** The memory request the translation waits for, or null when it is done. */
  next(): MemoryRequest | null {
    const p = this.port.pending;
    return p === null ? null : { ...p };
  }

  /**
   * Answer the pending request: a "read" with its bytes / 4 little-endian 32-bit words (an
   * array or Uint32Array), a "cas" with the 32-bit value found at pa (equal to `expected`
   * when the exchange happened), a "write" with nothing once it is performed.
   */
  complete(value?: ArrayLike<number> | number): void {
    const p = this.port.pending;
    if (p === null) throw new Error("complete: no memory request is pending (the translation is done)");
    let words: Uint32Array | null = null;
    let found = 0;
    if (p.kind === "read") {
      if (value === null || typeof value !== "object" || typeof (value as ArrayLike<number>).length !== "number" || (value as ArrayLike<number>).length !== p.bytes / 4) {
        throw new TypeError(`complete: value must be ${p.bytes / 4} 32-bit words for a ${p.bytes}-byte read at 0x${p.pa.toString(16)}`);
      }
      words = Uint32Array.from(value as ArrayLike<number>, (x) => x >>> 0);
    } else if (p.kind === "cas") {
      if (typeof value !== "number" || !Number.isInteger(value)) throw new TypeError(`complete: value must be the 32-bit word found at 0x${p.pa.toString(16)} (cas)`);
      found = value >>> 0;
    } else if (value !== undefined) {
      throw new TypeError("complete: a write takes no value");
    }
    this.port.answers.push({ req: p, words, found });
    this.port.pending = null;
    this.attempt();
  }

  /** Answer every request from a memory port right away (tests, or a host with a synchronous fallback). */
  runWith(memory: MemoryPort): TranslationResult {
    for (let r = this.next(); r !== null; r = this.next()) {
      if (r.kind === "read") {
        const w: number[] = [];
        for (let i = 0; i < r.bytes; i += 4) w.push(memory.load32(r.pa + i));
        this.complete(w);
      } else if (r.kind === "cas") this.complete(memory.cas32(r.pa, r.expected, r.value));
      else { memory.store32(r.pa, r.value); this.complete(); }
    }
    return this.result;
  }

  private attempt(): void {
    const io = this.io;
    const port = this.port;
    port.rewind(io.regs.base(MMIO_DEVICE_TABLE_BASE), io.deviceTable.tableEntries() * 32);
    const ctx = io.translator.ctx;
    const log = ctx.log;
    const mine: MemoryAccess[] | null = log === null ? null : [];
    const peek = this.kind === Kind.Peek;
    if (!peek) this.checkpoint.take(this.request.deviceId);
    this.attempts++;
    let finished = false;
    const undo = redirect(io, port);
    ctx.log = mine;
    try {
      io.translator.translate(this.request, this.result, this.kind);
      finished = true;
    } catch (e) {
      if (!peek) this.checkpoint.restore();
      if (e !== ABORT) throw e;
    } finally {
      undo();
      ctx.log = log;
    }
    if (!finished) return;
    this.done = true;
    if (log !== null && mine !== null) log.push(...mine);
    if (!peek && io.notifiers.hasMap) notifyMap(io, this.request, this.result, this.kind === Kind.Ats ? "ats" : "untranslated");
  }
}
