/**
 * System physical memory, backed by a SharedArrayBuffer.
 *
 * Implements the memory side of the public contract (docs/ARCHITECTURE.md section 4):
 * read32/write32 with numbers, read64/write64 with bigints, and the buffer so another
 * worker can wrap the same bytes. The IOMMU and the host model use the internal fast
 * operations (load32/store32/cas32 on 32-bit halves, no BigInt), which follow the PTE
 * sharing protocol of docs/ARCHITECTURE.md section 5: every agent touches page-table entries
 * with aligned 32-bit operations only, and A/D updates are compare-exchanges on the low word.
 *
 * The public methods throw a RangeError naming the argument for an address outside memory
 * (API misuse by the embedder). The IOMMU never calls them with guest-controlled addresses
 * without checking `contains` first: a bad table or log address becomes a hardware-error
 * event, never an exception.
 */
import type { MemoryPort } from "./memory-port.js";

export interface PhysicalMemoryOptions {
  /** Size in bytes: a positive multiple of 4 KiB. The OS commits only the pages touched. */
  bytes?: number;
  /** Wrap an existing SharedArrayBuffer (for example one received from another worker). */
  buffer?: SharedArrayBuffer;
}

const PAGE = 4096;
/** Largest memory accepted: 64 GiB (physical addresses stay far below 2^53). */
export const MAX_MEMORY_BYTES = 64 * 1024 * 1024 * 1024;
const TWO_32 = 4294967296;

function checkAddress(name: string, pa: number | bigint, width: number, bytes: number): number {
  let n: number;
  if (typeof pa === "bigint") {
    if (pa < 0n || pa > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new RangeError(`${name}: physical address ${pa} is outside memory (0..${bytes - 1})`);
    }
    n = Number(pa);
  } else if (typeof pa === "number") {
    if (!Number.isInteger(pa)) throw new TypeError(`${name}: physical address must be an integer, got ${pa}`);
    n = pa;
  } else {
    throw new TypeError(`${name}: physical address must be a number or bigint, got ${typeof pa}`);
  }
  if (n < 0 || n + width > bytes) {
    throw new RangeError(`${name}: physical address 0x${n.toString(16)} (+${width} bytes) is outside memory (0..0x${(bytes - 1).toString(16)})`);
  }
  if (n % 4 !== 0) throw new RangeError(`${name}: physical address 0x${n.toString(16)} is not 4-byte aligned`);
  return n;
}

export class PhysicalMemory implements MemoryPort {
  /** The SharedArrayBuffer behind this memory. */
  readonly buffer: SharedArrayBuffer;
  /** Size in bytes. */
  readonly bytes: number;
  /** 32-bit view for the hot paths: word index = pa / 4. */
  readonly u32: Uint32Array;
  /** Signed view of the same words, for Atomics.wait/notify. */
  readonly i32: Int32Array;
  private readonly u8: Uint8Array;

  constructor(options: PhysicalMemoryOptions = {}) {
    if (options === null || typeof options !== "object") {
      throw new TypeError("PhysicalMemory: options must be an object like { bytes: 64 * 1024 * 1024 }");
    }
    let buffer = options.buffer;
    if (buffer !== undefined) {
      if (!(buffer instanceof SharedArrayBuffer)) throw new TypeError("PhysicalMemory: options.buffer must be a SharedArrayBuffer");
      if (options.bytes !== undefined && options.bytes !== buffer.byteLength) {
        throw new RangeError(`PhysicalMemory: options.bytes (${options.bytes}) differs from options.buffer.byteLength (${buffer.byteLength})`);
      }
    }
    const bytes = buffer ? buffer.byteLength : options.bytes;
    if (typeof bytes !== "number" || !Number.isInteger(bytes)) {
      throw new TypeError(`PhysicalMemory: options.bytes must be an integer number of bytes, got ${String(bytes)}`);
    }
    if (buffer !== undefined && (bytes === 0 || bytes % PAGE !== 0)) {
      throw new RangeError(`PhysicalMemory: options.buffer.byteLength must be a positive multiple of 4096, got ${bytes}`);
    }
    if (bytes <= 0 || bytes % PAGE !== 0) {
      throw new RangeError(`PhysicalMemory: options.bytes must be a positive multiple of 4096, got ${bytes}`);
    }
    if (bytes > MAX_MEMORY_BYTES) {
      throw new RangeError(`PhysicalMemory: options.bytes ${bytes} exceeds the supported maximum of ${MAX_MEMORY_BYTES}`);
    }
    this.buffer = buffer ?? new SharedArrayBuffer(bytes);
    this.bytes = bytes;
    this.u32 = new Uint32Array(this.buffer);
    this.i32 = new Int32Array(this.buffer);
    this.u8 = new Uint8Array(this.buffer);
  }

