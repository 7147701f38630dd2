/**
 * Host page-frame allocator over a physical range [base, limit) of a PhysicalMemory.
 *
 * Models the part of Linux's buddy allocator (alloc_page / put_page / free_page) that the
 * MMU-notifier race depends on: a freed frame is handed out again, to anyone, as soon as
 * it is back on the free list. Reuse is LIFO by default (like the per-CPU free lists), so a
 * frame freed too early is immediately reused and a stale DMA into it is visible.
 *
 * Every frame records its owner tag ("mm1:page", "mm1:pagetable", or FREE_OWNER), a
 * generation that increments on every allocation of that frame, a reference count
 * (page_count: a frame shared copy-on-write after fork has two), and the sequence number
 * and cycle of its last allocation or free. A checker compares owner and generation at DMA
 * time with those captured when the translation was made.
 *
 * Running out of frames, freeing a free frame or an address outside the range is misuse by
 * the embedder and throws an Error naming the argument.
 */
import type { PhysicalMemory } from "../memory/physical-memory.js";
import { HostSequence } from "./host-clock.js";

export const FRAME_SIZE = 4096;
/** Owner tag of a frame on the free list. */
export const FREE_OWNER = "free";

export type FrameOwner = string | number;

export interface FrameAllocatorOptions {
  memory: PhysicalMemory;
  /** First byte of the range (4 KiB aligned). Default 0. */
  base?: number;
  /** End of the range, exclusive (4 KiB aligned). Default memory.bytes. */
  limit?: number;
  /** Which freed frame is handed out next: most recently freed (default) or least recently freed. */
  reuse?: "lifo" | "fifo";
  /** Sequence counter shared with other host parts (the notifier trace); default a private one. */
  sequence?: HostSequence;
  /** Optional cycle source recorded beside each allocation and free. */
  now?: () => number;
  /** If set, every freed frame is filled with this byte (makes stale reads obvious). */
  poisonByte?: number;
}

export interface FrameInfo {
  pa: number;
  owner: FrameOwner;
  free: boolean;
  /** Number of times this frame has been allocated (0 = never). */
  generation: number;
  /** References held (0 when free). */
  refCount: number;
  /** Sequence number of the last allocation or free of this frame (0 = never). */
  lastSeq: number;
  /** `now()` at the last allocation or free (0 without a cycle source). */
  lastCycle: number;
}

export interface FrameEvent {
  kind: "alloc" | "free";
  pa: number;
  owner: FrameOwner;
  generation: number;
  seq: number;
  cycle: number;
}

export interface FrameAllocatorStats {
  total: number;
  free: number;
  allocated: number;
  allocs: number;
  frees: number;
  /** Allocations that handed out a frame used before. */
  reuses: number;
  /** Most frames allocated at once. */
  highWater: number;
}

function checkAligned(name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw new TypeError(`${name}: must be a non-negative integer, got ${String(v)}`);
  if (v % FRAME_SIZE !== 0) throw new RangeError(`${name}: 0x${v.toString(16)} is not 4 KiB aligned`);
  return v;
}

export class FrameAllocator {
  readonly memory: PhysicalMemory;
  readonly base: number;
  readonly limit: number;
  readonly reuse: "lifo" | "fifo";
  readonly sequence: HostSequence;
  readonly frameCount: number;
  private readonly now: (() => number) | undefined;
  private readonly poisonByte: number | undefined;
  private readonly owners: FrameOwner[];
  private readonly generation: Uint32Array;
  private readonly refs: Uint32Array;
  private readonly lastSeq: Float64Array;
  private readonly lastCycle: Float64Array;
  /** Freed frame indices; LIFO pops the tail, FIFO reads from `head`. */
  private freeList: number[] = [];
  private head = 0;
  /** Index of the next never-used frame. */
  private fresh = 0;
  private listeners: ((e: FrameEvent) => void)[] = [];
  private counters = { allocs: 0, frees: 0, reuses: 0, highWater: 0, allocated: 0 };

