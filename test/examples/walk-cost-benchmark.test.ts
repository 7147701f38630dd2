/**
 * Example: a microbenchmark of walk cost with tinybench — host time per translation (how
 * fast the model runs) beside the modelled cost (cycles and table references the hardware
 * would spend) for an IOTLB hit, a host v1 4-level walk, a guest 4-level walk and a nested
 * 4x4 walk, with the IOTLB and page-directory cache off so every translation walks.
 *
 * The test runs a handful of iterations only and asserts no host-time figure (those depend
 * on the machine); WALK_BENCH=1 runs it properly and prints the table.
 *
 * (In a project that installed the package, import from "amd-iommu-v2-model" instead.)
 */
import { expect, it } from "vitest";
import { Bench } from "tinybench";
import { builders, TranslationResult, type AmdIommu, type TranslationRequest } from "../../src/index.js";

const LONG = process.env.WALK_BENCH === "1";
const MiB = 1024 * 1024;

/** An IOMMU with one device of each kind; caches as given. */
function system(caches: boolean) {
  const off = { entries: 0 };
  const tb = new builders.IommuTestbench({ bytes: 32 * MiB, deviceTableEntries: 1024, iommu: caches ? {} : { iotlb: off, pdeCache: off, gcr3Cache: off } });
  const mem = tb.memory;
  const host = new builders.V1PageTable(mem, tb.pages, 4);
  host.map(0x1000_0000, tb.pages.alloc());
  tb.deviceTable.set(1, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: host.root, IR: true, IW: true, DomainID: 1 });
  const guest = new builders.LongModeTable(mem, tb.pages, 4);
  guest.map(0x7000_0000_0000n, tb.pages.alloc());
  const gcr3 = new builders.Gcr3Table(mem, tb.pages);
  gcr3.set(1, guest.root);
  tb.deviceTable.set(2, { V: true, TV: true, GV: true, GLX: 0, GCR3TableRootPtr: gcr3.root, IR: true, IW: true, DomainID: 2 });
  // nested: guest tables at GPAs [0, 4 MiB) = SPAs [16 MiB, 20 MiB), mapped by 4 KiB host pages
  const window = 16 * MiB;
  const nHost = new builders.V1PageTable(mem, tb.pages, 4);
  for (let g = 0; g < 4 * MiB; g += 4096) nHost.map(g, window + g);
  const nPages = new builders.BumpAllocator(mem, window, window + 4 * MiB);
  const nGuest = new builders.LongModeTable(mem, nPages, 4, (g) => g + window, (s) => s - window);
  nGuest.map(0x7000_0000_0000n, nPages.alloc() - window);
  const nGcr3 = new builders.Gcr3Table(mem, tb.pages);
  nGcr3.set(1, nGuest.root);
  tb.deviceTable.set(3, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: nHost.root, GV: true, GLX: 0, GCR3TableRootPtr: nGcr3.root, IR: true, IW: true, DomainID: 3 });
  tb.sync();
  return tb.iommu;
}

const CASES: { name: string; caches: boolean; req: TranslationRequest }[] = [
  { name: "IOTLB hit", caches: true, req: { deviceId: 1, address: 0x1000_0040 } },
  { name: "host v1 4-level walk", caches: false, req: { deviceId: 1, address: 0x1000_0040 } },
  { name: "guest 4-level walk", caches: false, req: { deviceId: 2, address: 0x7000_0000_0040n, pasid: 1 } },
  { name: "nested 4x4 walk", caches: false, req: { deviceId: 3, address: 0x7000_0000_0040n, pasid: 1 } },
];

it("tinybench measures host time per walk next to the modelled cycles and table references", async () => {
  const bench = new Bench(LONG ? { time: 500 } : { iterations: 16, time: 0, warmup: false });
  const modelled: Record<string, { cycles: number; walkReferences: number }> = {};
  for (const c of CASES) {
    const io: AmdIommu = system(c.caches);
    const out = new TranslationResult();
    io.translateInto(c.req, out); // warm the IOTLB for the hit case; A bits set once
    bench.add(c.name, () => { io.translateInto(c.req, out); });
    io.translateInto(c.req, out);
    modelled[c.name] = { cycles: out.cycles, walkReferences: out.walkReferences };
  }
  await bench.run();
  const rows = bench.tasks.map((t) => {
    const r = t.result as { latency?: { mean: number; samples?: number[] }; state: string };
    return { case: t.name, state: r.state, "host ns/op": r.latency ? Math.round(r.latency.mean * 1e6) : NaN, ...modelled[t.name] };
  });
  if (LONG) console.table(rows);
  expect(rows.map((r) => r.state)).toEqual(CASES.map(() => "completed"));
  expect(rows.every((r) => r["host ns/op"] >= 0)).toBe(true);
  // the modelled cost is the model's answer, not the machine's: fixed by the walk's shape
  // page-table reads of the walk (the GCR3 entry is a separate reference): nested = 4 guest levels x (4 host + 1) + 4 for the final GPA
  expect(rows.map((r) => r.walkReferences)).toEqual([0, 4, 4, 4 * (4 + 1) + 4]);
  const cycles = rows.map((r) => r.cycles);
  expect([...cycles].sort((a, b) => a - b)).toEqual(cycles);
});
