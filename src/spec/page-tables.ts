/**
 * Page-table entry layouts, built from spec-tables/page-tables.json:
 * host (v1) PDE/PTE, AMD64 long-mode guest entries, and the GCR3 table entry.
 *
 * Every entry is 64 bits; the hot paths read it as two 32-bit halves (lo = bits 31:0,
 * hi = bits 63:32). The masks below are per half, derived from the table once at load.
 */
import table from "../../spec-tables/page-tables.json" with { type: "json" };
import { dwordMask, field, type FieldSpec } from "./bitfield.js";

export const V1_FIELDS: readonly FieldSpec[] = table.v1.fields;
export const LONG_MODE_FIELDS: readonly FieldSpec[] = table.longMode.fields;
export const GCR3_FIELDS: readonly FieldSpec[] = table.gcr3.fields;

const lo = (fs: readonly FieldSpec[], n: string) => { const f = field(fs, n); return dwordMask(0, f.lo, f.hi); };
const hi = (fs: readonly FieldSpec[], n: string) => { const f = field(fs, n); return dwordMask(1, f.lo, f.hi); };

// ---- host (v1) entries ----
export const V1_PR = lo(V1_FIELDS, "PR");
export const V1_A = lo(V1_FIELDS, "A");
export const V1_D = lo(V1_FIELDS, "D");
export const V1_NEXT_LEVEL_SHIFT = field(V1_FIELDS, "NextLevel").lo;
export const V1_NEXT_LEVEL_MASK = 7;
/** Address bits 31:12 in the low half. */
export const V1_ADDR_LO = lo(V1_FIELDS, "Address");
/** Address bits 51:32 in the high half. */
export const V1_ADDR_HI = hi(V1_FIELDS, "Address");
export const V1_PDE_RSVD_HI = hi(V1_FIELDS, "PdeReserved");
export const V1_PTE_RSVD_HI = hi(V1_FIELDS, "PteReserved");
export const V1_U_HI = hi(V1_FIELDS, "U");
export const V1_FC_HI = hi(V1_FIELDS, "FC");
export const V1_IR_HI = hi(V1_FIELDS, "IR");
export const V1_IW_HI = hi(V1_FIELDS, "IW");
export const V1_NL_LEAF = table.v1.nextLevelLeaf;
export const V1_NL_ENCODED = table.v1.nextLevelEncodedSize;

// ---- AMD64 long-mode guest entries ----
export const LM_P = lo(LONG_MODE_FIELDS, "P");
export const LM_RW = lo(LONG_MODE_FIELDS, "RW");
export const LM_US = lo(LONG_MODE_FIELDS, "US");
export const LM_A = lo(LONG_MODE_FIELDS, "A");
export const LM_D = lo(LONG_MODE_FIELDS, "D");
export const LM_PS = lo(LONG_MODE_FIELDS, "PS");
export const LM_ADDR_LO = lo(LONG_MODE_FIELDS, "Address");
export const LM_ADDR_HI = hi(LONG_MODE_FIELDS, "Address");
export const LM_NX_HI = hi(LONG_MODE_FIELDS, "NX");
/** Reserved low-address bits of a 1 GiB leaf (PDPTE with PS = 1). */
export const LM_1G_RSVD_LO = dwordMask(0, table.longMode.largePageReserved.pdpte1G.lo, table.longMode.largePageReserved.pdpte1G.hi);
/** Reserved low-address bits of a 2 MiB leaf (PDE with PS = 1). */
export const LM_2M_RSVD_LO = dwordMask(0, table.longMode.largePageReserved.pde2M.lo, table.longMode.largePageReserved.pde2M.hi);
/** Index shift of each level (1 = PT .. 5 = PML5). */
export const LM_LEVEL_SHIFT: readonly number[] = [0, 12, 21, 30, 39, 48];
export const LM_LEVEL_NAME: readonly string[] = ["", "PT", "PD", "PDPT", "PML4", "PML5"];

// ---- GCR3 table entries ----
export const GCR3_V = lo(GCR3_FIELDS, "V");
export const GCR3_ADDR_LO = lo(GCR3_FIELDS, "Address");
export const GCR3_ADDR_HI = hi(GCR3_FIELDS, "Address");
export const GCR3_RSVD_LO = lo(GCR3_FIELDS, "ReservedLow");
export const GCR3_RSVD_HI = hi(GCR3_FIELDS, "ReservedHigh");
export const GCR3_INDEX_BITS = table.gcr3.indexBitsPerLevel;

// ---- the same masks as compile-time constants, for the walkers' hot loops ----
// V8 (Node 20) loads an imported `const` from its module cell and checks it for the TDZ hole
// at every use; TypeScript inlines `const enum` members as literals. The masks above, derived
// from spec-tables/page-tables.json, stay the source of truth: test/spec/page-table-masks.test.ts
// checks every member below against them.

/** Host (v1) entry: low-half (lo) and high-half (hi, bits 63:32) masks. */
export const enum V1 {
  PR = 0x1, A = 0x20, D = 0x40, AddrLo = 0xfffff000,
  AddrHi = 0xfffff, PdeRsvdHi = 0x1ff00000, PteRsvdHi = 0x7f00000, UHi = 0x8000000, IrHi = 0x20000000, IwHi = 0x40000000,
}
/** AMD64 long-mode entry masks (lo / hi halves). */
export const enum Lm {
  P = 0x1, RW = 0x2, US = 0x4, A = 0x20, D = 0x40, PS = 0x80, AddrLo = 0xfffff000, Rsvd1GLo = 0x3fffe000, Rsvd2MLo = 0x1fe000,
  AddrHi = 0xfffff, NxHi = 0x80000000,
}
/** GCR3 table entry masks (lo / hi halves). */
export const enum Gcr3 {
  V = 0x1, RsvdLo = 0xffe, AddrLo = 0xfffff000,
  AddrHi = 0xfffff, RsvdHi = 0xfff00000,
}

/** Host (v1) level geometry: index shift of level L is 12 + 9(L - 1). */
export function v1LevelShift(level: number): number {
  return 12 + 9 * (level - 1);
}