  constructor(options: FrameAllocatorOptions) {
    if (options === null || typeof options !== "object") throw new TypeError("FrameAllocator: options must be an object like { memory }");
    const { memory } = options;
    if (memory === null || typeof memory !== "object" || typeof memory.fill !== "function") {
      throw new TypeError("FrameAllocator: options.memory must be a PhysicalMemory");
    }
    const base = checkAligned("FrameAllocator: options.base", options.base ?? 0);
    const limit = checkAligned("FrameAllocator: options.limit", options.limit ?? memory.bytes);
    if (limit > memory.bytes) throw new RangeError(`FrameAllocator: options.limit 0x${limit.toString(16)} is beyond memory (0x${memory.bytes.toString(16)} bytes)`);
    if (base >= limit) throw new RangeError(`FrameAllocator: options.base 0x${base.toString(16)} must be below options.limit 0x${limit.toString(16)}`);
    const reuse = options.reuse ?? "lifo";
    if (reuse !== "lifo" && reuse !== "fifo") throw new RangeError(`FrameAllocator: options.reuse must be "lifo" or "fifo", got ${String(reuse)}`);
    if (options.now !== undefined && typeof options.now !== "function") throw new TypeError("FrameAllocator: options.now must be a function returning cycles");
    const pb = options.poisonByte;
    if (pb !== undefined && (!Number.isInteger(pb) || pb < 0 || pb > 255)) throw new RangeError(`FrameAllocator: options.poisonByte must be a byte (0..255), got ${String(pb)}`);
    this.memory = memory;
    this.base = base;
    this.limit = limit;
    this.reuse = reuse;
    this.sequence = options.sequence ?? new HostSequence();
    this.now = options.now;
    this.poisonByte = pb;
    this.frameCount = (limit - base) / FRAME_SIZE;
    this.owners = new Array<FrameOwner>(this.frameCount).fill(FREE_OWNER);
    this.generation = new Uint32Array(this.frameCount);
    this.refs = new Uint32Array(this.frameCount);
    this.lastSeq = new Float64Array(this.frameCount);
    this.lastCycle = new Float64Array(this.frameCount);
  }

  /** Allocate one zeroed 4 KiB frame for `owner`; returns its physical address. */
  alloc(owner: FrameOwner): number {
    if ((typeof owner !== "string" || owner.length === 0) && typeof owner !== "number") {
      throw new TypeError(`alloc: owner must be a non-empty string or a number, got ${String(owner)}`);
    }
    if (owner === FREE_OWNER) throw new RangeError(`alloc: owner "${FREE_OWNER}" is reserved for free frames`);
    let i: number;
    const pending = this.freeList.length - this.head;
    if (this.reuse === "lifo" && pending > 0) {
      i = this.freeList.pop()!;
    } else if (this.fresh < this.frameCount) {
      i = this.fresh++;
    } else if (pending > 0) {
      i = this.freeList[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.freeList.length) {
        this.freeList = this.freeList.slice(this.head);
        this.head = 0;
      }
    } else {
      throw new Error(
        `alloc: out of frames for owner ${String(owner)}: all ${this.frameCount} frames in [0x${this.base.toString(16)}, 0x${this.limit.toString(16)}) are allocated`,
      );
    }
    const pa = this.base + i * FRAME_SIZE;
    this.memory.fill(pa, FRAME_SIZE, 0);
    if (this.generation[i]! > 0) this.counters.reuses++;
    this.generation[i]!++;
    this.refs[i] = 1;
    this.owners[i] = owner;
    this.counters.allocs++;
    this.counters.allocated++;
    if (this.counters.allocated > this.counters.highWater) this.counters.highWater = this.counters.allocated;
    this.record("alloc", i, pa);
    return pa;
  }

  /** Take another reference on an allocated frame (get_page: a second mapping after fork). */
  get(pa: number): void {
    const i = this.index("get", pa);
    if (this.refs[i] === 0) throw new Error(`get: pa 0x${pa.toString(16)} is a free frame`);
    this.refs[i]!++;
  }

