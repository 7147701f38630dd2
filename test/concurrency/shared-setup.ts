/**
 * Common set-up of the concurrency tests: one SharedArrayBuffer memory with a device table,
 * command buffer, event log, PPR log and completion-wait semaphore, and an MMIO mailbox
 * into which the main thread posts the driver's enable sequence (docs/spec-readings.md cmd 5
 * 5.a) before any agent starts; the IOMMU agent applies it at its first service.
 * Everything an agent needs crosses to the worker as plain numbers and the two buffers.
 */
import { PhysicalMemory } from "../../src/memory/physical-memory.js";
import { BumpAllocator } from "../../src/builders/page-allocator.js";
import { DeviceTableWriter } from "../../src/builders/device-table-writer.js";
import { MmioMailbox } from "../../src/shared/mmio-mailbox.js";
import {
  CONTROL, MMIO_COMMAND_BUFFER_BASE, MMIO_COMMAND_BUFFER_HEAD, MMIO_COMMAND_BUFFER_TAIL, MMIO_CONTROL, MMIO_DEVICE_TABLE_BASE,
  MMIO_EVENT_LOG_BASE, MMIO_EVENT_LOG_HEAD, MMIO_EVENT_LOG_TAIL, MMIO_PPR_LOG_BASE, MMIO_PPR_LOG_HEAD, MMIO_PPR_LOG_TAIL,
} from "../../src/spec/registers.js";

export interface SharedLayout {
  memoryBuffer: SharedArrayBuffer;
  mailboxBuffer: SharedArrayBuffer;
  commandBase: number; commandBytes: number;
  eventLogBase: number; eventLogBytes: number;
  pprLogBase: number; pprLogBytes: number;
  semaphore: number;
}

export interface SharedRig {
  memory: PhysicalMemory;
  mailbox: MmioMailbox;
  pages: BumpAllocator;
  deviceTable: DeviceTableWriter;
  layout: SharedLayout;
}

export const controlBits = (names: (keyof typeof CONTROL)[]): bigint =>
  names.reduce((v, n) => v | (BigInt(CONTROL[n].mask >>> 0) << BigInt(32 * CONTROL[n].half)), 0n);

/** Memory, tables and rings; the enable sequence is posted to the mailbox (applied when the IOMMU agent first polls). */
export function sharedRig(o: { bytes?: number; ringLen?: number; eventLogLen?: number; pprLogLen?: number; control?: (keyof typeof CONTROL)[] } = {}): SharedRig {
  const memory = new PhysicalMemory({ bytes: o.bytes ?? 32 * 1024 * 1024 });
  const mailbox = new MmioMailbox();
  const pages = new BumpAllocator(memory, 0x1000);
  const deviceTable = new DeviceTableWriter(memory, pages.allocContiguous(2), 256);
  const len = o.ringLen ?? 9;
  const evLen = o.eventLogLen ?? len;
  const pprLen = o.pprLogLen ?? len;
  const commandBytes = 2 ** (len + 4), eventLogBytes = 2 ** (evLen + 4), pprLogBytes = 2 ** (pprLen + 4);
  const commandBase = pages.allocContiguous(Math.ceil(commandBytes / 4096));
  const eventLogBase = pages.allocContiguous(Math.ceil(eventLogBytes / 4096));
  const pprLogBase = pages.allocContiguous(Math.ceil(pprLogBytes / 4096));
  const semaphore = pages.alloc();
  mailbox.postWrite64(MMIO_CONTROL, 0n);
  mailbox.postWrite64(MMIO_DEVICE_TABLE_BASE, deviceTable.registerValue);
  mailbox.postWrite64(MMIO_COMMAND_BUFFER_BASE, BigInt(commandBase) | (BigInt(len) << 56n));
  mailbox.postWrite64(MMIO_COMMAND_BUFFER_HEAD, 0n);
  mailbox.postWrite64(MMIO_COMMAND_BUFFER_TAIL, 0n);
  mailbox.postWrite64(MMIO_EVENT_LOG_BASE, BigInt(eventLogBase) | (BigInt(evLen) << 56n));
  mailbox.postWrite64(MMIO_EVENT_LOG_HEAD, 0n);
  mailbox.postWrite64(MMIO_EVENT_LOG_TAIL, 0n);
  mailbox.postWrite64(MMIO_PPR_LOG_BASE, BigInt(pprLogBase) | (BigInt(pprLen) << 56n));
  mailbox.postWrite64(MMIO_PPR_LOG_HEAD, 0n);
  mailbox.postWrite64(MMIO_PPR_LOG_TAIL, 0n);
  const bits = o.control ?? ["CmdBufEn", "EventLogEn", "PPRLogEn", "PPREn", "GTEn", "IommuEn"];
  mailbox.postWrite64(MMIO_CONTROL, controlBits(bits) | (4n << 5n) /* InvTimeOut = 1 s */);
  return {
    memory, mailbox, pages, deviceTable,
    layout: {
      memoryBuffer: memory.buffer, mailboxBuffer: mailbox.buffer, commandBase, commandBytes, eventLogBase, eventLogBytes,
      pprLogBase, pprLogBytes, semaphore,
    },
  };
}

/** IOMMU_FUZZ_LONG=1 (or IOMMU_SOAK=1) selects the long soak mode. */
export const LONG = process.env.IOMMU_FUZZ_LONG === "1" || process.env.IOMMU_SOAK === "1";
