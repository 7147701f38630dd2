/** Shared set-up for the host-side tests: a small memory, a frame allocator, an mm, a recorder. */
import { PhysicalMemory } from "../../src/memory/physical-memory.js";
import { FrameAllocator, type FrameAllocatorOptions } from "../../src/host/frame-allocator.js";
import { Mm, type MmOptions } from "../../src/host/address-space.js";
import type { MmuNotifierSubscriber } from "../../src/host/mmu-notifier.js";
import { LM_P } from "../../src/spec/page-tables.js";

export const PAGE = 4096;

export interface HostSetup {
  memory: PhysicalMemory;
  frames: FrameAllocator;
  mm: Mm;
}

export function setup(mmOptions: Partial<MmOptions> = {}, frameOptions: Partial<FrameAllocatorOptions> = {}): HostSetup {
  const memory = new PhysicalMemory({ bytes: 8 * 1024 * 1024 });
  const frames = new FrameAllocator({ memory, base: 0x100000, ...frameOptions });
  const mm = new Mm({ memory, frames, id: "mm1", ...mmOptions });
  return { memory, frames, mm };
}

/** The 64-bit entry word at `entryPa`. */
export function pteWord(memory: PhysicalMemory, entryPa: number): bigint {
  return memory.read64(entryPa);
}

export function present(word: bigint): boolean {
  return (word & BigInt(LM_P)) !== 0n;
}

/** One observation made inside a notifier callback. */
export interface Observation {
  callback: string;
  start: number;
  end: number;
  /** Whatever the test's probe returned at that moment. */
  probe: unknown;
}

/**
 * A subscriber that records every callback and runs `probe` inside it, so a test can see
 * the state of PTEs and frames at the exact moment the callback ran.
 */
export function recorder(probe: () => unknown = () => undefined, young = false): { sub: MmuNotifierSubscriber; calls: Observation[] } {
  const calls: Observation[] = [];
  const sub: MmuNotifierSubscriber = {
    name: "recorder",
    invalidateRangeStart: (_mm, start, end) => {
      calls.push({ callback: "invalidateRangeStart", start, end, probe: probe() });
    },
    archInvalidateSecondaryTlbs: (_mm, start, end) => {
      calls.push({ callback: "archInvalidateSecondaryTlbs", start, end, probe: probe() });
    },
    invalidateRangeEnd: (_mm, start, end) => {
      calls.push({ callback: "invalidateRangeEnd", start, end, probe: probe() });
    },
    clearFlushYoung: (_mm, start, end) => {
      calls.push({ callback: "clearFlushYoung", start, end, probe: probe() });
      return young;
    },
    release: () => {
      calls.push({ callback: "release", start: 0, end: 0, probe: probe() });
    },
  };
  return { sub, calls };
}

/** Map one page at a fresh mmap address by a CPU store; returns va, pa and the leaf entry address. */
export function faultIn(mm: Mm, prot = "rw-", len = PAGE): { va: number; pa: number; entryPa: number } {
  const va = mm.mmap(len, prot);
  const pa = mm.cpuAccess(va, prot[1] === "w");
  if (pa === null) throw new Error("faultIn: segv");
  const pte = mm.pageTable.readPte(va)!;
  return { va, pa, entryPa: pte.entryPa };
}
