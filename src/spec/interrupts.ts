/**
 * Interrupt remapping layouts (spec: "Interrupt Remapping Table Entry", 32-bit and 128-bit
 * formats; MSI address/data; XT interrupt control registers; GA log entry), built from
 * spec-tables/interrupts.json (docs/spec-readings.md irq 1.3-1.6, 1.10, 2.2).
 *
 * An IRTE is handled as little-endian dwords: one for the 32-bit format, four for the
 * 128-bit formats (dw0-dw1 = lo, bits 63:0; dw2-dw3 = hi, bits 127:64). decodeIrte fills a
 * reusable IrteFields without allocating; the encoders serve builders, tests and drivers.
 */
import table from "../../spec-tables/interrupts.json" with { type: "json" };
import { field, getField, reservedMasks, setField, dwordMask, type FieldSpec } from "./bitfield.js";

export interface IrteFieldSpec extends FieldSpec { readonly uncached?: boolean }
export const IRTE32_FIELDS: readonly IrteFieldSpec[] = table.irte32.fields;
export const IRTE128_FIELDS: readonly IrteFieldSpec[] = table.irte128.fields;
export const IRTE128_GUEST_FIELDS: readonly IrteFieldSpec[] = table.irte128Guest.fields;
export const IRTE32_BYTES = table.irte32.bytes;
export const IRTE128_BYTES = table.irte128.bytes;
export const MSI_WINDOW_BASE = Number.parseInt(table.msiWindow.base, 16);
export const MSI_WINDOW_BYTES = Number.parseInt(table.msiWindow.bytes, 16);
export const MSI_ADDRESS_FIELDS: readonly FieldSpec[] = table.msiAddress;
export const MSI_DATA_FIELDS: readonly FieldSpec[] = table.msiData;
export const XT_INTERRUPT_CONTROL_FIELDS: readonly FieldSpec[] = table.xtInterruptControl;
export const GA_LOG_ENTRY_FIELDS: readonly FieldSpec[] = table.gaLogEntry.fields;
export const GA_LOG_ENTRY_BYTES = table.gaLogEntry.bytes;
export const GA_LOG_TYPE_GUEST_NOT_RUNNING = table.gaLogEntry.typeGuestNotRunning;
/** Delivery modes (MSI data[10:8], IRTE IntType). */
export const DELIVERY_MODE = table.deliveryModes as Readonly<{ fixed: number; arbitrated: number; smi: number; nmi: number; init: number; extint: number }>;
export const VAPIC_IRR_OFFSET = Number.parseInt(table.vapicIrr.offset, 16);
export const VAPIC_IRR_STRIDE = Number.parseInt(table.vapicIrr.stride, 16);

const bit = (fs: readonly FieldSpec[], n: string) => { const f = field(fs, n); return dwordMask(f.lo >>> 5, f.lo, f.hi); };
/** MSI address: destination-mode bit (bit 2) and redirection hint (bit 3). */
export const MSI_ADDR_DM = bit(MSI_ADDRESS_FIELDS, "DM");
export const MSI_ADDR_RH = bit(MSI_ADDRESS_FIELDS, "RH");
/** MSI data: delivery mode shift (data[10:8]) and index mask (data[10:0]). */
export const MSI_DATA_DELIVERY_SHIFT = field(MSI_DATA_FIELDS, "DeliveryMode").lo;
export const MSI_DATA_INDEX_MASK = bit(MSI_DATA_FIELDS, "Index");
export const MSI_DATA_TRIGGER_LEVEL_MASK = bit(MSI_DATA_FIELDS, "Level") | bit(MSI_DATA_FIELDS, "TriggerMode");

/** Per-dword masks of the reserved bits of each format (4 dwords; the 32-bit format uses dw0). */
export const IRTE32_RESERVED: Uint32Array = reservedMasks(IRTE32_FIELDS, 4);
export const IRTE128_RESERVED: Uint32Array = reservedMasks(IRTE128_FIELDS, 4);
export const IRTE128_GUEST_RESERVED: Uint32Array = reservedMasks(IRTE128_GUEST_FIELDS, 4);
/** Per-dword masks of the guest-mode fields the IOMMU does not cache (IsRun, Destination, GATag, GALogIntr; digest 1.8). */
export const IRTE128_GUEST_UNCACHED: Uint32Array = (() => {
  const m = new Uint32Array(4);
  for (const f of IRTE128_GUEST_FIELDS) if (f.uncached) for (let w = 0; w < 4; w++) m[w] = (m[w]! | dwordMask(w, f.lo, f.hi)) >>> 0;
  return m;
})();
/** Guest-mode bit 5 (GAPPIDis): reserved unless EFR2.GAPPIDisSup. */
export const IRTE128_GUEST_GAPPIDIS = bit(IRTE128_GUEST_FIELDS, "GAPPIDis");

/** Decoded IRTE (any format). A class with every field declared (fast layout; reused per request). */
export class IrteFields {
  RemapEn = false; SupIOPF = false; IntType = 0; RqEoi = false; DM = false; GuestMode = false;
  /** Full destination: 8 bits (32-bit format) or Destination[31:0] of a 128-bit entry. */
  Destination = 0;
  Vector = 0;
  // guest mode (128-bit, GuestMode = 1)
  GALogIntr = false; GAPPIDis = false; IsRun = false; GATag = 0;
  /** SPA of the vAPIC backing page (bits 115:76 << 12). */
  VapicBackingPage = 0;
}

