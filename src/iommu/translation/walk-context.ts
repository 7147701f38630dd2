/**
 * Per-translation scratch state shared by the walkers: table reads with the PTE sharing
 * protocol of docs/ARCHITECTURE.md section 5, atomic A/D compare-exchanges, reference counts, and
 * the fault being reported. One instance per IOMMU; nothing is allocated per translation.
 */
import type { MemoryPort } from "../../memory/memory-port.js";
import { EV_IO_PAGE_FAULT, EV_PAGE_TAB_HARDWARE_ERROR, EVT_PR, EVT_RZ } from "../../spec/events.js";
import type { FaultReason, MemoryAccess } from "./request.js";
import type { TableLineCache } from "../timing/table-line-cache.js";

/** Walk outcome codes. */
export const enum Walk {
  Ok = 0,
  Fault = 1,
  /** An A/D compare-exchange lost a race: re-read and re-check from the top. */
  Retry = 2,
}
export const MAX_WALK_RETRIES = 64;

/**
 * A step a walk made without side effects defers until it completes (GuestWalker.walkNested,
 * HostWalker.walkDirect), kept in WalkContext.pending in walk order with two operands:
 * Line (a table read's word index: its table-line-cache touch), Pde (look-ups made, slot hit or
 * -1: PdeCache.commitLookups) and Iotlb (the slot a look-up hit: PageTagCache.hit). A const
 * enum: inlined.
 */
export const enum Pending { Line = 0, Pde = 1, Iotlb = 2 }
/**
 * Room for the deferred steps of one walk: 5 guest levels, each with a host walk of at most 6
 * reads and a look-up, 5 guest reads, the final host walk and the guest look-up: 48.
 */
const PENDING_MAX = 64;

export class WalkContext {
  /** Low and high word of the last entry read. */
  lo = 0;
  hi = 0;
  refs = 0;
  walkRefs = 0;
  pdeHits = 0;
  adWrites = 0;
  /** Walks started again because an A/D compare-exchange lost a race (stats().translation.walkRetries). */
  retries = 0;
  /** Walk reads whose line the table-line cache held (priced at memoryReferenceLlc). */
  lineHits = 0;
  /** The table-line cache walk reads go through (null = off). */
  lines: TableLineCache | null = null;
  /** No side effects (peek): no A/D writes, no cache fills. */
  peek = false;
  // ---- the fault being reported ----
  reason: FaultReason | null = null;
  /** Event code to log (IO_PAGE_FAULT, PAGE_TAB_HARDWARE_ERROR, ...). */
  code = 0;
  /** Event flag bits decided by the walker (PR, PE, RZ, US, NX, Type). */
  flags = 0;
  /** The fault belongs to the host space of a nested walk (GN = 0, address = GPA). */
  hostFault = false;
  faultHi = 0;
  faultLo = 0;
  /** Memory accesses in order, when enabled. */
  log: MemoryAccess[] | null = null;
  /** Deferred steps of the current walk (see Pending): kind, operand, operand; pendingCount of them. */
  readonly pending = new Int32Array(3 * PENDING_MAX);
  pendingCount = 0;

  /**
   * The words of the memory for plain loads: a PhysicalMemory's view in single (not shared)
   * mode, else null. (Stepped translation nulls it while it redirects `mem`.)
   */
  private readonly u32: Uint32Array | null;

  /**
   * Index of the last word of memory (a plain number: reading a typed array's length over a
   * SharedArrayBuffer costs a few dozen instructions in V8, since such buffers may grow).
   */
  readonly lastWord: number;

  constructor(private readonly mem: MemoryPort, readonly shared: boolean) {
    const m = mem as MemoryPort & { u32?: unknown };
    this.u32 = !shared && m.u32 instanceof Uint32Array && m.u32.byteLength === mem.bytes ? m.u32 : null;
    this.lastWord = mem.bytes / 4 - 1;
  }

  /** The memory's words when plain loads are the whole story (single mode, no access log), else null. */
  direct(): Uint32Array | null {
    return this.log === null ? this.u32 : null;
  }

  /** Defer a step (see Pending). */
  pend(kind: Pending, a: number, b: number): void {
    const i = 3 * this.pendingCount++;
    const p = this.pending;
    p[i] = kind; p[i + 1] = a; p[i + 2] = b;
  }

