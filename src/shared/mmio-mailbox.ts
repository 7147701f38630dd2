/**
 * The MMIO mailbox: how a host agent in one thread reaches the IOMMU's registers when the
 * IOMMU runs in another (docs/ARCHITECTURE.md section 5, shared mode).
 *
 * A real CPU's MMIO write is a posted PCIe write to the IOMMU's 16 KiB register window
 * (spec: "MMIO registers"). A worker thread cannot see another thread's AmdIommu object, so
 * the host posts its register writes into a ring of slots in a SharedArrayBuffer, in order,
 * and the IOMMU agent (iommu-agent.ts) applies them at its next service point, runs the
 * command processor, and publishes a mirror of every implemented register back into the
 * same buffer. The write of the Command Buffer Tail register is the doorbell.
 *
 * Ordering: the host's plain stores to memory (commands, page-table entries) happen before
 * its Atomics.store of the slot count; the agent reads that count with Atomics.load before
 * it applies the slot, so it sees them (ECMAScript memory model: synchronizes-with). The
 * agent publishes the register mirror and the applied count the same way.
 *
 * One host agent per mailbox (single producer); one IOMMU agent (single consumer).
 *
 * Layout (Int32 words): header 0 posted count, 1 applied count, 2 doorbell, 3 stop, 4 service
 * passes, 5 mirror generation, 6-9 interrupt counts (6 event log, 7 PPR log, 8 completion wait,
 * 9 GA log), 10-15 reserved; then 256 slots of 4 words (kind, offset, low, high); then the
 * register mirror, one word per 32-bit register half of the 16 KiB window, holding what a
 * software read of that register answers (Status run bits 0 while Control.IommuEn = 0).
 *
 * The posted and applied counters are Int32 words that wrap (an honest host reaches 2^31
 * posts and goes negative): they are compared by their wrap-around difference
 * ((a - b) | 0), slots are found by masking, and the agent trusts no count: a difference
 * outside 0..MAILBOX_SLOTS (a host writing garbage into the header) applies nothing and
 * resynchronises (counted in `resyncs`), so no value in the buffer can make the agent loop.
 */
import { MMIO_WINDOW_BYTES } from "../spec/registers.js";

/** Header words. */
const H_POSTED = 0;
const H_APPLIED = 1;
const H_DOORBELL = 2;
const H_STOP = 3;
const H_SERVICES = 4;
const H_MIRROR_GEN = 5;
/** Interrupt counters by source (event log, PPR log, completion wait, GA log), bumped by the agent. */
const H_INT_EVENT = 6;
const H_INT_PPR = 7;
const H_INT_COMWAIT = 8;
const H_INT_GA = 9;
const HEADER_WORDS = 16;
const SLOT_WORDS = 4;

export const MAILBOX_SLOTS = 256; // a power of two: slot = seq & (MAILBOX_SLOTS - 1), also for negative seq
const MIRROR_WORDS = MMIO_WINDOW_BYTES / 4;
const RING = HEADER_WORDS;
const MIRROR = RING + MAILBOX_SLOTS * SLOT_WORDS;
/** Bytes of the SharedArrayBuffer behind a mailbox. */
export const MAILBOX_BYTES = (MIRROR + MIRROR_WORDS) * 4;

/** Slot kinds. */
export const POST_WRITE32 = 1;
export const POST_WRITE64 = 2;
/** No register access: forces a service pass (command processor run, fresh mirror). */
export const POST_BARRIER = 3;

export type InterruptCounter = "event-log" | "ppr-log" | "completion-wait" | "ga-log";
const INT_WORD: Record<InterruptCounter, number> = { "event-log": H_INT_EVENT, "ppr-log": H_INT_PPR, "completion-wait": H_INT_COMWAIT, "ga-log": H_INT_GA };
/** The header word of a source, or undefined (own keys only: "constructor" or "__proto__" are not sources). */
const intWord = (source: unknown): number | undefined => typeof source === "string" && Object.hasOwn(INT_WORD, source) ? INT_WORD[source as InterruptCounter] : undefined;

function checkTimeout(name: string, ms: number): void {
  if (typeof ms !== "number" || !(ms >= 0)) throw new RangeError(`${name}: timeoutMs must be a non-negative number, got ${String(ms)}`);
}

/**
 * The shared words. Both agents wrap the same buffer: `new MmioMailbox()` creates one,
 * `new MmioMailbox(buffer)` wraps one received from another thread.
 */
export class MmioMailbox {
  readonly buffer: SharedArrayBuffer;
  /** Int32 view (Atomics.wait/notify need it). */
  readonly words: Int32Array;
  /** Agent side: drains that found a posted count outside 0..MAILBOX_SLOTS ahead of applied (and resynchronised). */
  resyncs = 0;

