/**
 * PPR log entry codec (PAGE_SERVICE_REQUEST, 16 bytes), built from spec-tables/ppr.json.
 * The same layout carries the INVALID_PPR_REQUEST event (code 9 in bits 63:60).
 */
import table from "../../spec-tables/ppr.json" with { type: "json" };
import { dwordMask, field, getField, getFieldBig, type FieldSpec } from "./bitfield.js";

export const PPR_FIELDS: readonly FieldSpec[] = table.fields;
export const PPR_ENTRY_BYTES = table.entryBytes;
export const PPR_CODE_PAGE_SERVICE_REQUEST = table.pageServiceRequestCode;
const m1 = (n: string) => { const f = field(table.fields, n); return dwordMask(1, f.lo, f.hi); };
export const PPR_LAST = m1("Last");
export const PPR_EXEC = m1("EXEC");
export const PPR_READ = m1("READ");
export const PPR_WRITE = m1("WRITE");
export const PPR_US = m1("US");
export const PPR_RZ = m1("RZ");
export const PPR_GN = m1("GN");

export interface PprRequestFields {
  deviceId: number; pasid: number; prgIndex: number; last: boolean;
  exec: boolean; read: boolean; write: boolean; user: boolean; rz: boolean; gn: boolean;
  /** page address as two halves (low half bits 11:0 cleared) */
  addrLo: number; addrHi: number;
}

/** Write a PPR-layout entry with code `code` (1 = page service request, 9 = INVALID_PPR_REQUEST event). */
export function encodePprEntry(out: Uint32Array, code: number, r: PprRequestFields): Uint32Array {
  out[0] = ((r.deviceId & 0xffff) | ((r.pasid & 0xffff) << 16)) >>> 0;
  out[1] = ((r.prgIndex & 0x1ff) | (r.last ? PPR_LAST : 0) | (((r.pasid >>> 16) & 0xf) << 10) |
    (r.exec ? PPR_EXEC : 0) | (r.read ? PPR_READ : 0) | (r.write ? PPR_WRITE : 0) | (r.user ? PPR_US : 0) |
    (r.rz ? PPR_RZ : 0) | (r.gn ? PPR_GN : 0) | ((code & 0xf) << 28)) >>> 0;
  out[2] = (r.addrLo & ~0xfff) >>> 0;
  out[3] = r.addrHi >>> 0;
  return out;
}

export interface DecodedPprEntry extends Omit<PprRequestFields, "addrLo" | "addrHi"> { code: number; address: bigint }
export function decodePprEntry(dw: ArrayLike<number>): DecodedPprEntry {
  const d1 = dw[1]!;
  return {
    code: (d1 >>> 28) & 0xf,
    deviceId: getField(dw, 0, 15),
    pasid: getField(dw, 16, 31) | (getField(dw, 42, 45) << 16),
    prgIndex: getField(dw, 32, 40),
    last: (d1 & PPR_LAST) !== 0,
    exec: (d1 & PPR_EXEC) !== 0, read: (d1 & PPR_READ) !== 0, write: (d1 & PPR_WRITE) !== 0,
    user: (d1 & PPR_US) !== 0, rz: (d1 & PPR_RZ) !== 0, gn: (d1 & PPR_GN) !== 0,
    address: getFieldBig(dw, 64, 127),
  };
}
