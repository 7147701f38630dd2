/**
 * The walkers' compile-time masks (const enums V1, Lm, Gcr3 of src/spec/page-tables.ts) are
 * copies of the masks derived from spec-tables/page-tables.json: each must equal its source.
 */
import { describe, expect, it } from "vitest";
import * as pt from "../../src/spec/page-tables.js";
import { Gcr3, Lm, V1 } from "../../src/spec/page-tables.js";

const u = (x: number) => x >>> 0;

describe("walker masks match spec-tables/page-tables.json", () => {
  it("host (v1) entry: PR, A, D, Address, reserved, U, IR, IW", () => {
    expect([V1.PR, V1.A, V1.D, V1.AddrLo, V1.AddrHi, V1.PdeRsvdHi, V1.PteRsvdHi, V1.UHi, V1.IrHi, V1.IwHi].map(u)).toEqual(
      [pt.V1_PR, pt.V1_A, pt.V1_D, pt.V1_ADDR_LO, pt.V1_ADDR_HI, pt.V1_PDE_RSVD_HI, pt.V1_PTE_RSVD_HI, pt.V1_U_HI, pt.V1_IR_HI, pt.V1_IW_HI].map(u));
  });
  it("long-mode entry: P, R/W, U/S, A, D, PS, Address, large-page reserved bits, NX", () => {
    expect([Lm.P, Lm.RW, Lm.US, Lm.A, Lm.D, Lm.PS, Lm.AddrLo, Lm.AddrHi, Lm.NxHi, Lm.Rsvd1GLo, Lm.Rsvd2MLo].map(u)).toEqual(
      [pt.LM_P, pt.LM_RW, pt.LM_US, pt.LM_A, pt.LM_D, pt.LM_PS, pt.LM_ADDR_LO, pt.LM_ADDR_HI, pt.LM_NX_HI, pt.LM_1G_RSVD_LO, pt.LM_2M_RSVD_LO].map(u));
  });
  it("GCR3 table entry: V, Address, reserved bits", () => {
    expect([Gcr3.V, Gcr3.AddrLo, Gcr3.AddrHi, Gcr3.RsvdLo, Gcr3.RsvdHi].map(u)).toEqual(
      [pt.GCR3_V, pt.GCR3_ADDR_LO, pt.GCR3_ADDR_HI, pt.GCR3_RSVD_LO, pt.GCR3_RSVD_HI].map(u));
  });
});
