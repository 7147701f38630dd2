/**
 * Writes Device Table Entries into memory in the order Linux uses (upper 128 bits first,
 * the half holding V and GV last; docs/spec-readings.md reg 3), from named fields.
 */
import type { PhysicalMemory } from "../memory/physical-memory.js";
import { decodeDte, encodeDte, type DteFields } from "../spec/dte.js";

export class DeviceTableWriter {
  constructor(private readonly memory: PhysicalMemory, readonly base: number, readonly entries = 65536) {}
  /** Value for the Device Table Base register covering `entries` DTEs. */
  get registerValue(): bigint {
    const pages = Math.ceil((this.entries * 32) / 4096);
    return BigInt(this.base) | BigInt(pages - 1);
  }
  address(deviceId: number): number { return this.base + deviceId * 32; }
  set(deviceId: number, fields: Partial<DteFields>): void {
    const dw = encodeDte(fields);
    const pa = this.address(deviceId);
    for (let i = 7; i >= 0; i--) this.memory.write32(pa + 4 * i, dw[i]!);
  }
  /** Write raw dwords (garbage DTEs for robustness tests). */
  setRaw(deviceId: number, dw: ArrayLike<number>): void {
    const pa = this.address(deviceId);
    for (let i = 7; i >= 0; i--) this.memory.write32(pa + 4 * i, dw[i]! >>> 0);
  }
  get(deviceId: number): DteFields {
    const pa = this.address(deviceId);
    return decodeDte(Array.from({ length: 8 }, (_, i) => this.memory.read32(pa + 4 * i)));
  }
}
