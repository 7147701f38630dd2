/**
 * A MemoryPort around PhysicalMemory that checks every access the IOMMU makes, for the
 * fuzz suite. The model may
 * - read only aligned words inside memory;
 * - write a log entry only into the 16-byte slot at the Tail of the event or PPR log as
 *   programmed at that moment (docs/spec-readings.md cmd 2.1, 3.1);
 * - store a completion-wait semaphore only at the address of the COMPLETION_WAIT (s = 1) it
 *   has just fetched from its command buffer (1.3, 4.3);
 * - compare-exchange only the low word of a table entry it read during the same operation,
 *   and only to set A and/or D (docs/ARCHITECTURE.md section 5).
 * Anything else is recorded as a violation (never thrown: the model must not see it).
 *
 * With `view`, it also offers the 32-bit view a PhysicalMemory has (`u32`), which the walkers
 * read with plain loads (Translator.fastWalk needs it) and through which single mode makes its
 * A/D compare-exchange (a load, a compare and a store: WalkContext.cas): a Proxy over the inner
 * memory's words that records each element it serves as a read and checks each store as the
 * compare-exchange above (of the word it replaces), so the checks still see every access.
 */
import type { MemoryPort } from "../../src/memory/memory-port.js";
import type { PhysicalMemory } from "../../src/memory/physical-memory.js";
import type { AmdIommu } from "../../src/iommu/amd-iommu.js";
import { OP_COMPLETION_WAIT, opcodeOf } from "../../src/spec/commands.js";
import {
  MMIO_COMMAND_BUFFER_BASE, MMIO_EVENT_LOG_BASE, MMIO_EVENT_LOG_TAIL, MMIO_PPR_LOG_BASE, MMIO_PPR_LOG_TAIL, RING_MIN_LEN,
} from "../../src/spec/registers.js";
import { LM_A, LM_D, V1_A, V1_D } from "../../src/spec/page-tables.js";

const AD = (V1_A | V1_D | LM_A | LM_D) >>> 0;

export class RecordingMemory implements MemoryPort {
  readonly bytes: number;
  /** Set after the IOMMU is built (the checks read its registers). */
  iommu: AmdIommu | null = null;
  readonly violations: string[] = [];
  readonly counts = { reads: 0, logWrites: 0, semaphoreStores: 0, adUpdates: 0 };
  private readonly readSet = new Set<number>();
  /** The last four words loaded, as (address, value) pairs: a command fetch. */
  private readonly lastPa = new Float64Array(4);
  private readonly lastVal = new Uint32Array(4);
  private n = 0;

  /** The words for plain loads (only with `view`): reads through it are recorded like load32. */
  readonly u32?: Uint32Array;
  /** Loads served through the view. */
  viewReads = 0;
  /** The address of the last load through the view when no earlier load of the operation read it, else -1. */
  private lastViewRead = -1;

  constructor(readonly inner: PhysicalMemory, view = false) {
    this.bytes = inner.bytes;
    if (view) {
      const words = inner.u32;
      this.u32 = new Proxy(words, {
        get: (t, p) => {
          if (typeof p === "string" && p.length > 0 && p.length < 12 && p.charCodeAt(0) >= 48 && p.charCodeAt(0) <= 57) {
            const i = Number(p);
            if (Number.isInteger(i) && String(i) === p) {
              const pa = i * 4;
              if (i >= t.length) { this.bad(`u32[${p}]: a word outside memory (${this.bytes} bytes)`); return undefined; }
              this.counts.reads++; this.viewReads++;
              this.lastViewRead = this.readSet.has(pa) ? -1 : pa; // (a first read: a store right after it read nothing before)
              this.readSet.add(pa);
              return t[i];
            }
          }
          const v = Reflect.get(t, p, t) as unknown;
          return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(t) : v;
        },
        set: (t, p, v) => {
          const i = typeof p === "string" ? Number(p) : NaN;
          if (!(Number.isInteger(i) && String(i) === p)) { this.bad(`u32[${String(p)}]: a store through the view that is not to a word`); return true; }
          // the compare-exchange's own load is not a read of the walk: the entry must have been read before it
          if (this.lastViewRead === i * 4) this.readSet.delete(i * 4);
          const ok = this.checkAd("u32 store", i * 4, t[i]!, v as number);
          this.readSet.add(i * 4);
          if (!ok) return true;
          t[i] = v as number;
          return true;
        },
      });
    }
  }

  /** A new operation starts: entries read before it are no longer "read during it". */
  mark(): void { this.readSet.clear(); }

  private bad(what: string): void { if (this.violations.length < 20) this.violations.push(what); }

