/**
 * The interrupt-remapping half of the driver shim: what Linux's AMD IOMMU driver does for
 * interrupts (docs/spec-readings.md irq 1.11, 2.5; drivers/iommu/amd/init.c and iommu.c).
 *
 *   initDeviceTable()  init_device_table: IV = 1 in every DTE (IntCtl = 00b: fixed and
 *                      arbitrated interrupts aborted until a table is attached)
 *   enableFormat()     early_enable_iommu: GAEn (128-bit IRTEs) when EFR.GASup, XTEn when
 *                      EFR.XTSup, NumIntRemapMode = 01b when EFR2.NumIntRemapSup = 01b (6.15+)
 *   enableInterrupts() IntCapXTEn with XTSup (the IOMMU's own interrupts via 0x170/0x178/0x180)
 *   enableVapic()      enable_iommus_vapic: GA log (4 KiB, GALogLen 8) + tail page, head =
 *                      tail = 0, GAIntEn, GALogEn, GAMEn = 001b (when EFR.GAMSup bit 21)
 *   allocate()         first interrupt of a device: a table (512 or 2048 entries), the DTE
 *                      interrupt half (root, IntCtl = 10b, IntTabLen, IV = 1),
 *                      INVALIDATE_DEVTAB_ENTRY + COMPLETION_WAIT; then the IRTEs of a
 *                      multi-vector block aligned to its power of two, written whole, and
 *                      INVALIDATE_INTERRUPT_TABLE + COMPLETION_WAIT. Returns the MSI message
 *                      Linux programs: address 0xFEE0_0000 (| DM with 2K mode), data = index.
 *   free()             zero the entries, INVALIDATE_INTERRUPT_TABLE + COMPLETION_WAIT
 */
import type { AmdIommu } from "../../iommu/amd-iommu.js";
import type { PhysicalMemory } from "../../memory/physical-memory.js";
import type { DeviceTableWriter } from "../../builders/device-table-writer.js";
import { InterruptTable } from "../../builders/interrupt-table.js";
import { buildInvalidateDevtabEntry, buildInvalidateInterruptTable } from "../../spec/commands.js";
import { encodeDte, type DteFields } from "../../spec/dte.js";
import { MSI_WINDOW_BASE, MSI_ADDR_DM } from "../../spec/interrupts.js";
import {
  CONTROL, EFR_FIELDS, EFR2_FIELDS, MMIO_CONTROL, MMIO_EXTENDED_FEATURE, MMIO_EXTENDED_FEATURE_2, MMIO_GA_LOG_BASE,
  MMIO_GA_LOG_HEAD, MMIO_GA_LOG_TAIL, MMIO_GA_LOG_TAIL_ADDRESS,
} from "../../spec/registers.js";
import type { CommandQueue } from "./command-queue.js";
import type { DriverPageSource } from "./iommu-driver.js";

/** An allocated block of remapped interrupts (Linux irq_2_irte + msi_msg). */
export interface RemappedMsi { deviceId: number; index: number; count: number; address: number; data: number }

export class DriverIrqRemapping {
  private readonly tables = new Map<number, InterruptTable>();
  private readonly used = new Map<number, Uint8Array>();
  /** GA log base (0 = vAPIC mode not enabled). */
  gaLog = 0;

  constructor(
    private readonly iommu: AmdIommu,
    private readonly memory: PhysicalMemory,
    private readonly pages: DriverPageSource,
    private readonly queue: CommandQueue,
    private readonly deviceTable: DeviceTableWriter,
  ) {}

  private efr(name: string, second = false): number {
    const f = (second ? EFR2_FIELDS : EFR_FIELDS).find((x) => x.name === name)!;
    const v = this.iommu.mmioRead64(second ? MMIO_EXTENDED_FEATURE_2 : MMIO_EXTENDED_FEATURE);
    return Number((v >> BigInt(f.lo)) & ((1n << BigInt(f.hi - f.lo + 1)) - 1n));
  }
  get ga(): boolean { return this.efr("GASup") === 1; }
  get xt(): boolean { return this.efr("XTSup") === 1; }
  get twoK(): boolean { return this.efr("NumIntRemapSup", true) === 1; }

  private set(bits: { half: 0 | 1; mask: number }[], field?: { ref: { lo: number; hi: number }; value: number }): void {
    let v = this.iommu.mmioRead64(MMIO_CONTROL);
    for (const b of bits) v |= BigInt(b.mask) << BigInt(32 * b.half);
    if (field) v = (v & ~(((1n << BigInt(field.ref.hi - field.ref.lo + 1)) - 1n) << BigInt(field.ref.lo))) | (BigInt(field.value) << BigInt(field.ref.lo));
    this.iommu.mmioWrite64(MMIO_CONTROL, v);
  }

