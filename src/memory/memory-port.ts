/**
 * The memory interface the IOMMU model uses for every table read, A/D update and log write.
 *
 * PhysicalMemory (SharedArrayBuffer) implements it directly and is the fast default. An
 * embedder whose memory lives elsewhere supplies an object of this shape (see
 * CallbackMemoryPort); it is slower because each access is a call through the embedder.
 * Addresses are byte addresses below 2^53; 32-bit accesses are 4-byte aligned.
 */
export interface MemoryPort {
  /** Size of the addressable memory in bytes. */
  readonly bytes: number;
  /** True when [pa, pa + length) can be accessed. */
  contains(pa: number, length: number): boolean;
  load32(pa: number): number;
  store32(pa: number, value: number): void;
  /** Atomic compare-exchange of one 32-bit word; returns the value found. */
  cas32(pa: number, expected: number, replacement: number): number;
  /** Store that also wakes agents waiting on the word (completion-wait stores). */
  storeNotify32(pa: number, value: number): void;
}
