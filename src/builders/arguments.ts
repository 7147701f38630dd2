/**
 * Argument checks shared by the builders: an out-of-range or unknown value is an error naming
 * the argument (`V1PageTable.map: options.writable must be a boolean, got "yes"`), never a
 * value silently truncated or ignored.
 *
 * Builder option vocabulary (the same in every builder, and the same words the model's
 * results use): `readable`, `writable`, `user` for permissions, the spec's `nx` for
 * no-execute, `accessed` / `dirty` for the A and D bits, `size` in bytes.
 */

/** Largest physical address a table entry can hold (52 bits). */
export const MAX_PHYSICAL = 2 ** 52 - 1;
const TWO64 = 1n << 64n;

export function checkOptions(where: string, o: unknown, known: readonly string[]): Record<string, unknown> {
  if (o === undefined) return {};
  if (o === null || typeof o !== "object" || Array.isArray(o)) throw new TypeError(`${where}: options must be an object, got ${String(o)}`);
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) {
      const hint = k === "read" ? " (did you mean readable?)" : k === "write" ? " (did you mean writable?)" : "";
      throw new RangeError(`${where}: options.${k} is not an option${hint} (known: ${known.join(", ")})`);
    }
  }
  return o as Record<string, unknown>;
}

export function checkBoolean(where: string, name: string, v: unknown): void {
  if (v !== undefined && typeof v !== "boolean") throw new TypeError(`${where}: ${name} must be a boolean, got ${JSON.stringify(v) ?? String(v)}`);
}

/** An integer 0..max given as a number (a safe integer). */
export function checkInteger(where: string, name: string, v: unknown, max: number, min = 0): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) throw new RangeError(`${where}: ${name} must be an integer ${min}..${max}, got ${String(v)}`);
  return v;
}

/** A physical address (number), 0..2^52-1, aligned to `align` bytes. */
export function checkPhysical(where: string, name: string, v: unknown, align: number): number {
  const pa = checkInteger(where, name, v, MAX_PHYSICAL);
  if (pa % align !== 0) throw new RangeError(`${where}: ${name} must be ${align}-byte aligned, got 0x${pa.toString(16)}`);
  return pa;
}

/** A device-side address (IOVA, GPA, GVA): a safe-integer number or a bigint in 0..2^64-1. */
export function checkAddress64(where: string, name: string, v: unknown): bigint {
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${where}: ${name} must be an integer 0..2^64-1 (a bigint above 2^53), got ${v}`);
    return BigInt(v);
  }
  if (typeof v === "bigint") {
    if (v < 0n || v >= TWO64) throw new RangeError(`${where}: ${name} must be 0..2^64-1, got ${v}`);
    return v;
  }
  throw new TypeError(`${where}: ${name} must be a number or bigint, got ${typeof v}`);
}