  constructor(buffer?: SharedArrayBuffer) {
    if (buffer !== undefined && !(buffer instanceof SharedArrayBuffer)) throw new TypeError("MmioMailbox: buffer must be a SharedArrayBuffer");
    if (buffer !== undefined && buffer.byteLength !== MAILBOX_BYTES) {
      throw new RangeError(`MmioMailbox: buffer must be ${MAILBOX_BYTES} bytes (MAILBOX_BYTES), got ${buffer.byteLength}`);
    }
    this.buffer = buffer ?? new SharedArrayBuffer(MAILBOX_BYTES);
    this.words = new Int32Array(this.buffer);
  }

  // ---- host side (single producer) -----------------------------------------------------

  /** Post a 32-bit register write; returns its sequence number (see waitApplied). */
  postWrite32(offset: number, value: number, timeoutMs = 10_000): number {
    checkOffset("postWrite32", offset, 4);
    if (typeof value !== "number" || !Number.isInteger(value) || value < -0x80000000 || value > 0xffffffff) {
      throw new RangeError(`postWrite32: value must be a 32-bit integer, got ${String(value)}`);
    }
    return this.post(POST_WRITE32, offset, value | 0, 0, timeoutMs);
  }

  /** Post a 64-bit register write (both halves land before its side effects, as mmioWrite64). */
  postWrite64(offset: number, value: bigint, timeoutMs = 10_000): number {
    checkOffset("postWrite64", offset, 8);
    if (typeof value !== "bigint") throw new TypeError(`postWrite64: value must be a bigint, got ${typeof value}`);
    if (value < 0n || value > 0xffff_ffff_ffff_ffffn) throw new RangeError(`postWrite64: value must be 0..2^64-1, got ${value}`);
    const v = value;
    return this.post(POST_WRITE64, offset, Number(v & 0xffffffffn) | 0, Number(v >> 32n) | 0, timeoutMs);
  }

  /** Post a barrier: once applied, every earlier write has taken effect and the mirror is fresh. */
  postBarrier(timeoutMs = 10_000): number { return this.post(POST_BARRIER, 0, 0, 0, timeoutMs); }

  private post(kind: number, offset: number, lo: number, hi: number, timeoutMs: number): number {
    checkTimeout("post", timeoutMs);
    const w = this.words;
    const seq = Atomics.load(w, H_POSTED);
    // ring full: wait for the agent to drain
    while (((seq - Atomics.load(w, H_APPLIED)) | 0) >= MAILBOX_SLOTS) {
      const applied = Atomics.load(w, H_APPLIED);
      if (((seq - applied) | 0) < MAILBOX_SLOTS) break;
      if (Atomics.wait(w, H_APPLIED, applied, timeoutMs) === "timed-out") {
        throw new Error(`MmioMailbox: the IOMMU agent did not drain the mailbox within timeoutMs (${timeoutMs} ms)`);
      }
    }
    const s = RING + (seq & (MAILBOX_SLOTS - 1)) * SLOT_WORDS;
    w[s] = kind; w[s + 1] = offset; w[s + 2] = lo; w[s + 3] = hi;
    const next = (seq + 1) | 0;
    Atomics.store(w, H_POSTED, next);
    Atomics.add(w, H_DOORBELL, 1);
    Atomics.notify(w, H_DOORBELL);
    return next;
  }

  /** Block until the agent has applied every post up to `seq`. False on timeout. */
  waitApplied(seq: number, timeoutMs = 10_000): boolean {
    checkTimeout("waitApplied", timeoutMs);
    const w = this.words;
    const end = timeoutMs;
    let waited = 0;
    for (;;) {
      const applied = Atomics.load(w, H_APPLIED);
      if (((applied - seq) | 0) >= 0) return true;
      if (waited >= end) return false;
      const step = Math.min(50, end - waited);
      Atomics.wait(w, H_APPLIED, applied, step);
      waited += step;
    }
  }

  /** Register value as last published by the agent (a posted read: may lag unapplied writes). */
  read32(offset: number): number {
    checkOffset("read32", offset, 4);
    return Atomics.load(this.words, MIRROR + offset / 4) >>> 0;
  }
  read64(offset: number): bigint {
    checkOffset("read64", offset, 8);
    return (BigInt(Atomics.load(this.words, MIRROR + offset / 4 + 1) >>> 0) << 32n) | BigInt(Atomics.load(this.words, MIRROR + offset / 4) >>> 0);
  }
  /** A non-posted read: barrier, wait until applied, then read the fresh mirror. */
  readFresh64(offset: number, timeoutMs = 10_000): bigint {
    checkOffset("readFresh64", offset, 8);
    if (!this.waitApplied(this.postBarrier(timeoutMs), timeoutMs)) throw new Error(`readFresh64: the IOMMU agent did not answer within timeoutMs (${timeoutMs} ms)`);
    return this.read64(offset);
  }

