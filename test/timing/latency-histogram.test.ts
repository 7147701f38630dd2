import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { LatencyHistogram, bucketLow, bucketOf, HISTOGRAM_BUCKETS } from "../../src/iommu/timing/latency-histogram.js";

describe("latency histogram", () => {
  it("values below 16 cycles get a bucket each; above, four buckets per power of two", () => {
    for (let v = 0; v < 16; v++) expect(bucketOf(v)).toBe(v);
    expect(bucketOf(16)).toBe(16);
    expect(bucketOf(20)).toBe(17);
    expect(bucketOf(31)).toBe(19);
    expect(bucketOf(32)).toBe(20);
  });

  it("every value lies in [low of its bucket, low of the next) within 25 %", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (v) => {
      const b = bucketOf(v);
      expect(bucketLow(b)).toBeLessThanOrEqual(v);
      if (b + 1 < HISTOGRAM_BUCKETS) expect(v).toBeLessThan(bucketLow(b + 1));
      if (v >= 16) expect((v - bucketLow(b)) / v).toBeLessThan(0.25);
    }));
  });

  it("p99 of three samples is their max, p50 the middle one (not a bucket's lower edge)", () => {
    const h = new LatencyHistogram();
    for (const v of [300, 5, 1000]) h.record(v);
    expect(h.quantile(0.99)).toBe(1000);
    expect(h.quantile(0)).toBe(5);
    // 300 is alone in bucket [256, 320): interpolated to the bucket's middle, not its low edge 256
    expect(h.quantile(0.5)).toBe(288);
  });

  it("quantiles lie in [min, max], grow with q and stay within 25 % of the exact nearest-rank sample", () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 1e6 }), { minLength: 1, maxLength: 60 }), fc.double({ min: 0, max: 1, noNaN: true }), (xs, q) => {
      const h = new LatencyHistogram();
      for (const x of xs) h.record(x);
      const sorted = [...xs].sort((a, b) => a - b);
      const exact = sorted[Math.max(1, Math.ceil(q * xs.length)) - 1]!;
      const v = h.quantile(q);
      expect(v).toBeGreaterThanOrEqual(sorted[0]!);
      expect(v).toBeLessThanOrEqual(sorted[sorted.length - 1]!);
      expect(Math.abs(v - exact)).toBeLessThanOrEqual(Math.max(0, exact * 0.25));
      expect(h.quantile(Math.min(1, q + 0.1))).toBeGreaterThanOrEqual(v);
    }), { numRuns: 300 });
  });

  it("count, sum, mean, min and max are exact; quantiles come from the buckets", () => {
    const h = new LatencyHistogram();
    for (const v of [5, 5, 5, 249, 249, 445, 1000]) h.record(v);
    const s = h.summary();
    expect([s.count, s.sum, s.min, s.max]).toEqual([7, 1958, 5, 1000]);
    expect(s.mean).toBeCloseTo(1958 / 7, 9);
    expect(s.p50).toBe(bucketLow(bucketOf(249)) + (bucketLow(bucketOf(249) + 1) - bucketLow(bucketOf(249))) * (0.5 / 2)); // rank 4: first of the two in [224, 256)
    expect(s.p99).toBe(1000);
    expect(s.buckets).toEqual([[5, 3], [bucketLow(bucketOf(249)), 2], [bucketLow(bucketOf(445)), 1], [bucketLow(bucketOf(1000)), 1]]);
    h.reset();
    expect(h.summary()).toMatchObject({ count: 0, sum: 0, min: 0, max: 0, p50: 0, buckets: [] });
    expect(() => h.quantile(2)).toThrow(/q/);
  });
});