  /** Drop one reference (put_page); the frame is freed when the last one goes. Returns true if freed. */
  put(pa: number): boolean {
    const i = this.index("put", pa);
    if (this.refs[i] === 0) throw new Error(`put: pa 0x${pa.toString(16)} is already free`);
    if (this.refs[i]! > 1) {
      this.refs[i]!--;
      return false;
    }
    this.release(i, pa);
    return true;
  }

  /** Free a frame that has exactly one reference (throws if it is shared or already free). */
  free(pa: number): void {
    const i = this.index("free", pa);
    if (this.refs[i] === 0) throw new Error(`free: pa 0x${pa.toString(16)} is already free (double free)`);
    if (this.refs[i]! > 1) throw new Error(`free: pa 0x${pa.toString(16)} still has ${this.refs[i]} references; use put()`);
    this.release(i, pa);
  }

  ownerOf(pa: number): FrameOwner {
    return this.owners[this.index("ownerOf", pa)]!;
  }

  generationOf(pa: number): number {
    return this.generation[this.index("generationOf", pa)]!;
  }

  refCountOf(pa: number): number {
    return this.refs[this.index("refCountOf", pa)]!;
  }

  isFree(pa: number): boolean {
    return this.refs[this.index("isFree", pa)] === 0;
  }

  /** True when `pa` (any byte address) lies in this allocator's range. */
  manages(pa: number): boolean {
    return Number.isInteger(pa) && pa >= this.base && pa < this.limit;
  }

  info(pa: number): FrameInfo {
    const i = this.index("info", pa);
    return {
      pa: this.base + i * FRAME_SIZE,
      owner: this.owners[i]!,
      free: this.refs[i] === 0,
      generation: this.generation[i]!,
      refCount: this.refs[i]!,
      lastSeq: this.lastSeq[i]!,
      lastCycle: this.lastCycle[i]!,
    };
  }

  /** Physical addresses of every allocated frame whose owner equals `owner`. */
  framesOwnedBy(owner: FrameOwner): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.fresh; i++) if (this.refs[i]! > 0 && this.owners[i] === owner) out.push(this.base + i * FRAME_SIZE);
    return out;
  }

  /** Call `listener` on every allocation and free; returns a function that removes it. */
  addListener(listener: (e: FrameEvent) => void): () => void {
    if (typeof listener !== "function") throw new TypeError("addListener: listener must be a function");
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  get stats(): FrameAllocatorStats {
    const c = this.counters;
    return {
      total: this.frameCount,
      free: this.frameCount - c.allocated,
      allocated: c.allocated,
      allocs: c.allocs,
      frees: c.frees,
      reuses: c.reuses,
      highWater: c.highWater,
    };
  }

  private release(i: number, pa: number): void {
    const owner = this.owners[i]!;
    this.refs[i] = 0;
    this.owners[i] = FREE_OWNER;
    if (this.poisonByte !== undefined) this.memory.fill(pa, FRAME_SIZE, this.poisonByte);
    this.freeList.push(i);
    this.counters.frees++;
    this.counters.allocated--;
    this.record("free", i, pa, owner);
  }

  private record(kind: "alloc" | "free", i: number, pa: number, owner: FrameOwner = this.owners[i]!): void {
    const seq = this.sequence.next();
    const cycle = this.now ? this.now() : 0;
    this.lastSeq[i] = seq;
    this.lastCycle[i] = cycle;
    if (this.listeners.length > 0) {
      const e: FrameEvent = { kind, pa, owner, generation: this.generation[i]!, seq, cycle };
      for (const l of this.listeners.slice()) l(e);
    }
  }

  private index(name: string, pa: number): number {
    if (typeof pa !== "number" || !Number.isInteger(pa)) throw new TypeError(`${name}: pa must be an integer physical address, got ${String(pa)}`);
    if (pa < this.base || pa >= this.limit) {
      throw new RangeError(`${name}: pa 0x${pa.toString(16)} is outside the allocator's range [0x${this.base.toString(16)}, 0x${this.limit.toString(16)})`);
    }
    if (pa % FRAME_SIZE !== 0) throw new RangeError(`${name}: pa 0x${pa.toString(16)} is not 4 KiB aligned`);
    return (pa - this.base) / FRAME_SIZE;
  }
}
