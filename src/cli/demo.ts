/**
 * `npm start -- demo`: program an IOMMU through its registers like a driver, map pages in
 * v1 and guest tables, translate a few requests and print what the hardware did.
 */
import { parseArgs } from "node:util";
import { IommuTestbench, LongModeTable, V1PageTable, Gcr3Table } from "../builders/index.js";
import { buildInvalidateIommuPages } from "../spec/commands.js";
import { bdf } from "../iommu/timing/trace-recorder.js";
import { writeTrace } from "./trace-file.js";

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { help: { type: "boolean", short: "h" }, stats: { type: "boolean" }, trace: { type: "string" } } });
  if (values.help) {
    console.log("usage: npm start -- demo [--stats]\n  programs an IOMMU, translates a few requests and prints the results\n  --stats       also print iommu.stats() (counters and latency histograms of every component) as JSON\n  --trace FILE  write a Perfetto trace of the demo (each translation, walk and command) to FILE");
    return 0;
  }
  const tb = new IommuTestbench();
  const v1 = new V1PageTable(tb.memory, tb.pages, 4);
  v1.map(0x1000_0000, 0x40_0000, { writable: false });
  tb.deviceTable.set(0x0100, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: v1.root, IR: true, IW: true, DomainID: 1, HAD: 3 });
  const guest = new LongModeTable(tb.memory, tb.pages, 4);
  guest.map(0x7f00_0000_0000n, 0x80_0000, { writable: true });
  const gcr3 = new Gcr3Table(tb.memory, tb.pages, 0);
  gcr3.set(1, guest.root);
  tb.deviceTable.set(0x0200, { V: true, TV: true, Mode: 0, IR: true, IW: true, DomainID: 2, GV: true, GLX: 0, GCR3TableRootPtr: gcr3.root });
  tb.sync();
  if (values.trace !== undefined) tb.iommu.startTrace();
  const show = (label: string, r: ReturnType<typeof tb.iommu.translate>) =>
    console.log(`${label.padEnd(44)} ok=${String(r.ok).padEnd(5)} spa=0x${r.spa.toString(16).padStart(8, "0")} size=${r.pageSize} cycles=${r.cycles} refs=${r.memoryReferences}${r.fault ? " fault=" + r.fault : ""}`);
  show("v1 read  dev 0x0100 (01:00.0) IOVA 0x10000000", tb.iommu.translate({ deviceId: 0x0100, address: 0x1000_0000 }));
  show("v1 read  again (IOTLB hit)", tb.iommu.translate({ deviceId: 0x0100, address: 0x1000_0008 }));
  show("v1 write (read-only page)", tb.iommu.translate({ deviceId: 0x0100, address: 0x1000_0000, write: true }));
  show("guest write dev 0x0200 (02:00.0) PASID 1", tb.iommu.translate({ deviceId: 0x0200, address: 0x7f00_0000_0010n, pasid: 1, write: true }));
  const pte = guest.entryAddress(0x7f00_0000_0000n, 1);
  console.log(`guest PTE after the write: 0x${tb.memory.read64(pte).toString(16)} (A and D set by the IOMMU)`);
  tb.sync(buildInvalidateIommuPages({ domainId: 2, pasid: 1, gn: true, address: 0x7f00_0000_0000n }));
  show("guest read after INVALIDATE_IOMMU_PAGES", tb.iommu.translate({ deviceId: 0x0200, address: 0x7f00_0000_0010n, pasid: 1 }));
  for (const e of tb.events()) console.log(`event: ${e.name} device 0x${e.deviceId.toString(16).padStart(4, "0")} (${bdf(e.deviceId)}) address 0x${e.address.toString(16)} flags ${Object.entries(e.flags).filter(([, v]) => v === true).map(([k]) => k).join(",")}`);
  if (values.trace !== undefined) writeTrace(values.trace, tb.iommu.stopTrace());
  if (values.stats) console.log(JSON.stringify(tb.iommu.stats(), (_k, v) => (v === Infinity ? "Infinity" : v), 2));
  return 0;
}
