/**
 * The scenario's seeded pseudo-random source (mulberry32): the only randomness of a run, so a
 * seed reproduces the run bit for bit. Not a hardware block.
 */
export class Prng {
  private s: number;
  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new RangeError(`Prng: seed must be an integer, got ${String(seed)}`);
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number { return lo + Math.floor(this.next() * (hi - lo + 1)); }
  chance(p: number): boolean { return this.next() < p; }
  pick<T>(xs: readonly T[]): T { return xs[Math.floor(this.next() * xs.length)]!; }
}
