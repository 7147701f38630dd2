/**
 * Event log entry codecs (16-byte events, code in bits 63:60), built from
 * spec-tables/events.json. encodeEvent writes into a caller-supplied Uint32Array(4) so the
 * fault path does not allocate.
 */
import table from "../../spec-tables/events.json" with { type: "json" };
import { dwordMask, field, getField, getFieldBig, type FieldSpec } from "./bitfield.js";

export const EVENT_BYTES = table.entryBytes;
export const EVENT_FLAG_FIELDS: readonly FieldSpec[] = table.flags;
const flag = (n: string) => dwordMask(1, field(table.flags, n).lo, field(table.flags, n).hi);
/** Flag masks within dw1. */
export const EVT_GN = flag("GN");
export const EVT_NX = flag("NX");
export const EVT_US = flag("US");
export const EVT_I = flag("I");
export const EVT_PR = flag("PR");
export const EVT_RW = flag("RW");
export const EVT_PE = flag("PE");
export const EVT_RZ = flag("RZ");
export const EVT_TR = flag("TR");
export const EVT_TYPE_SHIFT = field(table.flags, "Type").lo - 32;

const code = (n: string) => { const e = table.events.find((x) => x.name === n); if (!e) throw new Error(n); return e.code; };
export const EV_ILLEGAL_DEV_TABLE_ENTRY = code("ILLEGAL_DEV_TABLE_ENTRY");
export const EV_IO_PAGE_FAULT = code("IO_PAGE_FAULT");
export const EV_DEV_TAB_HARDWARE_ERROR = code("DEV_TAB_HARDWARE_ERROR");
export const EV_PAGE_TAB_HARDWARE_ERROR = code("PAGE_TAB_HARDWARE_ERROR");
export const EV_ILLEGAL_COMMAND_ERROR = code("ILLEGAL_COMMAND_ERROR");
export const EV_COMMAND_HARDWARE_ERROR = code("COMMAND_HARDWARE_ERROR");
export const EV_IOTLB_INV_TIMEOUT = code("IOTLB_INV_TIMEOUT");
export const EV_INVALID_DEVICE_REQUEST = code("INVALID_DEVICE_REQUEST");
export const EV_INVALID_PPR_REQUEST = code("INVALID_PPR_REQUEST");
/** By event code: dw1[15:0] holds the DomainID when GN = 0 (the event's layout names it DomainOrPASID), else PASID[15:0]. */
export const EVENT_TAG_IS_DOMAIN: readonly boolean[] = Array.from({ length: 16 },
  (_, c) => table.events.some((e) => e.code === c && (e.fields ?? []).some((f) => f.name === "DomainOrPASID")));
export const EVENT_NAMES: Readonly<Record<number, string>> = Object.fromEntries(table.events.map((e) => [e.code, e.name]));
export const HW_ERROR_TYPE = table.hardwareErrorTypes;
export const INVALID_DEVICE_REQUEST_TYPE = table.invalidDeviceRequestTypes;

/**
 * Generic event layout: DeviceID dw0[15:0], PASID[19:16] dw0[19:16], DomainID or PASID[15:0]
 * dw1[15:0], flags dw1[27:16] (pass EVT_* masks, already positioned in dw1), code dw1[31:28],
 * address dw2 (low) / dw3 (high). `tag` is the 16-bit DomainID or low PASID bits.
 */
export function encodeEvent(out: Uint32Array, code: number, deviceId: number, pasidHigh: number, tag: number,
  flags: number, addrLo: number, addrHi: number): Uint32Array {
  out[0] = ((deviceId & 0xffff) | ((pasidHigh & 0xf) << 16)) >>> 0;
  out[1] = ((tag & 0xffff) | (flags & 0x0fff0000) | ((code & 0xf) << 28)) >>> 0;
  out[2] = addrLo >>> 0;
  out[3] = addrHi >>> 0;
  return out;
}

export interface DecodedEvent {
  code: number; name: string; deviceId: number; pasid: number; domainId: number;
  flags: { GN: boolean; NX: boolean; US: boolean; I: boolean; PR: boolean; RW: boolean; PE: boolean; RZ: boolean; TR: boolean; Type: number };
  address: bigint;
  raw: number[];
}

/** Decode any event (generic layout; INVALID_PPR_REQUEST in the PPR layout via decodePprEntry). */
export function decodeEvent(dw: ArrayLike<number>): DecodedEvent {
  const c = (dw[1]! >>> 28) & 0xf;
  const d1 = dw[1]!;
  const gn = (d1 & EVT_GN) !== 0;
  const low = getField(dw, 32, 47);
  return {
    code: c, name: EVENT_NAMES[c] ?? `UNKNOWN_${c}`,
    deviceId: getField(dw, 0, 15),
    pasid: gn || c === EV_ILLEGAL_DEV_TABLE_ENTRY || c === EV_INVALID_DEVICE_REQUEST ? (getField(dw, 16, 19) << 16) | low : 0,
    domainId: gn ? 0 : low,
    flags: {
      GN: gn, NX: (d1 & EVT_NX) !== 0, US: (d1 & EVT_US) !== 0, I: (d1 & EVT_I) !== 0, PR: (d1 & EVT_PR) !== 0,
      RW: (d1 & EVT_RW) !== 0, PE: (d1 & EVT_PE) !== 0, RZ: (d1 & EVT_RZ) !== 0, TR: (d1 & EVT_TR) !== 0,
      Type: (d1 >>> EVT_TYPE_SHIFT) & 7,
    },
    address: getFieldBig(dw, 64, 127),
    raw: Array.from({ length: 4 }, (_, i) => dw[i]! >>> 0),
  };
}
