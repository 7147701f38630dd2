/**
 * The workloads of the translation benchmarks and of the native reference's cases: one
 * NativeSpec describes a case's tables, caches and request sequence, and workloadFor() builds
 * it in the model with the project's builders (v1: hostWorkload; guest: a long-mode table of 4
 * or 5 levels behind a GCR3 table, with a PASID or through GIoV; nested: nestedWorkload).
 * bench/native/iommu_ref.c builds the same tables in the same allocation order.
 */
import { Gcr3Table, IommuTestbench, LongModeTable } from "../src/builders/index.js";
import { DATA_BASE, DEVICE, DOMAIN, GVA_BASE, PASID, Workload, hostWorkload, nestedWorkload } from "../src/experiments/workload.js";
import type { AmdIommuOptions } from "../src/iommu/options.js";
import type { NativeSpec } from "./native-reference.js";

/** A device with guest translation only (DTE Mode 0, GV = 1): a long-mode table of `levels` levels, PASID 1 or (giov) PASID 0. */
export function guestWorkload(o: { pages: number; levels: 4 | 5; giov: boolean; fresh: boolean; iommu: Omit<AmdIommuOptions, "memory">; /** Guest virtual address of page 0 (default GVA_BASE). */ base?: number }): Workload {
  const base = o.base ?? GVA_BASE;
  const tb = new IommuTestbench({ bytes: 64 * 1024 * 1024, deviceTableEntries: 4096, iommu: o.iommu });
  const guest = new LongModeTable(tb.memory, tb.pages, o.levels);
  for (let i = 0; i < o.pages; i++) guest.map(base + i * 4096, DATA_BASE + i * 4096, { writable: true, accessed: !o.fresh, dirty: !o.fresh });
  const gcr3 = new Gcr3Table(tb.memory, tb.pages, 0);
  gcr3.set(o.giov ? 0 : PASID, guest.root);
  tb.deviceTable.set(DEVICE, {
    V: true, TV: true, Mode: 0, IR: true, IW: true, DomainID: DOMAIN, I: true,
    GV: true, GIoV: o.giov, GLX: 0, GCR3TableRootPtr: gcr3.root, GuestPagingMode: o.levels === 5 ? 1 : 0,
  });
  tb.sync();
  const leaves = new Float64Array(o.pages);
  for (let i = 0; i < o.pages; i++) leaves[i] = guest.entryAddress(base + i * 4096, 1);
  return new Workload(tb, base, o.pages, 4096, o.giov ? undefined : PASID, (i) => leaves[i]!);
}

/** The model's workload of a case (`timing`: profile overrides, e.g. a small table-line cache in tests). */
export function workloadFor(s: NativeSpec, timing?: AmdIommuOptions["timing"]): Workload {
  const iommu = { iotlb: { entries: s.iotlb[0], ways: s.iotlb[1] }, pdeCache: { entries: s.pde[0], ways: s.pde[1] }, ...(timing === undefined ? {} : { timing }) };
  if (s.kind === "v1") {
    const w = hostWorkload({ pages: s.pages, levels: s.hostLevels ?? 4, fresh: s.fresh === true, iommu });
    // (DTE.I for ATS requests: the native reference's DTE has it too)
    const f = w.tb.deviceTable.get(DEVICE);
    w.tb.deviceTable.set(DEVICE, { ...f, I: true });
    w.tb.sync();
    return w;
  }
  if (s.kind === "guest") return guestWorkload({ pages: s.pages, levels: s.guestLevels ?? 4, giov: s.giov === true, fresh: s.fresh === true, iommu });
  const w = nestedWorkload({ pages: s.pages, iommu });
  const f = w.tb.deviceTable.get(DEVICE);
  w.tb.deviceTable.set(DEVICE, { ...f, I: true });
  w.tb.sync();
  return w;
}
