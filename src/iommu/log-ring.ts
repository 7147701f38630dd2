/**
 * A log ring the IOMMU produces into and software consumes from: the event log and the
 * PPR log (spec: "Event Log", "Peripheral Page Request Log"; docs/spec-readings.md cmd 2.1, 3.1).
 *
 * Base and length come from the base register (bits 51:12, Len at 59:56: 2^Len entries of
 * 16 bytes; a reserved Len below 8 is read as 8). The IOMMU writes the entry at Tail (the
 * word holding the code last, so a consumer polling the code sees a complete entry), then
 * advances Tail. When the next Tail would equal Head the log is full: nothing is written or
 * overwritten, the Overflow status bit is set, the Run bit clears and logging stops until
 * software restarts it (clear LogEn, write 1 to Overflow, set LogEn). While Control.IommuEn = 0
 * nothing is written (the run bits read 0 then; the ring keeps its run state). Dual logs (a B ring at
 * its own base/head/tail registers) are chosen by Control.DualPprLogEn / DualEventLogEn (append).
 */
import type { MemoryPort } from "../memory/memory-port.js";
import { CONTROL, RING_MIN_LEN, STATUS, MMIO_STATUS, MMIO_CONTROL, type BitRef } from "../spec/registers.js";
import type { MmioRegisters } from "./mmio-registers.js";

export interface LogRingBits {
  baseReg: number; headReg: number; tailReg: number;
  logEn: BitRef; intEn: BitRef; run: BitRef; overflow: BitRef; int: BitRef;
}

/** The second (B) ring of a dual log (docs/spec-readings.md irq 4.1, 4.3). */
export interface LogRingB { baseReg: number; headReg: number; tailReg: number; overflow: BitRef; active: BitRef; dualEn: BitRef }

export interface LogStats { written: number; overflows: number; dropped: number; writeErrors: number }

const WRITTEN = 0, FULL = 1, WRITE_ERROR = 2;

export class LogRing {
  readonly stats: LogStats = { written: 0, overflows: 0, dropped: 0, writeErrors: 0 };
  /** The ring the last written entry went to: false = A, true = B (dual logs). */
  lastRingB = false;

  constructor(
    private readonly regs: MmioRegisters,
    private readonly mem: MemoryPort,
    private readonly bits: LogRingBits,
    private readonly raise: () => void,
    /** The B ring when the EFR advertises dual logs, else null. */
    private readonly b: LogRingB | null = null,
  ) {}

  /** Ring size in bytes. */
  sizeBytes(): number {
    const len = (this.regs.hi(this.bits.baseReg) >>> 24) & 0xf;
    return 2 ** (Math.max(len, RING_MIN_LEN) + 4);
  }

  /**
   * Logging is enabled and running (not stopped by an overflow), and the IOMMU is on: an IOMMU
   * with Control.IommuEn = 0 logs nothing, as its Status run bits read 0 (reg 2.2).
   */
  running(): boolean {
    return this.regs.test(MMIO_CONTROL, CONTROL.IommuEn) && this.regs.test(MMIO_CONTROL, this.bits.logEn) && this.regs.test(MMIO_STATUS, this.bits.run);
  }

  /** Valid entries ((Tail - Head) mod size) waiting for software in ring A, or ring B when `ringB`. */
  validEntries(ringB: boolean): number {
    const b = ringB ? this.b : null;
    if (ringB && b === null) return 0;
    const baseReg = b !== null ? b.baseReg : this.bits.baseReg;
    const len = (this.regs.hi(baseReg) >>> 24) & 0xf;
    const size = 2 ** (Math.max(len, RING_MIN_LEN) + 4);
    const head = (this.regs.lo(b !== null ? b.headReg : this.bits.headReg) & 0x7fff0) % size;
    const tail = (this.regs.lo(b !== null ? b.tailReg : this.bits.tailReg) & 0x7fff0) % size;
    return ((tail - head + size) % size) / 16;
  }

