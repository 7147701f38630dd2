/**
 * A latency histogram in IOMMU clock cycles (docs/ARCHITECTURE.md section 6: "latency histograms
 * per component"). Log-linear buckets: one per value below 16, then four per power of two
 * (relative error under 25 %), up to 2^44 cycles; count, sum, min and max are exact.
 * record() does not allocate, so it can sit on the translation hot path.
 */

const LINEAR = 16;
const SUB = 4;
const MAX_EXP = 44;
export const HISTOGRAM_BUCKETS = LINEAR + (MAX_EXP - 4) * SUB;

/** Bucket index of a non-negative cycle count. */
export function bucketOf(v: number): number {
  if (!(v >= 0)) return 0;
  if (v < LINEAR) return Math.floor(v);
  let e: number;
  let top: number;
  if (v < 4294967296) {
    const x = Math.floor(v) >>> 0;
    e = 31 - Math.clz32(x);
    top = (x >>> (e - 2)) & 3;
  } else {
    e = Math.floor(Math.log2(v));
    top = Math.floor(v / 2 ** (e - 2)) & 3;
  }
  const b = LINEAR + (e - 4) * SUB + top;
  return b < HISTOGRAM_BUCKETS ? b : HISTOGRAM_BUCKETS - 1;
}

/** Smallest value that falls in bucket b. */
export function bucketLow(b: number): number {
  if (b < LINEAR) return b;
  const e = 4 + Math.floor((b - LINEAR) / SUB);
  return 2 ** e + ((b - LINEAR) % SUB) * 2 ** (e - 2);
}

/**
 * sum + v + v + ... (n times), as n sequential additions give it: one multiplication when
 * that is exact (integers, no partial sum beyond 2^53), else the additions; beyond 2^24
 * additions (a count no honest run reaches between two statistics reads, or a tampered
 * snapshot's) the multiplication, so the work stays bounded.
 */
export function addRepeated(sum: number, v: number, n: number): number {
  SCRATCH[0] = sum;
  addRepeatedAt(SCRATCH, 0, v, n);
  return SCRATCH[0]!;
}
const SCRATCH = new Float64Array(1);

/**
 * addRepeated() in place: a[i] = a[i] + v + v + ... (n times). The sum stays in the typed
 * array: a count of cycles beyond 2^31 handed to or returned from a call V8 does not inline
 * is a newly allocated heap number (README "Allocation"), and the timed walks' statistics add
 * runs of walks this way.
 */
export function addRepeatedAt(a: Float64Array, i: number, v: number, n: number): void {
  let sum = a[i]!;
  // (no Math.abs: its result fed V8 small-integer feedback, and the first sum above 2^31
  // deoptimized the caller's loop; sums and latencies are never negative, and a negative one
  // would only take the additions below)
  if ((Number.isInteger(v) && Number.isInteger(sum) && v >= 0 && sum >= 0 && sum + v * n <= 9007199254740992) || n > 1 << 24) { a[i] = sum + v * n; return; }
  for (let k = 0; k < n; k++) sum += v;
  a[i] = sum;
}

export interface HistogramSummary {
  count: number; sum: number; mean: number; min: number; max: number; p50: number; p90: number; p99: number;
  /** Non-empty buckets as [lowest value of the bucket, count]. */
  buckets: [number, number][];
}

export class LatencyHistogram {
  readonly counts = new Float64Array(HISTOGRAM_BUCKETS);
  count = 0;
  /** Element 0: the sum of the samples (in a typed array so that recordRepeated() adds to it in place: addRepeatedAt). */
  private readonly sums = new Float64Array(1);
  min = Infinity;
  max = 0;

  /** The last value recorded and its bucket (latencies repeat: most samples skip bucketOf). */
  private lastValue = 0;
  private lastBucket = 0;

  record(v: number): void {
    let b = this.lastBucket;
    if (v !== this.lastValue) { b = bucketOf(v); this.lastValue = v; this.lastBucket = b; }
    this.counts[b]!++;
    this.count++;
    this.sum += v;
    this.bound(v);
  }

