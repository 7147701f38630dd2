/**
 * The host driver of shared mode: what Linux's AMD IOMMU driver does to the command
 * buffer and the logs (docs/spec-readings.md cmd 1.1, 2.1, 3.1, 4.3, 5.a), from a thread other
 * than the IOMMU's. Register writes go through the MMIO mailbox; commands, logs and the
 * completion-wait semaphore live in the shared memory.
 *
 * - submit(): write 16-byte commands at Tail (software owns Tail), then write the Command
 *   Buffer Tail register: the doorbell. Head is read from the register mirror.
 * - completionWait(): queue COMPLETION_WAIT with s = 1 and an incrementing 64-bit StoreData
 *   (Linux since 5.11), ring the doorbell and block in Atomics.wait on the semaphore's low
 *   word until the IOMMU's store lands (the IOMMU stores the high word first, then the low
 *   word with Atomics.notify). When it returns, every earlier command has completed (4.3).
 * - SharedLogConsumer: read entries from Head to the published Tail, check each code is
 *   non-zero, zero the slot (as Linux does), write Head; restart the log after an overflow
 *   (Linux: clear LogEn and IntEn, write 1 to Overflow, set both again).
 */
import { PhysicalMemory } from "../memory/physical-memory.js";
import { buildCompletionWait } from "../spec/commands.js";
import {
  CONTROL, MMIO_COMMAND_BUFFER_HEAD, MMIO_COMMAND_BUFFER_TAIL, MMIO_CONTROL, MMIO_EVENT_LOG_HEAD, MMIO_EVENT_LOG_TAIL,
  MMIO_PPR_LOG_HEAD, MMIO_PPR_LOG_TAIL, MMIO_STATUS, STATUS, type BitRef,
} from "../spec/registers.js";
import { MmioMailbox } from "./mmio-mailbox.js";

const ENTRY = 16;

function ring(name: string, memory: PhysicalMemory, base: number, bytes: number): void {
  if (!Number.isInteger(base) || base < 0 || base % 4096 !== 0) throw new RangeError(`${name}: base must be a 4 KiB-aligned address, got ${String(base)}`);
  if (!Number.isInteger(bytes) || bytes < 4096 || (bytes & (bytes - 1)) !== 0 || !memory.contains(base, bytes)) {
    throw new RangeError(`${name}: bytes must be a power of two >= 4096 inside memory, got ${String(bytes)}`);
  }
}

export interface SharedHostDriverOptions {
  memory: PhysicalMemory | SharedArrayBuffer;
  mailbox: MmioMailbox | SharedArrayBuffer;
  /** The command buffer the driver programmed: base address and size in bytes (2^ComLen x 16). */
  commandBuffer: { base: number; bytes: number };
  /** An 8-byte, 8-byte-aligned semaphore for completion-wait stores. */
  semaphore: number;
  /** Longest wait for the IOMMU agent, in milliseconds (Linux gives up after about 100 ms; default 10 s). */
  timeoutMs?: number;
}

function asMemory(m: unknown): PhysicalMemory {
  if (m instanceof PhysicalMemory) return m;
  if (m instanceof SharedArrayBuffer) return new PhysicalMemory({ buffer: m });
  throw new TypeError("options.memory must be a PhysicalMemory or a SharedArrayBuffer");
}
function asMailbox(m: unknown): MmioMailbox {
  if (m instanceof MmioMailbox) return m;
  if (m instanceof SharedArrayBuffer) return new MmioMailbox(m);
  throw new TypeError("options.mailbox must be an MmioMailbox or a SharedArrayBuffer");
}

export class SharedHostDriver {
  readonly memory: PhysicalMemory;
  readonly mailbox: MmioMailbox;
  readonly commandBase: number;
  readonly commandBytes: number;
  readonly semaphore: number;
  readonly timeoutMs: number;
  private tail = 0;
  private semValue = 0n;
  /** Commands written, completion waits, doorbells rung, waits for a full command buffer. */
  readonly stats = { commands: 0, completionWaits: 0, doorbells: 0, fullWaits: 0 };

