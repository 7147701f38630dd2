/**
 * The guest virtual APIC log (spec: "Guest Virtual APIC Log", GA log;
 * docs/spec-readings.md irq 2.1-2.4).
 *
 * A ring of 8-byte entries at GA Log Base (0x0E0, bits 51:12; GALogLen at 59:56: ring bytes
 * = 2^(GALogLen + 4), Linux writes 8 for 512 entries, a lower value reads as 8), with
 * software's Head at 0x2040 and the IOMMU's Tail at 0x2048 (byte offsets). A guest-mode
 * interrupt for a vCPU that is not running (IRTE.IsRun = 0, GALogIntr = 1) appends
 * {GATag, DeviceID, type 1}: dword 0 first, then dword 1 (which holds the type), then Tail.
 * Logging needs Control.GALogEn and Status.GALogRun; GALogEn 0 -> 1 sets GALogRun, 1 -> 0
 * clears it. When the next Tail would equal Head the log is full: nothing is written,
 * Status.GALOverflow is set, GALogRun clears and the GA interrupt fires if GAIntEn, until
 * software restarts the log (2.4: clear GALogEn, write 1 to GALOverflow, set GALogEn). A
 * written entry sets Status.GAInt and raises the GA interrupt when GAIntEn.
 *
 * Tail mirror (GA Log Tail Address 0x0E8, bits 51:3; reg 1.1 "SPA where the IOMMU mirrors the
 * GA tail", semantics UNCERTAIN irq 7.15): after each entry and the Tail register, the new
 * Tail is also written to that 8-byte location as the Tail register reads (byte offset, high
 * dword 0; the low dword last, with a notify for a host waiting on it in shared mode). Reset
 * value 0 = not programmed: nothing is mirrored (a driver that never sets it sees no write at
 * SPA 0). A mirror outside memory is skipped and counted in writeErrors (the entry stays).
 */
import type { MemoryPort } from "../../memory/memory-port.js";
import {
  CONTROL, MMIO_CONTROL, MMIO_GA_LOG_BASE, MMIO_GA_LOG_HEAD, MMIO_GA_LOG_TAIL, MMIO_GA_LOG_TAIL_ADDRESS, MMIO_STATUS, RING_MIN_LEN, STATUS,
} from "../../spec/registers.js";
import { GA_LOG_ENTRY_BYTES, GA_LOG_TYPE_GUEST_NOT_RUNNING, encodeGaLogEntry } from "../../spec/interrupts.js";
import type { MmioRegisters } from "../mmio-registers.js";

/** writeErrors: entries (dropped) and tail mirrors (entry kept) that lay outside memory. */
export interface GaLogStats { written: number; overflows: number; dropped: number; writeErrors: number }

const POINTER_MASK = 0x7fff8;

export class GaLog {
  readonly stats: GaLogStats = { written: 0, overflows: 0, dropped: 0, writeErrors: 0 };

  constructor(
    private readonly regs: MmioRegisters,
    private readonly mem: MemoryPort,
    private readonly raise: () => void,
  ) {}

  sizeBytes(): number {
    const len = (this.regs.hi(MMIO_GA_LOG_BASE) >>> 24) & 0xf;
    return 2 ** (Math.max(len, RING_MIN_LEN) + 4);
  }

  running(): boolean {
    return this.regs.test(MMIO_CONTROL, CONTROL.GALogEn) && this.regs.test(MMIO_STATUS, STATUS.GALogRun);
  }

  /** Entries waiting for software. */
  pending(): number {
    const size = this.sizeBytes();
    const head = (this.regs.lo(MMIO_GA_LOG_HEAD) & POINTER_MASK) % size;
    const tail = (this.regs.lo(MMIO_GA_LOG_TAIL) & POINTER_MASK) % size;
    return ((tail - head + size) % size) / GA_LOG_ENTRY_BYTES;
  }

  /** Append a "guest interrupt, vCPU not running" entry; false when not written (off, overflow, outside memory). */
  append(gaTag: number, deviceId: number): boolean {
    if (!this.running()) { this.stats.dropped++; return false; }
    const r = this.regs;
    const size = this.sizeBytes();
    const head = (r.lo(MMIO_GA_LOG_HEAD) & POINTER_MASK) % size;
    const tail = (r.lo(MMIO_GA_LOG_TAIL) & POINTER_MASK) % size;
    const next = (tail + GA_LOG_ENTRY_BYTES) % size;
    const intEn = r.test(MMIO_CONTROL, CONTROL.GAIntEn);
    if (next === head) {
      r.setBit(MMIO_STATUS, STATUS.GALOverflow, true);
      r.setBit(MMIO_STATUS, STATUS.GALogRun, false);
      this.stats.overflows++;
      this.stats.dropped++;
      if (intEn) this.raise();
      return false;
    }
    const pa = r.base(MMIO_GA_LOG_BASE) + tail;
    if (!this.mem.contains(pa, GA_LOG_ENTRY_BYTES)) { this.stats.writeErrors++; this.stats.dropped++; return false; }
    const [d0, d1] = encodeGaLogEntry(gaTag, deviceId, GA_LOG_TYPE_GUEST_NOT_RUNNING);
    this.mem.store32(pa, d0);
    this.mem.store32(pa + 4, d1);
    r.setLo(MMIO_GA_LOG_TAIL, next);
    r.setHi(MMIO_GA_LOG_TAIL, 0);
    this.mirrorTail(next);
    this.stats.written++;
    if (intEn) { r.setBit(MMIO_STATUS, STATUS.GAInt, true); this.raise(); }
    return true;
  }

  /** Write the new Tail to the tail mirror at GA Log Tail Address (not when that register is 0). */
  private mirrorTail(tail: number): void {
    const r = this.regs;
    const lo = (r.lo(MMIO_GA_LOG_TAIL_ADDRESS) & 0xffff_fff8) >>> 0, hi = r.hi(MMIO_GA_LOG_TAIL_ADDRESS) & 0xfffff;
    if (lo === 0 && hi === 0) return;
    const pa = hi * 4294967296 + lo;
    if (!this.mem.contains(pa, 8)) { this.stats.writeErrors++; return; }
    this.mem.store32(pa + 4, 0);
    this.mem.storeNotify32(pa, tail);
  }

  /** Control write side effect: GALogEn 0 -> 1 starts the log (GALogRun = 1), 1 -> 0 stops it. */
  onControl(oldEn: boolean): void {
    const en = this.regs.test(MMIO_CONTROL, CONTROL.GALogEn);
    if (en && !oldEn) this.regs.setBit(MMIO_STATUS, STATUS.GALogRun, true);
    if (!en) this.regs.setBit(MMIO_STATUS, STATUS.GALogRun, false);
  }
}
