/**
 * A driver-like harness for hardware-behaviour tests and examples: physical memory, one
 * IOMMU, a device table, command buffer, event log and PPR log programmed through the MMIO
 * registers in Linux's enable order (docs/spec-readings.md cmd 5.a), a page allocator, and
 * helpers to queue commands and drain logs exactly as software does (ring pointers in
 * registers, entries in memory).
 */
import { PhysicalMemory } from "../memory/physical-memory.js";
import { AmdIommu } from "../iommu/amd-iommu.js";
import type { AmdIommuOptions } from "../iommu/options.js";
import {
  CONTROL, MMIO_COMMAND_BUFFER_BASE, MMIO_COMMAND_BUFFER_HEAD, MMIO_COMMAND_BUFFER_TAIL, MMIO_CONTROL, MMIO_DEVICE_TABLE_BASE,
  MMIO_EVENT_LOG_BASE, MMIO_EVENT_LOG_HEAD, MMIO_EVENT_LOG_TAIL, MMIO_PPR_LOG_BASE, MMIO_PPR_LOG_HEAD, MMIO_PPR_LOG_TAIL,
} from "../spec/registers.js";
import { decodeEvent, type DecodedEvent } from "../spec/events.js";
import { decodePprEntry, type DecodedPprEntry } from "../spec/ppr.js";
import { buildCompletionWait } from "../spec/commands.js";
import { BumpAllocator } from "./page-allocator.js";
import { DeviceTableWriter } from "./device-table-writer.js";

export interface TestbenchOptions {
  /** Memory size (default 64 MiB). */
  bytes?: number;
  /** Options for the IOMMU (memory is supplied). */
  iommu?: Omit<AmdIommuOptions, "memory">;
  /** log2 entries of the command buffer, event log and PPR log (8..15; default 9 as Linux). */
  ringLen?: number;
  /** Set GTEn (default true). */
  guestTranslation?: boolean;
  /** Number of DTEs in the device table (default 65536). */
  deviceTableEntries?: number;
  /** Leave the IOMMU disabled after programming (default false). */
  leaveDisabled?: boolean;
}

const CONTROL_BITS = (names: (keyof typeof CONTROL)[]) => names.reduce((v, n) => v | (BigInt(CONTROL[n].mask) << BigInt(32 * CONTROL[n].half)), 0n);

export class IommuTestbench {
  readonly memory: PhysicalMemory;
  readonly iommu: AmdIommu;
  readonly pages: BumpAllocator;
  readonly deviceTable: DeviceTableWriter;
  readonly commandBuffer: number;
  readonly eventLogBase: number;
  readonly pprLogBase: number;
  readonly ringBytes: number;
  /** An 8-byte semaphore for COMPLETION_WAIT stores. */
  readonly semaphore: number;
  private semValue = 0n;