  constructor(o: SharedHostDriverOptions) {
    if (o === null || typeof o !== "object") throw new TypeError("SharedHostDriver: options must be an object");
    this.memory = asMemory(o.memory);
    this.mailbox = asMailbox(o.mailbox);
    if (o.commandBuffer === null || typeof o.commandBuffer !== "object") throw new TypeError("SharedHostDriver: options.commandBuffer must be { base, bytes }");
    ring("SharedHostDriver: options.commandBuffer", this.memory, o.commandBuffer.base, o.commandBuffer.bytes);
    this.commandBase = o.commandBuffer.base;
    this.commandBytes = o.commandBuffer.bytes;
    if (!Number.isInteger(o.semaphore) || o.semaphore < 0 || o.semaphore % 8 !== 0 || !this.memory.contains(o.semaphore, 8)) {
      throw new RangeError(`SharedHostDriver: options.semaphore must be an 8-byte aligned address inside memory, got ${String(o.semaphore)}`);
    }
    this.semaphore = o.semaphore;
    const t = o.timeoutMs ?? 10_000;
    if (typeof t !== "number" || !(t > 0)) throw new RangeError(`SharedHostDriver: options.timeoutMs must be a positive number, got ${String(t)}`);
    this.timeoutMs = t;
    this.tail = Number(this.mailbox.read64(MMIO_COMMAND_BUFFER_TAIL)) & (this.commandBytes - 1) & ~(ENTRY - 1);
    this.semValue = this.memory.read64(this.semaphore);
  }

  /** Free command slots, as seen through the published Head. */
  private free(): number {
    const head = Number(this.mailbox.read64(MMIO_COMMAND_BUFFER_HEAD)) & (this.commandBytes - 1) & ~(ENTRY - 1);
    return ((head - this.tail - ENTRY + this.commandBytes) % this.commandBytes) / ENTRY;
  }

  /** Write commands at Tail and ring the doorbell (the Tail register write). */
  submit(...commands: Uint32Array[]): void {
    for (const c of commands) {
      if (!(c instanceof Uint32Array) || c.length !== 4) throw new TypeError("submit: each command must be a Uint32Array of 4 dwords");
      if (this.free() === 0) {
        this.doorbell();
        this.stats.fullWaits++;
        // the agent runs the processor until idle at every service: after one barrier the
        // buffer is still full only if the processor halted or waits forever on a device
        if (!this.mailbox.waitApplied(this.mailbox.postBarrier(this.timeoutMs), this.timeoutMs) || this.free() === 0) {
          throw new Error(`submit: the command buffer stayed full (timeoutMs ${this.timeoutMs} ms): is the IOMMU agent serving, or its command buffer halted?`);
        }
      }
      const pa = this.commandBase + this.tail;
      for (let i = 0; i < 4; i++) this.memory.write32(pa + 4 * i, c[i]!);
      this.tail = (this.tail + ENTRY) % this.commandBytes;
      this.stats.commands++;
    }
    this.doorbell();
  }

  private doorbell(): void {
    this.mailbox.postWrite64(MMIO_COMMAND_BUFFER_TAIL, BigInt(this.tail), this.timeoutMs);
    this.stats.doorbells++;
  }

  /**
   * Queue COMPLETION_WAIT (store) after `commands` and block until its store lands. Returns
   * false if it did not land within timeoutMs (a halted command buffer, a stopped agent).
   */
  completionWait(...commands: Uint32Array[]): boolean {
    this.semValue = BigInt.asUintN(64, this.semValue + 1n);
    const want = this.semValue;
    this.submit(...commands, buildCompletionWait({ store: true, address: this.semaphore, data: want }));
    this.stats.completionWaits++;
    return this.waitSemaphore(want, this.timeoutMs);
  }

  /** Block until the semaphore holds `value` (Atomics.wait on its low word). */
  waitSemaphore(value: bigint, timeoutMs: number): boolean {
    const i32 = this.memory.i32;
    const idx = this.semaphore / 4;
    const wantLo = Number(value & 0xffffffffn) | 0;
    const wantHi = Number(value >> 32n) >>> 0;
    let left = timeoutMs;
    for (;;) {
      const lo = Atomics.load(i32, idx);
      if (lo === wantLo && Atomics.load(this.memory.u32, idx + 1) === wantHi) return true;
      if (left <= 0) return false;
      const step = Math.min(left, 50);
      Atomics.wait(i32, idx, lo, step);
      left -= step;
    }
  }

