/**
 * The runner's timed-over-functional figures (bench/run.ts variantRatios): each timed case
 * names its functional twin (BenchCase.variantOf), the same workload in the same run, and the
 * runner divides the two cases' times, directly and through their native ratios.
 */
import { describe, expect, it } from "vitest";
import { variantRatios, type BenchResult } from "../../bench/run.js";
import { cases } from "../../bench/translation.bench.js";

function result(name: string, hostNsPerOp: number, nativeRatio: number | null, variantOf: string | null = null): BenchResult {
  return {
    name, group: "translation", measures: "", opsPerCall: 1, hostNsPerOp, hostRme: 0, baselineNsPerOp: 1, ratio: hostNsPerOp,
    nativeNsPerOp: nativeRatio === null ? null : hostNsPerOp / nativeRatio, nativeRatio, nativeNote: null, rounds: null, spread: null,
    imageHash: null, modelledCycles: null, memoryReferences: null, samples: 7, variantOf,
  };
}

describe("timed mode over functional in the benchmark report", () => {
  it("divides a case's time by its twin's, directly and through the two native ratios", () => {
    const rs = [result("f", 30, 1.5), result("t", 39, 1.95, "f"), result("lone", 10, 2, "absent"), result("n", 12, null, "f")];
    const v = variantRatios(rs);
    expect(v.map((x) => [x.name, x.variantOf])).toEqual([["t", "f"], ["n", "f"]]);
    expect(v[0]!.direct).toBeCloseTo(1.3, 12);
    expect(v[0]!.throughNative).toBeCloseTo(1.3, 12);
    expect(v[1]!.direct).toBeCloseTo(0.4, 12);
    expect(v[1]!.throughNative).toBeNull(); // no native ratio: no figure, rather than a made-up one
  });

  it("every timed translation case names its functional twin: a case of the same native work", () => {
    const timed = cases.filter((c) => c.name.endsWith("-timed"));
    expect(timed.length).toBeGreaterThanOrEqual(5);
    for (const c of timed) {
      const twin = cases.find((x) => x.name === c.variantOf);
      expect(twin?.name, c.name).toBe(c.name.replace(/-timed$/, ""));
      expect(twin!.native, c.name).toEqual(c.native);
      expect(twin!.variantOf, c.name).toBeUndefined();
    }
  });
});