  constructor(o: TestbenchOptions = {}) {
    this.memory = new PhysicalMemory({ bytes: o.bytes ?? 64 * 1024 * 1024 });
    this.iommu = new AmdIommu({ ...(o.iommu ?? {}), memory: this.memory });
    const len = o.ringLen ?? 9;
    this.ringBytes = 2 ** (len + 4);
    const entries = o.deviceTableEntries ?? 65536;
    this.pages = new BumpAllocator(this.memory, 0x1000);
    const dtPages = Math.ceil((entries * 32) / 4096);
    this.deviceTable = new DeviceTableWriter(this.memory, this.pages.allocContiguous(dtPages), entries);
    this.commandBuffer = this.pages.allocContiguous(this.ringBytes / 4096);
    this.eventLogBase = this.pages.allocContiguous(this.ringBytes / 4096);
    this.pprLogBase = this.pages.allocContiguous(this.ringBytes / 4096);
    this.semaphore = this.pages.alloc();
    const io = this.iommu;
    const lenBits = BigInt(len) << 56n;
    io.mmioWrite64(MMIO_CONTROL, 0n);
    io.mmioWrite64(MMIO_DEVICE_TABLE_BASE, this.deviceTable.registerValue);
    io.mmioWrite64(MMIO_COMMAND_BUFFER_BASE, BigInt(this.commandBuffer) | lenBits);
    io.mmioWrite64(MMIO_COMMAND_BUFFER_HEAD, 0n);
    io.mmioWrite64(MMIO_COMMAND_BUFFER_TAIL, 0n);
    io.mmioWrite64(MMIO_EVENT_LOG_BASE, BigInt(this.eventLogBase) | lenBits);
    io.mmioWrite64(MMIO_EVENT_LOG_HEAD, 0n);
    io.mmioWrite64(MMIO_EVENT_LOG_TAIL, 0n);
    io.mmioWrite64(MMIO_PPR_LOG_BASE, BigInt(this.pprLogBase) | lenBits);
    io.mmioWrite64(MMIO_PPR_LOG_HEAD, 0n);
    io.mmioWrite64(MMIO_PPR_LOG_TAIL, 0n);
    const bits: (keyof typeof CONTROL)[] = ["CmdBufEn", "EventLogEn", "PPRLogEn", "PPREn"];
    if (o.guestTranslation !== false) bits.push("GTEn");
    if (!o.leaveDisabled) bits.push("IommuEn");
    io.mmioWrite64(MMIO_CONTROL, CONTROL_BITS(bits) | (4n << 5n) /* InvTimeOut = 1 s */);
  }

  /** Set or clear Control bits by name. */
  control(set: (keyof typeof CONTROL)[], clear: (keyof typeof CONTROL)[] = []): void {
    const v = this.iommu.mmioRead64(MMIO_CONTROL);
    this.iommu.mmioWrite64(MMIO_CONTROL, (v | CONTROL_BITS(set)) & ~CONTROL_BITS(clear));
  }

  /** Write commands at Tail and move Tail (the doorbell); they run at runUntilIdle(). */
  submit(...cmds: Uint32Array[]): void {
    const io = this.iommu;
    let tail = Number(io.mmioRead64(MMIO_COMMAND_BUFFER_TAIL));
    for (const c of cmds) {
      for (let i = 0; i < 4; i++) this.memory.write32(this.commandBuffer + tail + 4 * i, c[i]!);
      tail = (tail + 16) % this.ringBytes;
    }
    io.mmioWrite64(MMIO_COMMAND_BUFFER_TAIL, BigInt(tail));
  }

  /** Submit commands followed by COMPLETION_WAIT (store), run until idle; true if the store landed. */
  sync(...cmds: Uint32Array[]): boolean {
    this.semValue++;
    this.submit(...cmds, buildCompletionWait({ store: true, address: this.semaphore, data: this.semValue }));
    this.iommu.runUntilIdle();
    return this.memory.read64(this.semaphore) === this.semValue;
  }

  private drain<T>(base: number, headReg: number, tailReg: number, decode: (dw: number[]) => T): T[] {
    const io = this.iommu;
    let head = Number(io.mmioRead64(headReg));
    const tail = Number(io.mmioRead64(tailReg));
    const out: T[] = [];
    while (head !== tail) {
      const dw = [0, 1, 2, 3].map((i) => this.memory.read32(base + head + 4 * i));
      out.push(decode(dw));
      head = (head + 16) % this.ringBytes;
    }
    io.mmioWrite64(headReg, BigInt(head));
    return out;
  }
  /** Read and consume every event-log entry (software side: read to Tail, write Head). */
  events(): DecodedEvent[] { return this.drain(this.eventLogBase, MMIO_EVENT_LOG_HEAD, MMIO_EVENT_LOG_TAIL, decodeEvent); }
  /** Read and consume every PPR-log entry. */
  pprEntries(): DecodedPprEntry[] { return this.drain(this.pprLogBase, MMIO_PPR_LOG_HEAD, MMIO_PPR_LOG_TAIL, decodePprEntry); }
}
