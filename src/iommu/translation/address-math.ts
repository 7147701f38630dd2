/**
 * Address arithmetic for the hot paths without BigInt, Math.pow or floating-point modulo
 * (both compile to calls in V8): addresses are split in 32-bit halves; numbers below 2^53.
 */
import { POW2 } from "../caches/tag-store.js";

export const TWO32 = 4294967296;

/** The address (hi, lo) with its low `log2` bits cleared, as a number (< 2^53 when hi < 2^21). */
export function alignDown(hi: number, lo: number, log2: number): number {
  if (log2 < 32) return hi * TWO32 + ((lo & (-1 << log2)) >>> 0);
  if (log2 >= 53) return 0;
  return ((hi & (-1 << (log2 - 32))) >>> 0) * TWO32;
}

/** The offset of (hi, lo) inside a naturally aligned block of 2^log2 bytes. */
export function offsetIn(hi: number, lo: number, log2: number): number {
  if (log2 < 32) return (lo & (POW2[log2]! - 1)) >>> 0;
  return (hi & (POW2[log2 - 32]! - 1)) * TWO32 + lo;
}

/** x (an integer below 2^53) with its low `log2` bits cleared. */
export function alignNumber(x: number, log2: number): number {
  return alignDown(Math.floor(x / TWO32), x >>> 0, log2);
}

/** x (an integer below 2^53) modulo 2^log2. */
export function offsetNumber(x: number, log2: number): number {
  return offsetIn(Math.floor(x / TWO32), x >>> 0, log2);
}