  private checkWord(kind: string, pa: number): boolean {
    if (typeof pa !== "number" || !Number.isInteger(pa) || pa % 4 !== 0 || !this.inner.contains(pa, 4)) {
      this.bad(`${kind} at ${String(pa)}: not an aligned word inside memory (${this.bytes} bytes)`);
      return false;
    }
    return true;
  }
  private checkValue(kind: string, v: number): void {
    if (typeof v !== "number" || !Number.isInteger(v) || v < -0x80000000 || v > 0xffffffff) this.bad(`${kind}: value ${String(v)} is not a 32-bit word`);
  }

  contains(pa: number, length: number): boolean { return this.inner.contains(pa, length); }

  load32(pa: number): number {
    if (!this.checkWord("load32", pa)) return 0;
    this.counts.reads++;
    this.readSet.add(pa);
    const v = this.inner.load32(pa);
    const i = this.n++ & 3;
    this.lastPa[i] = pa; this.lastVal[i] = v;
    return v;
  }

  store32(pa: number, value: number): void { this.store("store32", pa, value, false); }
  storeNotify32(pa: number, value: number): void { this.store("storeNotify32", pa, value, true); }

  private store(kind: string, pa: number, value: number, notify: boolean): void {
    if (!this.checkWord(kind, pa)) return;
    this.checkValue(kind, value);
    if (this.inLogSlot(pa, MMIO_EVENT_LOG_BASE, MMIO_EVENT_LOG_TAIL) || this.inLogSlot(pa, MMIO_PPR_LOG_BASE, MMIO_PPR_LOG_TAIL)) this.counts.logWrites++;
    else if (this.isSemaphore(pa)) this.counts.semaphoreStores++;
    else this.bad(`${kind} at 0x${pa.toString(16)}: not the Tail slot of a log nor the store address of the COMPLETION_WAIT just fetched`);
    if (notify) this.inner.storeNotify32(pa, value); else this.inner.store32(pa, value);
  }

  cas32(pa: number, expected: number, replacement: number): number {
    if (!this.checkAd("cas32", pa, expected, replacement)) return ~expected >>> 0;
    return this.inner.cas32(pa, expected, replacement);
  }

  /** An A/D update (`kind` at pa, expected -> replacement): false when pa is not a word inside memory (nothing may be written). */
  private checkAd(kind: string, pa: number, expected: number, replacement: number): boolean {
    if (!this.checkWord(kind, pa)) return false;
    this.checkValue(kind, replacement);
    if (pa % 8 !== 0) this.bad(`${kind} at 0x${pa.toString(16)}: not the low word of an entry`);
    if (!this.readSet.has(pa)) this.bad(`${kind} at 0x${pa.toString(16)}: an entry the operation did not read`);
    if (((expected ^ replacement) & ~AD) !== 0 || (expected & ~replacement & AD) !== 0) {
      this.bad(`${kind} at 0x${pa.toString(16)}: 0x${(expected >>> 0).toString(16)} -> 0x${(replacement >>> 0).toString(16)} changes more than setting A/D`);
    }
    this.counts.adUpdates++;
    return true;
  }

  private ringBytes(baseReg: number): number {
    const io = this.iommu!;
    return 2 ** (Math.max((io.regs.hi(baseReg) >>> 24) & 0xf, RING_MIN_LEN) + 4);
  }

  private inLogSlot(pa: number, baseReg: number, tailReg: number): boolean {
    const io = this.iommu;
    if (io === null) return false;
    const size = this.ringBytes(baseReg);
    const slot = io.regs.base(baseReg) + ((io.regs.lo(tailReg) & 0x7fff0) % size);
    return pa >= slot && pa < slot + 16;
  }

  private isSemaphore(pa: number): boolean {
    const io = this.iommu;
    if (io === null) return false;
    // the last four loads must be one 16-byte command inside the command ring
    const first = this.n & 3;
    const a = this.lastPa[first]!;
    for (let k = 1; k < 4; k++) if (this.lastPa[(first + k) & 3] !== a + 4 * k) return false;
    const base = io.regs.base(MMIO_COMMAND_BUFFER_BASE);
    if (a % 16 !== 0 || a < base || a >= base + this.ringBytes(MMIO_COMMAND_BUFFER_BASE)) return false;
    const dw = [0, 1, 2, 3].map((k) => this.lastVal[(first + k) & 3]!);
    if (opcodeOf(dw) !== OP_COMPLETION_WAIT || (dw[0]! & 1) === 0) return false;
    const sa = (dw[1]! & 0xfffff) * 4294967296 + ((dw[0]! & 0xfffffff8) >>> 0);
    return pa === sa || pa === sa + 4;
  }
}
