/**
 * The translator's compile-time register constants (const enum RegWord of src/spec/registers.ts)
 * are copies of the offsets and fields derived from spec-tables/registers.json: each must
 * equal its source.
 */
import { describe, expect, it } from "vitest";
import { CONTROL, MMIO_CONTROL, MMIO_EXCLUSION_BASE, RegWord, bitRef } from "../../src/spec/registers.js";

describe("fast-path register words match spec-tables/registers.json", () => {
  it("Control: word index, IommuEn and GTEn masks in its low word", () => {
    expect(RegWord.Control).toBe(MMIO_CONTROL / 4);
    expect([CONTROL.IommuEn.half, CONTROL.GTEn.half]).toEqual([0, 0]);
    expect([RegWord.IommuEn, RegWord.GTEn]).toEqual([CONTROL.IommuEn.mask, CONTROL.GTEn.mask]);
  });
  it("Exclusion Base: word index and the ExEn mask in its low word", () => {
    const exEn = bitRef("ExclusionBase", "ExEn");
    expect(RegWord.ExclusionBase).toBe(MMIO_EXCLUSION_BASE / 4);
    expect(exEn.half).toBe(0);
    expect(RegWord.ExEn).toBe(exEn.mask);
  });
});