  // ---- public contract -------------------------------------------------------------------

  read32(pa: number | bigint): number {
    const a = checkAddress("read32", pa, 4, this.bytes);
    return this.u32[a / 4]!;
  }

  write32(pa: number | bigint, value: number): void {
    const a = checkAddress("write32", pa, 4, this.bytes);
    if (typeof value !== "number" || !Number.isInteger(value) || value < -0x80000000 || value > 0xffffffff) {
      throw new RangeError(`write32: value must be an integer that fits in 32 bits, got ${String(value)}`);
    }
    this.u32[a / 4] = value >>> 0;
  }

  /** 64-bit read as two 32-bit halves (low word first); each half is tear-free. */
  read64(pa: number | bigint): bigint {
    const a = checkAddress("read64", pa, 8, this.bytes);
    const i = a / 4;
    return (BigInt(this.u32[i + 1]!) << 32n) | BigInt(this.u32[i]!);
  }

  /** 64-bit write: high word first, then low word (the low word holds P in every entry format). */
  write64(pa: number | bigint, value: bigint): void {
    const a = checkAddress("write64", pa, 8, this.bytes);
    if (typeof value !== "bigint") throw new TypeError(`write64: value must be a bigint, got ${typeof value}`);
    if (value < 0n || value > 0xffff_ffff_ffff_ffffn) throw new RangeError(`write64: value must be 0..2^64-1, got ${value}`);
    const v = value;
    const i = a / 4;
    this.u32[i + 1] = Number(v >> 32n);
    this.u32[i] = Number(v & 0xffffffffn);
  }

  /** Copy bytes out of memory. */
  readBytes(pa: number, length: number): Uint8Array {
    if (!Number.isInteger(pa) || !Number.isInteger(length) || pa < 0 || length < 0 || pa + length > this.bytes) {
      throw new RangeError(`readBytes: range 0x${Number(pa).toString(16)}+${length} is outside memory`);
    }
    return this.u8.slice(pa, pa + length);
  }

  /** Copy bytes into memory. */
  writeBytes(pa: number, data: Uint8Array): void {
    if (!Number.isInteger(pa) || pa < 0 || pa + data.length > this.bytes) {
      throw new RangeError(`writeBytes: range 0x${Number(pa).toString(16)}+${data.length} is outside memory`);
    }
    this.u8.set(data, pa);
  }

  /** Zero a range (for example a freshly allocated page-table page). */
  fill(pa: number, length: number, byte = 0): void {
    if (!Number.isInteger(pa) || !Number.isInteger(length) || pa < 0 || length < 0 || pa + length > this.bytes) {
      throw new RangeError(`fill: range 0x${Number(pa).toString(16)}+${length} is outside memory`);
    }
    this.u8.fill(byte, pa, pa + length);
  }

  // ---- internal fast path (MemoryPort) ---------------------------------------------------

  /** True when [pa, pa + length) lies inside memory. */
  contains(pa: number, length: number): boolean {
    return pa >= 0 && pa + length <= this.bytes;
  }

  /** Aligned 32-bit load; the caller has checked `contains`. */
  load32(pa: number): number {
    return this.u32[pa / 4]!;
  }

  /** Aligned 32-bit store; the caller has checked `contains`. */
  store32(pa: number, value: number): void {
    this.u32[pa / 4] = value;
  }

  /** Atomic 32-bit compare-exchange; returns the value found (equal to `expected` on success). */
  cas32(pa: number, expected: number, replacement: number): number {
    return Atomics.compareExchange(this.u32, pa / 4, expected >>> 0, replacement >>> 0);
  }

  /** Atomic 32-bit store with a notify for agents blocked in Atomics.wait on that word. */
  storeNotify32(pa: number, value: number): void {
    Atomics.store(this.u32, pa / 4, value >>> 0);
    Atomics.notify(this.i32, pa / 4);
  }
}

export { TWO_32 };