  /** Free entries left before the log is full. */
  free(): number {
    const size = this.sizeBytes();
    const head = (this.regs.lo(this.bits.headReg) & 0x7fff0) % size;
    const tail = (this.regs.lo(this.bits.tailReg) & 0x7fff0) % size;
    return ((head - tail - 16 + size) % size) / 16;
  }

  /**
   * Append one 16-byte entry. Returns true when written; false when logging is off, the
   * log overflowed (Overflow set, Run cleared, interrupt if IntEn), or the ring address is
   * outside memory. With a B ring (dual logs, Control.DualLogEn): 00b writes ring A, 01b ring
   * B, 10b the active ring (Status.Active, 1 = B) and switches to the other one when the
   * active one is full; the Overflow bit of the ring that could not take the entry (Overflow
   * for A, OverflowB for B) is set only when no ring can take it. 11b (reserved) reads as 00b.
   */
  append(dw: Uint32Array): boolean {
    if (!this.running()) { this.stats.dropped++; return false; }
    const b = this.b;
    let useB = false, other = false;
    if (b !== null) {
      const mode = this.regs.get(MMIO_CONTROL, b.dualEn);
      useB = mode === 1 || (mode === 2 && this.regs.test(MMIO_STATUS, b.active));
      other = mode === 2;
    }
    let r = this.write(dw, useB);
    if (r === FULL && other) {
      r = this.write(dw, !useB);
      if (r !== FULL) { this.regs.setBit(MMIO_STATUS, b!.active, !useB); useB = !useB; }
    }
    if (r === FULL) {
      this.regs.setBit(MMIO_STATUS, useB ? b!.overflow : this.bits.overflow, true);
      this.regs.setBit(MMIO_STATUS, this.bits.run, false);
      this.stats.overflows++;
      this.stats.dropped++;
      if (this.regs.test(MMIO_CONTROL, this.bits.intEn)) this.raise();
      return false;
    }
    if (r === WRITE_ERROR) { this.stats.writeErrors++; this.stats.dropped++; return false; }
    this.lastRingB = useB;
    this.stats.written++;
    if (this.regs.test(MMIO_CONTROL, this.bits.intEn)) {
      this.regs.setBit(MMIO_STATUS, this.bits.int, true);
      this.raise();
    }
    return true;
  }

  /** Write an entry into ring A or B: WRITTEN, FULL (nothing changed) or WRITE_ERROR. */
  private write(dw: Uint32Array, ringB: boolean): number {
    const baseReg = ringB ? this.b!.baseReg : this.bits.baseReg;
    const headReg = ringB ? this.b!.headReg : this.bits.headReg;
    const tailReg = ringB ? this.b!.tailReg : this.bits.tailReg;
    const len = (this.regs.hi(baseReg) >>> 24) & 0xf;
    const size = 2 ** (Math.max(len, RING_MIN_LEN) + 4);
    const head = (this.regs.lo(headReg) & 0x7fff0) % size;
    const tail = (this.regs.lo(tailReg) & 0x7fff0) % size;
    const next = (tail + 16) % size;
    if (next === head) {
      return FULL; // nothing written or overwritten (test/concurrency/log-flood.test.ts mutates this line)
    }
    const pa = this.regs.base(baseReg) + tail;
    if (!this.mem.contains(pa, 16)) return WRITE_ERROR;
    this.mem.store32(pa, dw[0]!);
    this.mem.store32(pa + 8, dw[2]!);
    this.mem.store32(pa + 12, dw[3]!);
    this.mem.store32(pa + 4, dw[1]!);
    this.regs.setLo(tailReg, next);
    this.regs.setHi(tailReg, 0);
    return WRITTEN;
  }

  /** Control write side effect: LogEn 0->1 starts logging (Run = 1), 1->0 stops it. */
  onControl(oldEn: boolean): void {
    const en = this.regs.test(MMIO_CONTROL, this.bits.logEn);
    if (en && !oldEn) this.regs.setBit(MMIO_STATUS, this.bits.run, true);
    if (!en) this.regs.setBit(MMIO_STATUS, this.bits.run, false);
  }
}

export { STATUS };