  reset(): void {
    this.refs = 0; this.walkRefs = 0; this.pdeHits = 0; this.adWrites = 0; this.lineHits = 0; this.retries = 0;
    this.reason = null; this.code = 0; this.flags = 0; this.hostFault = false;
  }

  /**
   * Read the 64-bit entry at pa into lo/hi. In shared mode: low, high, low again, retrying
   * while the low word changed (a writer changing the high word clears P first). Returns
   * false (PAGE_TAB_HARDWARE_ERROR recorded, master abort) when pa is outside memory.
   */
  read(pa: number, what: string): boolean {
    return this.readWord(pa * 0.25, what);
  }

  /**
   * read() of the entry at word index w = pa / 4 (an integer: entries are 8-byte aligned).
   * Walkers keep table addresses as word indices, so the common case is two plain loads
   * with no address arithmetic on the dependent chain.
   */
  readWord(w: number, what: string): boolean {
    const u32 = this.u32;
    if (u32 !== null && this.log === null) {
      this.refs++;
      if (!(w >= 0 && w < this.lastWord)) return this.hardwareError(w * 4);
      this.lo = u32[w]!;
      this.hi = u32[w + 1]!;
      return true;
    }
    return this.readPort(w * 4, what);
  }

  /** read() through the memory port (shared mode, access log, other ports). */
  private readPort(pa: number, what: string): boolean {
    this.refs++;
    const mem = this.mem;
    if (!mem.contains(pa, 8)) return this.hardwareError(pa);
    let lo = mem.load32(pa);
    let hi = mem.load32(pa + 4);
    if (this.shared) {
      let again = mem.load32(pa);
      while (again !== lo) { lo = again; hi = mem.load32(pa + 4); again = mem.load32(pa); }
    }
    this.lo = lo; this.hi = hi;
    if (this.log !== null) this.log.push({ kind: "read", pa, what, value: lo });
    return true;
  }

  /** A walk read of the entry at byte address pa: counted, and its line looked up in the table-line cache (peek changes nothing). */
  walkRead(pa: number): void {
    this.walkRefs++;
    const l = this.lines;
    if (l !== null) this.lineHits += this.peek ? l.holds(pa) : l.touch(pa);
  }

  /** walkRead() of the entry at word index w (an int32: a table below 8 GiB), the line found with integer shifts. */
  walkReadWord(w: number): void {
    this.walkRefs++;
    const l = this.lines;
    if (l !== null) this.lineHits += this.peek ? l.holds(w * 4) : l.touchWord(w);
  }

  /**
   * Atomically replace the low word `expected` with `value`; false if the entry changed meanwhile.
   * In single mode (options.concurrency: one agent at a time uses the memory) a load, a compare
   * and a store are that compare-exchange, done on the memory's words as readWord's loads are
   * (Atomics.compareExchange is a builtin call V8 does not inline: a tenth of a first-touch
   * walk); in shared mode, and through any other port, it is the memory's atomic cas32.
   */
  cas(pa: number, expected: number, value: number, what: string): boolean {
    this.refs++;
    this.adWrites++;
    const u32 = this.u32;
    let found: number;
    if (u32 !== null && pa < 8589934592) { // (pa is the entry just read: inside memory; an int32 word index below 8 GiB)
      const w = (pa * 0.25) | 0;
      found = u32[w]!;
      if (found === expected >>> 0) u32[w] = value;
    } else found = this.mem.cas32(pa, expected, value);
    if (this.log !== null) this.log.push({ kind: "cas", pa, what, value: found === (expected >>> 0) ? value >>> 0 : found });
    return found === (expected >>> 0);
  }

  hardwareError(pa: number): boolean {
    this.reason = "page-table-hardware-error";
    this.code = EV_PAGE_TAB_HARDWARE_ERROR;
    this.flags = 1 << 25; // Type = 01b master abort (dw1[26:25])
    this.faultLo = pa % 4294967296;
    this.faultHi = Math.floor(pa / 4294967296);
    return false;
  }

  /** Record an IO_PAGE_FAULT cause; returns Walk.Fault. */
  fault(reason: FaultReason, flags: number): number {
    this.reason = reason;
    this.code = EV_IO_PAGE_FAULT;
    this.flags = flags;
    return Walk.Fault;
  }
}

export const F_PR = EVT_PR;
export const F_RZ = EVT_RZ;