  /**
   * min and max widened to v, stored every time with no branch: a first new extreme long after
   * warm-up was a store the optimized caller had never run, and deoptimized it.
   */
  private bound(v: number): void {
    this.min = Math.min(this.min, v);
    this.max = Math.max(this.max, v);
  }

  /** n samples of value v: the same histogram as n calls of record(v). */
  recordRepeated(v: number, n: number): void {
    if (n <= 0) return;
    this.counts[bucketOf(v)]! += n;
    this.count += n;
    addRepeatedAt(this.sums, 0, v, n);
    this.bound(v);
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0; this.sum = 0; this.min = Infinity; this.max = 0;
  }

  /** A new histogram holding this one's samples. */
  copy(): LatencyHistogram {
    const h = new LatencyHistogram();
    h.counts.set(this.counts);
    h.count = this.count; h.sum = this.sum; h.min = this.min; h.max = this.max;
    return h;
  }

  /** A new histogram holding this one's samples and `other`'s. */
  merged(other: LatencyHistogram): LatencyHistogram {
    const h = new LatencyHistogram();
    for (let b = 0; b < HISTOGRAM_BUCKETS; b++) h.counts[b] = this.counts[b]! + other.counts[b]!;
    h.count = this.count + other.count; h.sum = this.sum + other.sum;
    h.min = Math.min(this.min, other.min); h.max = Math.max(this.max, other.max);
    return h;
  }

  /** A new histogram holding this one's samples and `n` samples of 0. */
  withZeros(n: number): LatencyHistogram {
    return this.withValue(0, n);
  }

  /** A new histogram holding this one's samples and `n` samples of value v. */
  withValue(v: number, n: number): LatencyHistogram {
    const h = this.merged(new LatencyHistogram());
    if (n > 0) {
      h.counts[bucketOf(v)]! += n; h.count += n; h.sum += v * n;
      if (v < h.min) h.min = v;
      if (v > h.max) h.max = v;
    }
    return h;
  }

  get sum(): number { return this.sums[0]!; }
  set sum(v: number) { this.sums[0] = v; }

  get mean(): number { return this.count === 0 ? 0 : this.sum / this.count; }

  /**
   * Value at quantile q (0..1), by nearest rank (rank = ceil(q * count)); 0 when empty.
   * The lowest and highest rank are the exact min and max; a rank in a one-value bucket
   * (below 16) is that value; a rank inside a wider bucket is interpolated: the bucket's
   * samples are taken as spread evenly over it, narrowed to [min, max] (error under 12.5 %),
   * so no quantile is below min or above max and p99 of three samples is their max.
   */
  quantile(q: number): number {
    if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile: q must be in [0, 1], got ${String(q)}`);
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    if (rank >= this.count) return this.max;
    if (rank === 1) return this.min;
    let seen = 0;
    for (let b = 0; b < HISTOGRAM_BUCKETS; b++) {
      const n = this.counts[b]!;
      if (seen + n >= rank) {
        const lo = Math.max(this.min, bucketLow(b));
        if (b < LINEAR) return Math.min(this.max, lo);
        const hi = Math.min(this.max, b + 1 < HISTOGRAM_BUCKETS ? bucketLow(b + 1) : this.max);
        return Math.min(this.max, lo + (hi - lo) * ((rank - seen - 0.5) / n));
      }
      seen += n;
    }
    return this.max;
  }

  summary(): HistogramSummary {
    const buckets: [number, number][] = [];
    for (let b = 0; b < HISTOGRAM_BUCKETS; b++) if (this.counts[b]! > 0) buckets.push([bucketLow(b), this.counts[b]!]);
    return {
      count: this.count, sum: this.sum, mean: this.mean, min: this.count === 0 ? 0 : this.min, max: this.max,
      p50: this.quantile(0.5), p90: this.quantile(0.9), p99: this.quantile(0.99), buckets,
    };
  }
}