/** Decode an IRTE: `wide` = 128-bit format (4 dwords), else the 32-bit format in dw[0]. */
export function decodeIrte(dw: ArrayLike<number>, wide: boolean, out: IrteFields = new IrteFields()): IrteFields {
  const d0 = dw[0]! >>> 0;
  out.RemapEn = (d0 & 1) !== 0;
  out.SupIOPF = (d0 & 2) !== 0;
  out.GuestMode = (d0 & 0x80) !== 0;
  if (!wide) {
    out.IntType = (d0 >>> 2) & 7; out.RqEoi = (d0 & 0x20) !== 0; out.DM = (d0 & 0x40) !== 0;
    out.Destination = (d0 >>> 8) & 0xff; out.Vector = (d0 >>> 16) & 0xff;
    out.GALogIntr = false; out.GAPPIDis = false; out.IsRun = false; out.GATag = 0; out.VapicBackingPage = 0;
    return out;
  }
  out.Destination = ((d0 >>> 8) | ((dw[3]! >>> 24) << 24)) >>> 0;
  out.Vector = dw[2]! & 0xff;
  if (out.GuestMode) {
    out.IntType = 0; out.RqEoi = false; out.DM = false;
    out.GALogIntr = (d0 & 4) !== 0; out.GAPPIDis = (d0 & 0x20) !== 0; out.IsRun = (d0 & 0x40) !== 0;
    out.GATag = dw[1]! >>> 0;
    out.VapicBackingPage = getField(dw, 76, 115) * 4096;
  } else {
    out.IntType = (d0 >>> 2) & 7; out.RqEoi = (d0 & 0x20) !== 0; out.DM = (d0 & 0x40) !== 0;
    out.GALogIntr = false; out.GAPPIDis = false; out.IsRun = false; out.GATag = 0; out.VapicBackingPage = 0;
  }
  return out;
}

function checkInt(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`IRTE field ${name} must be an integer 0..${max}, got ${String(v)}`);
}

/** The 32-bit IRTE (Control.GAEn = 0) as a number. Out-of-range values are refused. */
export function encodeIrte32(f: Partial<IrteFields>): number {
  const dw = [0];
  const put = (n: string, v: number | boolean | undefined, max: number) => {
    if (v === undefined) return;
    const x = typeof v === "boolean" ? (v ? 1 : 0) : v;
    checkInt(n, x, max);
    const s = field(IRTE32_FIELDS, n); setField(dw, s.lo, s.hi, x);
  };
  put("RemapEn", f.RemapEn, 1); put("SupIOPF", f.SupIOPF, 1); put("IntType", f.IntType, 7); put("RqEoi", f.RqEoi, 1);
  put("DM", f.DM, 1); put("GuestMode", f.GuestMode, 1); put("Destination", f.Destination, 0xff); put("Vector", f.Vector, 0xff);
  return dw[0]! >>> 0;
}

/** A 128-bit IRTE (Control.GAEn = 1) as 4 dwords; GuestMode selects the guest (vAPIC) layout. */
export function encodeIrte128(f: Partial<IrteFields>): Uint32Array {
  const dw = new Uint32Array(4);
  const guest = f.GuestMode === true;
  const fs = guest ? IRTE128_GUEST_FIELDS : IRTE128_FIELDS;
  const put = (n: string, v: number | boolean | undefined, max: number) => {
    if (v === undefined) return;
    const x = typeof v === "boolean" ? (v ? 1 : 0) : v;
    checkInt(n, x, max);
    const s = field(fs, n); setField(dw, s.lo, s.hi, x);
  };
  put("RemapEn", f.RemapEn, 1); put("SupIOPF", f.SupIOPF, 1); put("GuestMode", f.GuestMode, 1); put("Vector", f.Vector, 0xff);
  if (f.Destination !== undefined) {
    checkInt("Destination", f.Destination, 0xffffffff);
    put("DestinationLo", f.Destination & 0xffffff, 0xffffff); put("DestinationHi", f.Destination >>> 24, 0xff);
  }
  if (guest) {
    put("GALogIntr", f.GALogIntr, 1); put("GAPPIDis", f.GAPPIDis, 1); put("IsRun", f.IsRun, 1); put("GATag", f.GATag, 0xffffffff);
    if (f.VapicBackingPage !== undefined) {
      if (!Number.isInteger(f.VapicBackingPage) || f.VapicBackingPage < 0 || f.VapicBackingPage % 4096 !== 0 || f.VapicBackingPage >= 2 ** 52) {
        throw new RangeError(`IRTE field VapicBackingPage must be a 4 KiB-aligned SPA below 2^52, got ${String(f.VapicBackingPage)}`);
      }
      put("VapicBackingPage", f.VapicBackingPage / 4096, 2 ** 40 - 1);
    }
  } else {
    put("IntType", f.IntType, 7); put("RqEoi", f.RqEoi, 1); put("DM", f.DM, 1);
  }
  return dw;
}

/** Decoded GA log entry. */
export interface GaLogEntry { gaTag: number; deviceId: number; type: number }
export function encodeGaLogEntry(gaTag: number, deviceId: number, type: number): [number, number] {
  return [gaTag >>> 0, ((deviceId & 0xffff) | ((type & 0xf) << 28)) >>> 0];
}
export function decodeGaLogEntry(dw: ArrayLike<number>): GaLogEntry {
  return { gaTag: dw[0]! >>> 0, deviceId: dw[1]! & 0xffff, type: (dw[1]! >>> 28) & 0xf };
}

/** An XT interrupt control register (0x170 / 0x178 / 0x180) decoded. */
export interface XtInterruptControl { destination: number; destinationMode: number; vector: number; deliveryMode: number }
export function decodeXtInterruptControl(lo: number, hi: number): XtInterruptControl {
  return {
    destinationMode: (lo >>> 2) & 1,
    destination: ((lo >>> 8) | ((hi >>> 24) << 24)) >>> 0,
    vector: hi & 0xff,
    deliveryMode: (hi >>> 8) & 1,
  };
}
