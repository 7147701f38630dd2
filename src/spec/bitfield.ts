/**
 * Bit-field helpers for the spec tables in spec-tables/.
 *
 * A structure is a little-endian array of 32-bit dwords; a field is named by its absolute
 * bit range [lo, hi] inside the structure, exactly as the spec tables list it. These helpers
 * serve codecs, MMIO and tests; hot paths use the numeric masks exported by the codecs.
 */
export interface FieldSpec {
  readonly name: string;
  readonly lo: number;
  readonly hi: number;
  readonly reserved?: boolean;
  readonly doc?: string;
}

/** Field value as a bigint (any width). */
export function getFieldBig(dwords: ArrayLike<number>, lo: number, hi: number): bigint {
  let v = 0n;
  for (let b = hi; b >= lo; ) {
    const w = b >>> 5;
    const bitInWord = b & 31;
    const lowest = Math.max(lo, w * 32);
    const width = bitInWord - (lowest & 31) + 1;
    const chunk = ((dwords[w]! >>> (lowest & 31)) & (width === 32 ? 0xffffffff : (1 << width) - 1)) >>> 0;
    v = (v << BigInt(width)) | BigInt(chunk);
    b = lowest - 1;
  }
  return v;
}

/** Field value as a number; the field must be at most 53 bits wide. */
export function getField(dwords: ArrayLike<number>, lo: number, hi: number): number {
  if (hi - lo + 1 <= 32 && lo >>> 5 === hi >>> 5) {
    const width = hi - lo + 1;
    const v = dwords[lo >>> 5]! >>> (lo & 31);
    return width === 32 ? v >>> 0 : (v & ((1 << width) - 1)) >>> 0;
  }
  return Number(getFieldBig(dwords, lo, hi));
}

/** Write a field (value truncated to the field's width). */
export function setField(dwords: { [i: number]: number; length: number }, lo: number, hi: number, value: number | bigint): void {
  let v = BigInt.asUintN(hi - lo + 1, BigInt(value));
  for (let b = lo; b <= hi; ) {
    const w = b >>> 5;
    const start = b & 31;
    const end = Math.min(hi, w * 32 + 31);
    const width = end - b + 1;
    const mask = width === 32 ? 0xffffffff : ((1 << width) - 1) << start;
    const chunk = Number(v & ((1n << BigInt(width)) - 1n));
    dwords[w] = ((dwords[w]! & ~mask) | ((chunk << start) & mask)) >>> 0;
    v >>= BigInt(width);
    b = end + 1;
  }
}

/** A 32-bit mask of the bits of [lo, hi] that fall in dword `w` (0 if none). */
export function dwordMask(w: number, lo: number, hi: number): number {
  const a = Math.max(lo, w * 32);
  const b = Math.min(hi, w * 32 + 31);
  if (a > b) return 0;
  const width = b - a + 1;
  return (width === 32 ? 0xffffffff : ((1 << width) - 1) << (a & 31)) >>> 0;
}

/** Per-dword masks of every field marked reserved. */
export function reservedMasks(fields: readonly FieldSpec[], dwordCount: number): Uint32Array {
  const m = new Uint32Array(dwordCount);
  for (const f of fields) if (f.reserved) for (let w = 0; w < dwordCount; w++) m[w] = (m[w]! | dwordMask(w, f.lo, f.hi)) >>> 0;
  return m;
}

/** Look a field up by name; throws (a programming error) if the table lacks it. */
export function field(fields: readonly FieldSpec[], name: string): FieldSpec {
  const f = fields.find((x) => x.name === name);
  if (!f) throw new Error(`spec table has no field ${name}`);
  return f;
}

/** bigint of a 64-bit value split in halves. */
export function toBig(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