  /** Interrupts the IOMMU raised so far from a source. */
  interrupts(source: InterruptCounter): number {
    const i = intWord(source);
    if (i === undefined) throw new RangeError(`interrupts: source must be "event-log", "ppr-log", "completion-wait" or "ga-log", got ${String(source)}`);
    return Atomics.load(this.words, i);
  }
  /** Block until the interrupt count of `source` differs from `seen`; returns the new count (or `seen` on timeout). */
  waitInterrupt(source: InterruptCounter, seen: number, timeoutMs = 10_000): number {
    checkTimeout("waitInterrupt", timeoutMs);
    const i = intWord(source);
    if (i === undefined) throw new RangeError(`waitInterrupt: source must be "event-log", "ppr-log", "completion-wait" or "ga-log", got ${String(source)}`);
    Atomics.wait(this.words, i, seen, timeoutMs);
    return Atomics.load(this.words, i);
  }

  // ---- either side ---------------------------------------------------------------------

  /** Ask every agent on this mailbox to stop. */
  stop(): void { Atomics.store(this.words, H_STOP, 1); Atomics.add(this.words, H_DOORBELL, 1); Atomics.notify(this.words, H_DOORBELL); }
  get stopped(): boolean { return Atomics.load(this.words, H_STOP) !== 0; }
  get posted(): number { return Atomics.load(this.words, H_POSTED); }
  get applied(): number { return Atomics.load(this.words, H_APPLIED); }
  /** Service passes the agent has made. */
  get services(): number { return Atomics.load(this.words, H_SERVICES); }

  // ---- IOMMU-agent side (single consumer) ------------------------------------------------

  /** Posts not yet applied (cheap: two atomic loads). */
  pendingPosts(): boolean { return Atomics.load(this.words, H_POSTED) !== Atomics.load(this.words, H_APPLIED); }

  /**
   * Hand every unapplied post, in order, to `apply(kind, offset, lo, hi)`; returns the
   * sequence number reached. The caller publishes afterwards with completeService().
   */
  drain(apply: (kind: number, offset: number, lo: number, hi: number) => void): number {
    const w = this.words;
    const posted = Atomics.load(w, H_POSTED);
    let seq = Atomics.load(w, H_APPLIED);
    const n = (posted - seq) | 0;
    if (n < 0 || n > MAILBOX_SLOTS) { this.resyncs++; return posted; } // not a count an honest host can reach: apply nothing
    for (let i = 0; i < n; i++, seq = (seq + 1) | 0) {
      const s = RING + (seq & (MAILBOX_SLOTS - 1)) * SLOT_WORDS;
      apply(w[s]!, w[s + 1]!, w[s + 2]! >>> 0, w[s + 3]! >>> 0);
    }
    return posted;
  }

  /** Publish registers (only words that changed), then mark posts up to `seq` applied and wake waiters. */
  completeService(registers: Uint32Array, implementedWords: ArrayLike<number>, seq: number): void {
    this.publishRegisters(registers, implementedWords);
    const w = this.words;
    Atomics.add(w, H_SERVICES, 1);
    Atomics.store(w, H_APPLIED, seq);
    Atomics.notify(w, H_APPLIED);
  }

  /** Copy changed register words into the mirror. */
  publishRegisters(registers: Uint32Array, implementedWords: ArrayLike<number>): void {
    const w = this.words;
    let changed = false;
    for (let k = 0; k < implementedWords.length; k++) {
      const i = implementedWords[k]!;
      const v = registers[i]! | 0;
      if (w[MIRROR + i] !== v) { Atomics.store(w, MIRROR + i, v); changed = true; }
    }
    if (changed) { Atomics.add(w, H_MIRROR_GEN, 1); Atomics.notify(w, H_MIRROR_GEN); }
  }

  /** Count an interrupt (agent side) and wake a host waiting for it. */
  signalInterrupt(source: InterruptCounter): void {
    const i = INT_WORD[source]!;
    Atomics.add(this.words, i, 1);
    Atomics.notify(this.words, i);
  }

  /** Sleep until a post or stop arrives (or timeoutMs passes). */
  waitForPost(timeoutMs: number): void {
    const w = this.words;
    const bell = Atomics.load(w, H_DOORBELL);
    if (this.pendingPosts() || this.stopped) return;
    Atomics.wait(w, H_DOORBELL, bell, timeoutMs);
  }
}

function checkOffset(name: string, offset: number, width: 4 | 8): void {
  if (typeof offset !== "number" || !Number.isInteger(offset)) throw new TypeError(`${name}: offset must be an integer, got ${String(offset)}`);
  if (offset < 0 || offset + width > MMIO_WINDOW_BYTES) throw new RangeError(`${name}: offset 0x${offset.toString(16)} is outside the 16 KiB MMIO window`);
  if (offset % width !== 0) throw new RangeError(`${name}: offset 0x${offset.toString(16)} is not ${width}-byte aligned`);
}
