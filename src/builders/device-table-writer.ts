/**
 * Writes Device Table Entries into memory in the order Linux uses (upper 128 bits first,
 * the half holding V and GV last; docs/spec-readings.md reg 3), from named fields.
 */
import type { PhysicalMemory } from "../memory/physical-memory.js";
import { DTE_FIELDS, DteFields, decodeDte, encodeDte } from "../spec/dte.js";
import { field } from "../spec/bitfield.js";
import { checkInteger, checkPhysical } from "./arguments.js";

/** Pointer fields: the alignment the DTE's field holds them at. */
const POINTERS: Record<string, number> = { HostPageTableRootPtr: 4096, GCR3TableRootPtr: 4096, IntTableRootPtr: 64 };
const DEFAULTS = new DteFields() as unknown as Record<string, number | boolean>;

/**
 * The fields of a DTE as given to set(): every name a DteFields field, booleans for flags,
 * integers that fit the field's width, pointers aligned as the entry holds them (an error
 * names the first that is not, rather than masking it).
 */
export function checkDteFields(where: string, fields: unknown): Partial<DteFields> {
  if (fields === null || typeof fields !== "object" || Array.isArray(fields)) throw new TypeError(`${where}: fields must be an object of DTE fields`);
  for (const [k, v] of Object.entries(fields)) {
    if (!(k in DEFAULTS)) throw new RangeError(`${where}: fields.${k} is not a DTE field (known: ${Object.keys(DEFAULTS).join(", ")})`);
    if (typeof DEFAULTS[k] === "boolean") {
      if (typeof v !== "boolean") throw new TypeError(`${where}: fields.${k} must be a boolean, got ${JSON.stringify(v) ?? String(v)}`);
    } else if (k in POINTERS) {
      checkPhysical(where, `fields.${k}`, v, POINTERS[k]!);
    } else {
      const f = field(DTE_FIELDS, k);
      checkInteger(where, `fields.${k}`, v, 2 ** (f.hi - f.lo + 1) - 1);
    }
  }
  return fields as Partial<DteFields>;
}

export class DeviceTableWriter {
  constructor(private readonly memory: PhysicalMemory, readonly base: number, readonly entries = 65536) {
    checkPhysical("DeviceTableWriter", "base", base, 4096);
    checkInteger("DeviceTableWriter", "entries", entries, 65536, 1);
    if (base + entries * 32 > memory.bytes) throw new RangeError(`DeviceTableWriter: a ${entries}-entry table at 0x${base.toString(16)} does not fit in memory (${memory.bytes} bytes)`);
  }
  /** Value for the Device Table Base register covering `entries` DTEs. */
  get registerValue(): bigint {
    const pages = Math.ceil((this.entries * 32) / 4096);
    return BigInt(this.base) | BigInt(pages - 1);
  }
  address(deviceId: number): number {
    // any DeviceID (a DTE beyond the programmed table is a robustness case); memory bounds are write32's
    checkInteger("DeviceTableWriter", "deviceId", deviceId, 0xffff);
    return this.base + deviceId * 32;
  }
  set(deviceId: number, fields: Partial<DteFields>): void {
    const dw = encodeDte(checkDteFields("DeviceTableWriter.set", fields));
    const pa = this.address(deviceId);
    for (let i = 7; i >= 0; i--) this.memory.write32(pa + 4 * i, dw[i]!);
  }
  /** Write raw dwords (garbage DTEs for robustness tests). */
  setRaw(deviceId: number, dw: ArrayLike<number>): void {
    if (dw === null || typeof dw !== "object" || dw.length !== 8) throw new RangeError("DeviceTableWriter.setRaw: dw must be 8 dwords");
    for (let i = 0; i < 8; i++) checkInteger("DeviceTableWriter.setRaw", `dw[${i}]`, dw[i], 0xffff_ffff, -0x8000_0000);
    const pa = this.address(deviceId);
    for (let i = 7; i >= 0; i--) this.memory.write32(pa + 4 * i, dw[i]! >>> 0);
  }
  get(deviceId: number): DteFields {
    const pa = this.address(deviceId);
    return decodeDte(Array.from({ length: 8 }, (_, i) => this.memory.read32(pa + 4 * i)));
  }
}
