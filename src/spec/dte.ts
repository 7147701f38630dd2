/**
 * Device Table Entry codec, DTE bits 255:0, built from spec-tables/dte.json.
 *
 * A DTE is 8 little-endian dwords. decodeDte fills a DteFields object (numbers and
 * booleans; reusable, no allocation when `out` is given); encodeDte builds the dwords
 * from named fields, for tests, table builders and the driver shim.
 */
import table from "../../spec-tables/dte.json" with { type: "json" };
import { field, getField, reservedMasks, setField, dwordMask, type FieldSpec } from "./bitfield.js";

export interface DteFieldSpec extends FieldSpec { readonly feature?: string; readonly interrupt?: boolean }
export const DTE_FIELDS: readonly DteFieldSpec[] = table.fields;
export const DTE_BYTES = table.bytes;
export const DTE_DWORDS = DTE_BYTES / 4;

/**
 * Decoded DTE fields. A class with every field declared, so V8 keeps a fast (hidden-class)
 * layout: the translation path reads these on every request.
 */
export class DteFields {
  V = false; TV = false; HAD = 0; Mode = 0; HostPageTableRootPtr = 0;
  PPR = false; GPRP = false; GIoV = false; GV = false; GLX = 0;
  IR = false; IW = false; DomainID = 0; GCR3TableRootPtr = 0;
  I = false; SE = false; SA = false; IoCtl = 0; Cache = false; SD = false; EX = false; SysMgt = 0;
  IV = false; IntTabLen = 0; IG = false; IntTableRootPtr = 0; GuestPagingMode = 0;
  InitPass = false; EIntPass = false; NMIPass = false; IntCtl = 0; Lint0Pass = false; Lint1Pass = false;
  AttrV = false; Mode0FC = false; SnoopAttribute = 0;
}

const F = (n: string) => field(DTE_FIELDS, n);
const NUMERIC = ["HAD", "Mode", "GLX", "DomainID", "IoCtl", "SysMgt", "IntTabLen", "GuestPagingMode", "IntCtl", "SnoopAttribute"] as const;
const BOOLS = ["V", "TV", "PPR", "GPRP", "GIoV", "GV", "IR", "IW", "I", "SE", "SA", "Cache", "SD", "EX", "IV", "IG",
  "InitPass", "EIntPass", "NMIPass", "Lint0Pass", "Lint1Pass", "AttrV", "Mode0FC"] as const;
const ROOT = F("HostPageTableRootPtr");
const INT_ROOT = F("IntTableRootPtr");
const GCR3_PARTS = table.gcr3RootParts.map((p) => ({ f: F(p.field), shift: p.shift }));

export function emptyDte(): DteFields {
  return new DteFields();
}

/** GCR3 table root pointer (SPA or GPA, 4 KiB aligned) reassembled from its three parts. */
export function gcr3Root(dw: ArrayLike<number>): number {
  let v = 0;
  for (const p of GCR3_PARTS) v += getField(dw, p.f.lo, p.f.hi) * 2 ** p.shift;
  return v;
}

export function decodeDte(dw: ArrayLike<number>, out: DteFields = emptyDte()): DteFields {
  const o = out as unknown as Record<string, number | boolean>;
  for (const n of NUMERIC) { const f = F(n); o[n] = getField(dw, f.lo, f.hi); }
  for (const n of BOOLS) { const f = F(n); o[n] = getField(dw, f.lo, f.lo) === 1; }
  out.HostPageTableRootPtr = getField(dw, ROOT.lo, ROOT.hi) * 4096;
  out.IntTableRootPtr = getField(dw, INT_ROOT.lo, INT_ROOT.hi) * 64;
  out.GCR3TableRootPtr = gcr3Root(dw);
  return out;
}

export function encodeDte(fields: Partial<DteFields>): Uint32Array {
  const dw = new Uint32Array(DTE_DWORDS);
  for (const n of NUMERIC) { const v = fields[n]; if (v !== undefined) { const f = F(n); setField(dw, f.lo, f.hi, v); } }
  for (const n of BOOLS) { const v = fields[n]; if (v) { const f = F(n); setField(dw, f.lo, f.lo, 1); } }
  if (fields.HostPageTableRootPtr !== undefined) setField(dw, ROOT.lo, ROOT.hi, Math.floor(fields.HostPageTableRootPtr / 4096));
  if (fields.IntTableRootPtr !== undefined) setField(dw, INT_ROOT.lo, INT_ROOT.hi, Math.floor(fields.IntTableRootPtr / 64));
  if (fields.GCR3TableRootPtr !== undefined) {
    const root = BigInt(fields.GCR3TableRootPtr);
    for (const p of GCR3_PARTS) setField(dw, p.f.lo, p.f.hi, root >> BigInt(p.shift));
  }
  return dw;
}

/** Per-dword masks of the always-reserved bits of the translation part (bits 127:0). */
export const DTE_RESERVED_TRANSLATION: Uint32Array = reservedMasks(DTE_FIELDS.filter((f) => !f.interrupt), DTE_DWORDS);
/** Per-dword masks of the reserved bits of the interrupt part (bits 255:128), checked when IV = 1. */
export const DTE_RESERVED_INTERRUPT: Uint32Array = reservedMasks(DTE_FIELDS.filter((f) => f.interrupt), DTE_DWORDS);

/** Per-dword masks of the fields gated by an EFR feature (they count as reserved when it is absent). */
export function dteFeatureMask(feature: string): Uint32Array {
  const m = new Uint32Array(DTE_DWORDS);
  for (const f of DTE_FIELDS) if (f.feature === feature) for (let w = 0; w < DTE_DWORDS; w++) m[w] = (m[w]! | dwordMask(w, f.lo, f.hi)) >>> 0;
  return m;
}
export const DTE_GATED_FEATURES: readonly string[] = [...new Set(DTE_FIELDS.flatMap((f) => (f.feature ? [f.feature] : [])))];