  /** The DTE interrupt half Linux keeps for a device: IV = 1, and its table once it has one. */
  interruptFields(deviceId: number): Partial<DteFields> {
    const t = this.tables.get(deviceId);
    return t ? t.dteFields() : { IV: true };
  }

  /** init_device_table: IV = 1 in every DTE (DTE bit 128 = dword 4 bit 0). */
  initDeviceTable(): void {
    for (let id = 0; id < this.deviceTable.entries; id++) {
      const pa = this.deviceTable.address(id) + 16;
      this.memory.write32(pa, (this.memory.read32(pa) | 1) >>> 0);
    }
  }

  /** early_enable_iommu's interrupt part: GAEn, XTEn (needs GAEn), 2K mode. */
  enableFormat(): void {
    if (this.ga) this.set([CONTROL.GAEn]);
    if (this.ga && this.xt) this.set([CONTROL.XTEn]);
    if (this.twoK) this.set([], { ref: CONTROL.NumIntRemapMode, value: 1 });
  }

  /** The IOMMU's own interrupts through the XT registers (x2APIC systems). */
  enableInterrupts(): void {
    if (this.xt) this.set([CONTROL.IntCapXTEn]);
  }

  /** enable_iommus_vapic: GA log, then GAMEn = 001b. */
  enableVapic(): void {
    if (!this.ga || (this.efr("GAMSup") & 1) === 0) return;
    const io = this.iommu;
    this.gaLog = this.pages.allocContiguous(1);
    const tail = this.pages.alloc();
    io.mmioWrite64(MMIO_GA_LOG_BASE, BigInt(this.gaLog) | (8n << 56n));
    io.mmioWrite64(MMIO_GA_LOG_TAIL_ADDRESS, BigInt(tail));
    io.mmioWrite64(MMIO_GA_LOG_HEAD, 0n);
    io.mmioWrite64(MMIO_GA_LOG_TAIL, 0n);
    this.set([CONTROL.GAIntEn]);
    this.set([CONTROL.GALogEn]);
    this.set([], { ref: CONTROL.GAMEn, value: 1 });
  }

  /**
   * Allocate `count` (a power of two, 1..32) remapped interrupts for a device, all to `vector`
   * + i at `destination` (physical mode, fixed). Returns the MSI the device is programmed with.
   */
  allocate(deviceId: number, count: number, vector: number, destination: number): RemappedMsi {
    if (!Number.isInteger(count) || count < 1 || count > 32 || (count & (count - 1)) !== 0) throw new RangeError(`allocate: count must be a power of two 1..32, got ${String(count)}`);
    if (!Number.isInteger(vector) || vector < 0x10 || vector + count > 0x100) throw new RangeError(`allocate: vector must be an integer 0x10..0x${(0x100 - count).toString(16)}, got ${String(vector)}`);
    let t = this.tables.get(deviceId);
    if (t === undefined) {
      t = new InterruptTable(this.memory, this.pages, { format: this.ga ? "128" : "32", intTabLen: this.twoK ? 11 : 9 });
      this.tables.set(deviceId, t);
      this.used.set(deviceId, new Uint8Array(t.entries));
      // the DTE's interrupt half is dwords 4-5 (bits 191:128): rewrite them, upper dword first
      const pa = this.deviceTable.address(deviceId);
      const dw = encodeDte({ ...this.deviceTable.get(deviceId), ...t.dteFields() });
      this.memory.write32(pa + 20, dw[5]!);
      this.memory.write32(pa + 16, dw[4]!);
      this.queue.queue(buildInvalidateDevtabEntry(deviceId));
      this.queue.sync();
    }
    const used = this.used.get(deviceId)!;
    let index = -1;
    for (let i = 0; i + count <= t.entries && index < 0; i += count) if (used.subarray(i, i + count).every((u) => u === 0)) index = i;
    if (index < 0) throw new Error(`allocate: no ${count} free IRTEs left for device ${deviceId}`);
    for (let i = 0; i < count; i++) {
      used[index + i] = 1;
      t.set(index + i, { RemapEn: true, IntType: 0, DM: false, Vector: vector + i, Destination: destination });
    }
    this.queue.queue(buildInvalidateInterruptTable(deviceId));
    this.queue.sync();
    return { deviceId, index, count, address: (MSI_WINDOW_BASE | (this.twoK ? MSI_ADDR_DM : 0)) >>> 0, data: index };
  }

  /** Free a block: zero its entries, INVALIDATE_INTERRUPT_TABLE + COMPLETION_WAIT. */
  free(msi: RemappedMsi): void {
    const t = this.tables.get(msi.deviceId);
    const used = this.used.get(msi.deviceId);
    if (!t || !used) throw new Error(`free: device ${msi.deviceId} has no interrupt table`);
    for (let i = 0; i < msi.count; i++) { t.clear(msi.index + i); used[msi.index + i] = 0; }
    this.queue.queue(buildInvalidateInterruptTable(msi.deviceId));
    this.queue.sync();
  }
}
