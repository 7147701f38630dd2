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

  it("count, sum, mean, min and max are exact; quantiles come from the buckets", () => {
    const h = new LatencyHistogram();
    for (const v of [5, 5, 5, 249, 249, 445, 1000]) h.record(v);
    const s = h.summary();
    expect([s.count, s.sum, s.min, s.max]).toEqual([7, 1958, 5, 1000]);
    expect(s.mean).toBeCloseTo(1958 / 7, 9);
    expect(s.p50).toBe(bucketLow(bucketOf(249)));
    expect(s.p99).toBe(bucketLow(bucketOf(1000)));
    expect(s.buckets).toEqual([[5, 3], [bucketLow(bucketOf(249)), 2], [bucketLow(bucketOf(445)), 1], [bucketLow(bucketOf(1000)), 1]]);
    h.reset();
    expect(h.summary()).toMatchObject({ count: 0, sum: 0, min: 0, max: 0, p50: 0, buckets: [] });
    expect(() => h.quantile(2)).toThrow(/q/);
  });
});
