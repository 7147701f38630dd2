/**
 * Workloads for the calibration experiments and the benchmarks: a programmed IOMMU with a
 * large mapped I/O address space (host v1 tables of 4 or 5 levels with 4 KiB or 2 MiB pages,
 * or guest tables nested in host tables), a device that issues DMA at chosen addresses, and
 * a command ring written as a driver does (32-bit MMIO doorbell).
 *
 * Data pages are never touched by the IOMMU, so mappings point at SPAs outside the memory
 * the tables live in: only the tables take memory.
 */
import { IommuTestbench, LongModeTable, Gcr3Table, V1PageTable } from "../builders/index.js";
import type { AmdIommuOptions } from "../iommu/options.js";
import { MMIO_COMMAND_BUFFER_TAIL } from "../spec/registers.js";
import { buildCompletionWait } from "../spec/commands.js";

export const DEVICE = 0x0100;
export const DOMAIN = 1;
export const IOVA_BASE = 0x10_0000_0000;
export const GVA_BASE = 0x7f00_0000_0000;
export const PASID = 1;
/** SPA (and GPA) where data pages are mapped: above the table memory. */
export const DATA_BASE = 0x40_0000_0000;
export const MiB = 1024 * 1024;

export interface HostWorkloadOptions {
  /** Pages mapped at IOVA_BASE. */
  pages: number;
  pageSize?: 4096 | 2097152;
  /** v1 table levels (DTE Mode), 4 or 5. */
  levels?: 4 | 5;
  iommu?: Omit<AmdIommuOptions, "memory">;
  /** Leave A and D clear in the leaves (first-touch walks set them). */
  fresh?: boolean;
  /** Device address of page 0 (default IOVA_BASE). */
  base?: number;
}

export class Workload {
  readonly io;
  constructor(readonly tb: IommuTestbench, readonly base: number, readonly pages: number, readonly pageSize: number,
    readonly pasid: number | undefined, private readonly leafOf: (i: number) => number) {
    this.io = tb.iommu;
  }
  /** Device address of page i (plus offset). */
  address(i: number, offset = 0): number { return this.base + i * this.pageSize + offset; }
  /** SPA of the leaf entry mapping page i (for resetting A/D). */
  leaf(i: number): number { return this.leafOf(i); }
}

function tableBytes(pages: number, pageSize: number): number {
  const leafTables = Math.ceil(pages / (pageSize === 4096 ? 512 : 1)) + 16;
  return Math.max(32 * MiB, Math.ceil(((leafTables * 2 + 64) * 4096 + 24 * MiB) / MiB) * MiB);
}

/** A device in DOMAIN whose v1 table maps `pages` pages at IOVA_BASE (HAD = 11b). */
export function hostWorkload(o: HostWorkloadOptions): Workload {
  const size = o.pageSize ?? 4096;
  const levels = o.levels ?? 4;
  const base = o.base ?? IOVA_BASE;
  const tb = new IommuTestbench({ bytes: tableBytes(o.pages, size), deviceTableEntries: 4096, iommu: o.iommu ?? {} });
  const v1 = new V1PageTable(tb.memory, tb.pages, levels);
  for (let i = 0; i < o.pages; i++) v1.map(base + i * size, DATA_BASE + i * size, { size, accessed: !o.fresh, dirty: !o.fresh });
  tb.deviceTable.set(DEVICE, { V: true, TV: true, Mode: levels, HostPageTableRootPtr: v1.root, IR: true, IW: true, DomainID: DOMAIN, HAD: 3 });
  tb.sync();
  const level = size === 4096 ? 1 : 2;
  const leaves = new Float64Array(o.pages);
  for (let i = 0; i < o.pages; i++) leaves[i] = v1.entryAddress(base + i * size, level);
  return new Workload(tb, base, o.pages, size, undefined, (i) => leaves[i]!);
}

/**
 * A device with guest (PASID) translation through 4-level long-mode tables that live in guest
 * physical memory, nested in a 4-level host v1 table with 4 KiB pages: a cold walk reads
 * (4 + 1) x (4 + 1) - 1 = 24 entries (docs/calibration.md E1).
 */
export function nestedWorkload(o: { pages: number; iommu?: Omit<AmdIommuOptions, "memory">; /** Guest virtual address of page 0 (default GVA_BASE). */ base?: number }): Workload {
  const base = o.base ?? GVA_BASE;
  const tb = new IommuTestbench({ bytes: tableBytes(o.pages, 4096) * 2, deviceTableEntries: 4096, iommu: o.iommu ?? {} });
  const start = tb.pages.used;
  const guest = new LongModeTable(tb.memory, tb.pages, 4);
  for (let i = 0; i < o.pages; i++) guest.map(base + i * 4096, DATA_BASE + i * 4096, { writable: true, accessed: true, dirty: true });
  const gcr3 = new Gcr3Table(tb.memory, tb.pages, 0);
  gcr3.set(PASID, guest.root);
  const end = tb.pages.used;
  const host = new V1PageTable(tb.memory, tb.pages, 4);
  for (let a = start; a < end; a += 4096) host.map(a, a, { accessed: true, dirty: true }); // guest tables, identity GPA = SPA
  for (let i = 0; i < o.pages; i++) host.map(DATA_BASE + i * 4096, DATA_BASE + i * 4096, { accessed: true, dirty: true });
  tb.deviceTable.set(DEVICE, {
    V: true, TV: true, Mode: 4, HostPageTableRootPtr: host.root, IR: true, IW: true, DomainID: DOMAIN, HAD: 3,
    GV: true, GLX: 0, GCR3TableRootPtr: gcr3.root, GuestPagingMode: 0,
  });
  tb.sync();
  const leaves = new Float64Array(o.pages);
  for (let i = 0; i < o.pages; i++) leaves[i] = guest.entryAddress(base + i * 4096, 1);
  return new Workload(tb, base, o.pages, 4096, PASID, (i) => leaves[i]!);
}

/** Software's side of the command ring with 32-bit doorbell writes (no BigInt per command). */
export class CommandRing {
  private tail = 0;
  constructor(private readonly tb: IommuTestbench) {
    this.tail = tb.iommu.mmioRead32(MMIO_COMMAND_BUFFER_TAIL);
  }
  /** Copy commands at Tail and ring the doorbell. */
  submit(...cmds: Uint32Array[]): void {
    const mem = this.tb.memory.u32;
    for (const c of cmds) {
      mem.set(c, (this.tb.commandBuffer + this.tail) >>> 2);
      this.tail = (this.tail + 16) % this.tb.ringBytes;
    }
    this.tb.iommu.mmioWrite32(MMIO_COMMAND_BUFFER_TAIL, this.tail);
  }
  /** Commands that fit in the ring at once (one slot stays free: Head = Tail means empty). */
  get capacity(): number { return this.tb.ringBytes / 16 - 1; }
  /** Pad with no-op COMPLETION_WAITs (no store, no interrupt) so the next command starts a 64-byte line, and run them. */
  alignToLine(): void {
    while (this.tail % 64 !== 0) this.submit(buildCompletionWait({}));
    this.tb.iommu.runUntilIdle();
  }
}