  /** A register write through the mailbox (posted). */
  mmioWrite64(offset: number, value: bigint): number { return this.mailbox.postWrite64(offset, value, this.timeoutMs); }
  /** A non-posted register read (waits for the agent to apply earlier writes). */
  mmioRead64(offset: number): bigint { return this.mailbox.readFresh64(offset, this.timeoutMs); }
}

/** Which log a consumer drains. */
export interface LogRegisters { headReg: number; tailReg: number; logEn: BitRef; intEn: BitRef; overflow: BitRef; run: BitRef }
export const EVENT_LOG_REGISTERS: LogRegisters = {
  headReg: MMIO_EVENT_LOG_HEAD, tailReg: MMIO_EVENT_LOG_TAIL, logEn: CONTROL.EventLogEn, intEn: CONTROL.EventIntEn,
  overflow: STATUS.EventOverflow, run: STATUS.EventLogRun,
};
export const PPR_LOG_REGISTERS: LogRegisters = {
  headReg: MMIO_PPR_LOG_HEAD, tailReg: MMIO_PPR_LOG_TAIL, logEn: CONTROL.PPRLogEn, intEn: CONTROL.PprIntEn,
  overflow: STATUS.PprOverflow, run: STATUS.PprLogRun,
};

const bit64 = (b: BitRef) => BigInt(b.mask >>> 0) << BigInt(32 * b.half);

export class SharedLogConsumer {
  private head = 0;
  private readonly dw = new Uint32Array(4);
  readonly stats = { consumed: 0, emptySlots: 0, restarts: 0 };

  constructor(private readonly driver: SharedHostDriver, readonly base: number, readonly bytes: number, readonly regs: LogRegisters) {
    ring("SharedLogConsumer", driver.memory, base, bytes);
    this.head = Number(driver.mailbox.read64(regs.headReg)) & (bytes - 1) & ~(ENTRY - 1);
  }

  /**
   * Consume every entry up to the published Tail: `visit(dw)` sees each entry (dw is reused),
   * then the slot is zeroed, and Head is written once at the end. Returns the count.
   */
  drain(visit: (dw: Uint32Array) => void): number {
    const mem = this.driver.memory;
    const tail = Number(this.driver.mailbox.read64(this.regs.tailReg)) & (this.bytes - 1) & ~(ENTRY - 1);
    let n = 0;
    while (this.head !== tail) {
      const pa = this.base + this.head;
      for (let i = 0; i < 4; i++) this.dw[i] = Atomics.load(mem.u32, pa / 4 + i);
      if ((this.dw[1]! >>> 28) === 0) this.stats.emptySlots++; // the code nibble must be set before Tail moves
      visit(this.dw);
      for (let i = 0; i < 4; i++) Atomics.store(mem.u32, pa / 4 + i, 0);
      this.head = (this.head + ENTRY) % this.bytes;
      n++;
    }
    if (n > 0) this.driver.mmioWrite64(this.regs.headReg, BigInt(this.head));
    this.stats.consumed += n;
    return n;
  }

  /** Overflow bit as last published. */
  overflowed(): boolean {
    const st = this.driver.mailbox.read64(MMIO_STATUS);
    return (st & bit64(this.regs.overflow)) !== 0n;
  }

  /** Linux's restart: if Run is still 1 nothing; else LogEn = IntEn = 0, W1C Overflow, LogEn (and IntEn if it was set) = 1. */
  restart(): boolean {
    const d = this.driver;
    const st = d.mmioRead64(MMIO_STATUS);
    if ((st & bit64(this.regs.run)) !== 0n) return false;
    const ctl = d.mailbox.read64(MMIO_CONTROL);
    const both = bit64(this.regs.logEn) | bit64(this.regs.intEn);
    d.mmioWrite64(MMIO_CONTROL, ctl & ~both);
    d.mmioWrite64(MMIO_STATUS, bit64(this.regs.overflow));
    d.mmioWrite64(MMIO_CONTROL, (ctl & ~bit64(this.regs.intEn)) | bit64(this.regs.logEn) | (ctl & bit64(this.regs.intEn)));
    this.stats.restarts++;
    return true;
  }
}
