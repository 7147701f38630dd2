/** A programmed IOMMU with a v1 (host) table over a contiguous IOVA range, for the timing suites. */
import { IommuTestbench, V1PageTable } from "../../src/builders/index.js";
import type { AmdIommuOptions } from "../../src/index.js";

export const DEV = 0x0100;
export const IOVA = 0x4000_0000;

export interface TimingRig { tb: IommuTestbench; v1: V1PageTable; data: number }

/** `pages` 4 KiB pages mapped at IOVA (A and D preset unless fresh), device DEV in domain 1 with HAD = 11b. */
export function timingRig(pages: number, iommu: Omit<AmdIommuOptions, "memory"> = {}, o: { fresh?: boolean; levels?: number } = {}): TimingRig {
  const tb = new IommuTestbench({ bytes: 64 * 1024 * 1024 + pages * 4096 * 2, iommu });
  const v1 = new V1PageTable(tb.memory, tb.pages, o.levels ?? 4);
  const data = tb.pages.allocContiguous(pages);
  for (let i = 0; i < pages; i++) v1.map(IOVA + i * 4096, data + i * 4096, { accessed: !o.fresh, dirty: !o.fresh });
  tb.deviceTable.set(DEV, { V: true, TV: true, Mode: o.levels ?? 4, HostPageTableRootPtr: v1.root, IR: true, IW: true, DomainID: 1, HAD: 3 });
  tb.sync();
  return { tb, v1, data };
}
