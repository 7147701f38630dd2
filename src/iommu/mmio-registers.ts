/**
 * The MMIO register file (spec: "MMIO registers", 16 KiB window at offsets 0x0000-0x3FFF).
 *
 * Storage is one Uint32Array over the window. Software accesses apply the access kind of
 * every field from spec-tables/registers.json: RW bits take the written value, RO and
 * IOMMU-owned bits ignore writes, W1C bits clear where a 1 is written, undefined bits read 0.
 * Registers whose feature is not advertised read 0 and ignore writes. The IOMMU itself
 * updates its own bits through setBits/clearBits/setReg. 32-bit accesses reach either half
 * of a 64-bit register.
 */
import { CONTROL, MMIO_CONTROL, MMIO_STATUS, MMIO_WINDOW_BYTES, REGISTERS, STATUS, type BitRef, type RegisterSpec } from "../spec/registers.js";

/** Status (low word) run bits: EventLogRun, CmdBufRun, PPRLogRun, GALogRun. */
const RUN_BITS = (STATUS.EventLogRun.mask | STATUS.CmdBufRun.mask | STATUS.PprLogRun.mask | STATUS.GALogRun.mask) >>> 0;
const STATUS_WORD = MMIO_STATUS >>> 2;
const CONTROL_WORD = (MMIO_CONTROL >>> 2) + CONTROL.IommuEn.half;

export class MmioRegisters {
  readonly words = new Uint32Array(MMIO_WINDOW_BYTES / 4);
  private readonly specAt: (RegisterSpec | undefined)[] = [];
  /** Called after a software write that changed a register (offset of the 64-bit register, old low/high). */
  onWrite: (offset: number, oldLo: number, oldHi: number) => void = () => {};

  constructor(present: (feature: string) => boolean, modelResets: Map<string, bigint>) {
    for (const r of REGISTERS) {
      if (r.presentWhen && !present(r.presentWhen)) continue;
      this.specAt[r.offset / 8] = r;
      const reset = r.reset === "model" ? (modelResets.get(r.name) ?? 0n) : r.reset;
      this.words[r.offset / 4] = Number(reset & 0xffffffffn);
      this.words[r.offset / 4 + 1] = Number(reset >> 32n);
    }
  }

  /** Is a register implemented at this 8-byte-aligned offset? */
  implemented(offset: number): boolean { return this.specAt[offset / 8] !== undefined; }
  specOf(offset: number): RegisterSpec | undefined { return this.specAt[Math.floor(offset / 8)]; }

  checkOffset(name: string, offset: number, width: 4 | 8): void {
    if (typeof offset !== "number" || !Number.isInteger(offset)) throw new TypeError(`${name}: offset must be an integer, got ${String(offset)}`);
    if (offset < 0 || offset + width > MMIO_WINDOW_BYTES) throw new RangeError(`${name}: offset 0x${offset.toString(16)} is outside the 16 KiB MMIO window`);
    if (offset % width !== 0) throw new RangeError(`${name}: offset 0x${offset.toString(16)} is not ${width}-byte aligned`);
  }

  /**
   * Software read of one 32-bit half. The Status run bits read as set only while
   * Control.IommuEn = 1: nothing is fetched or logged by a disabled IOMMU's rings (QEMU and
   * VirtualBox report them the same way); the model keeps each ring's own run state, so
   * they read set again when IommuEn returns.
   */
  read32(offset: number): number {
    if (!this.specAt[offset >>> 3]) return 0;
    const i = offset >>> 2;
    if (i === STATUS_WORD && (this.words[CONTROL_WORD]! & CONTROL.IommuEn.mask) === 0) return (this.words[i]! & ~RUN_BITS) >>> 0;
    return this.words[i]!;
  }

  /** Software write of one 32-bit half. */
  write32(offset: number, value: number): void {
    const spec = this.specAt[offset >>> 3];
    if (!spec) return;
    const half = (offset >>> 2) & 1;
    const base = (offset & ~7) >>> 2;
    const oldLo = this.words[base]!, oldHi = this.words[base + 1]!;
    const i = offset >>> 2;
    const old = this.words[i]!;
    const wr = spec.writable[half]!;
    const w1c = spec.w1c[half]!;
    let v = ((old & ~wr) | (value & wr)) >>> 0;
    v = (v & ~(value & w1c)) >>> 0;
    this.words[i] = v;
    this.onWrite(offset & ~7, oldLo, oldHi);
  }

  read64(offset: number): bigint {
    return (BigInt(this.read32(offset + 4)) << 32n) | BigInt(this.read32(offset));
  }

  /** Software 64-bit write: both halves land before the side effects run once. */
  write64(offset: number, value: bigint): void {
    const spec = this.specAt[offset >>> 3];
    if (!spec) return;
    const base = offset >>> 2;
    const oldLo = this.words[base]!, oldHi = this.words[base + 1]!;
    const v = BigInt.asUintN(64, value);
    for (let half = 0; half < 2; half++) {
      const val = Number((v >> BigInt(32 * half)) & 0xffffffffn);
      const old = this.words[base + half]!;
      const wr = spec.writable[half]!, w1c = spec.w1c[half]!;
      this.words[base + half] = (((old & ~wr) | (val & wr)) & ~(val & w1c)) >>> 0;
    }
    this.onWrite(offset, oldLo, oldHi);
  }

  // ---- IOMMU-side access (no access-kind filtering) ----
  lo(offset: number): number { return this.words[offset >>> 2]!; }
  hi(offset: number): number { return this.words[(offset >>> 2) + 1]!; }
  setLo(offset: number, v: number): void { this.words[offset >>> 2] = v >>> 0; }
  setHi(offset: number, v: number): void { this.words[(offset >>> 2) + 1] = v >>> 0; }
  /** Is a one-bit (or multi-bit) field non-zero? */
  test(offset: number, b: BitRef): boolean { return (this.words[(offset >>> 2) + b.half]! & b.mask) !== 0; }
  get(offset: number, b: BitRef): number { return (this.words[(offset >>> 2) + b.half]! & b.mask) >>> b.shift; }
  setBit(offset: number, b: BitRef, on: boolean): void {
    const i = (offset >>> 2) + b.half;
    this.words[i] = (on ? this.words[i]! | b.mask : this.words[i]! & ~b.mask) >>> 0;
  }
  /** The 52-bit base address held in bits 51:12 of a register. */
  base(offset: number): number {
    const i = offset >>> 2;
    return (this.words[i + 1]! & 0xfffff) * 4294967296 + ((this.words[i]! & 0xfffff000) >>> 0);
  }
  snapshot(): number[] { return [...this.words]; }
  restore(w: number[]): void { this.words.set(w); }
}
