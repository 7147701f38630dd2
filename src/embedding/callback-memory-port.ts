/**
 * CallbackMemoryPort: the IOMMU's memory port (src/memory/memory-port.ts) for an embedder
 * whose memory lives elsewhere (a simulator's own DRAM model, a sparse map, another
 * process). Every table read, A/D compare-exchange, log write and completion-wait store of
 * the IOMMU becomes a call of the embedder's functions, with aligned 32-bit accesses only
 * (docs/ARCHITECTURE.md section 5).
 *
 * Slower than PhysicalMemory (the SharedArrayBuffer default): each access is a call through
 * the embedder's code instead of a typed-array load the JIT inlines. Use it when the memory
 * cannot be a SharedArrayBuffer. The IOMMU checks `contains` before every access, so the
 * callbacks only see addresses inside [0, bytes).
 */
import type { MemoryPort } from "../memory/memory-port.js";

export interface CallbackMemoryOptions {
  /** Size of the physical address space the IOMMU may reach, in bytes (a positive integer). */
  bytes: number;
  /** Read the aligned 32-bit word at pa (return it as an unsigned or signed 32-bit number). */
  read32(pa: number): number;
  /** Write the aligned 32-bit word at pa (value is unsigned). */
  write32(pa: number, value: number): void;
  /**
   * Atomically: if the word at pa equals `expected`, replace it with `value`. Return the value
   * found (equal to `expected` when the exchange happened). Used for A/D updates.
   */
  cas32(pa: number, expected: number, value: number): number;
  /** Optional: called after the completion-wait store at pa (wake agents polling it). */
  notify?(pa: number): void;
  /**
   * Optional: which addresses exist (default: all of [0, bytes)). Return false for holes: the
   * IOMMU answers accesses there as the hardware does (hardware-error events), never calling
   * read32/write32.
   */
  contains?(pa: number, length: number): boolean;
}

export class CallbackMemoryPort implements MemoryPort {
  readonly bytes: number;
  private readonly r: (pa: number) => number;
  private readonly w: (pa: number, value: number) => void;
  private readonly c: (pa: number, expected: number, value: number) => number;
  private readonly n: ((pa: number) => void) | undefined;
  private readonly inside: ((pa: number, length: number) => boolean) | undefined;

  constructor(options: CallbackMemoryOptions) {
    if (options === null || typeof options !== "object") throw new TypeError("CallbackMemoryPort: options must be an object { bytes, read32, write32, cas32 }");
    const { bytes, read32, write32, cas32, notify, contains } = options;
    if (typeof bytes !== "number" || !Number.isSafeInteger(bytes) || bytes <= 0) {
      throw new RangeError(`CallbackMemoryPort: options.bytes must be a positive integer, got ${String(bytes)}`);
    }
    for (const [name, fn] of [["read32", read32], ["write32", write32], ["cas32", cas32]] as const) {
      if (typeof fn !== "function") throw new TypeError(`CallbackMemoryPort: options.${name} must be a function`);
    }
    if (notify !== undefined && typeof notify !== "function") throw new TypeError("CallbackMemoryPort: options.notify must be a function");
    if (contains !== undefined && typeof contains !== "function") throw new TypeError("CallbackMemoryPort: options.contains must be a function");
    this.bytes = bytes;
    this.r = read32; this.w = write32; this.c = cas32; this.n = notify; this.inside = contains;
  }

  contains(pa: number, length: number): boolean {
    if (!(pa >= 0 && pa + length <= this.bytes)) return false;
    return this.inside === undefined || this.inside(pa, length) === true;
  }
  load32(pa: number): number { return this.r(pa) >>> 0; }
  store32(pa: number, value: number): void { this.w(pa, value >>> 0); }
  cas32(pa: number, expected: number, replacement: number): number { return this.c(pa, expected >>> 0, replacement >>> 0) >>> 0; }
  storeNotify32(pa: number, value: number): void {
    this.w(pa, value >>> 0);
    if (this.n !== undefined) this.n(pa);
  }
}
