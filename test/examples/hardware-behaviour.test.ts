/**
 * Example: a hardware-behaviour unit test, written the way a user of the package writes one.
 * Program the IOMMU as a driver does (device table, GCR3 table, guest page table, commands),
 * let a device do DMA, and assert what the hardware leaves in memory and in the registers.
 *
 * (In a project that installed the package, import from "amd-iommu-v2-model" instead.)
 */
import { expect, it } from "vitest";
import { builders, spec } from "../../src/index.js";

const { IommuTestbench, LongModeTable, Gcr3Table } = builders;
const DEV = 0x0300;      // bus 3, device 0, function 0
const PASID = 7;
const DOMAIN = 42;
const GVA = 0x7f12_3456_7000n;

function setup() {
  const tb = new IommuTestbench();                      // memory, device table, rings, IOMMU enabled as Linux does
  const table = new LongModeTable(tb.memory, tb.pages);  // the process's page table (4 levels)
  const page = tb.pages.alloc();
  table.map(GVA, page, { writable: true, user: true });
  const gcr3 = new Gcr3Table(tb.memory, tb.pages);
  gcr3.set(PASID, table.root);
  tb.deviceTable.set(DEV, { V: true, TV: true, GV: true, GLX: 0, GCR3TableRootPtr: gcr3.root, IR: true, IW: true, DomainID: DOMAIN });
  tb.sync(spec.buildInvalidateDevtabEntry(DEV));
  return { tb, table, page };
}

it("a device write through a guest page sets Accessed and Dirty in the PTE the IOMMU walked", () => {
  const { tb, table, page } = setup();
  const r = tb.iommu.translate({ deviceId: DEV, address: GVA + 0x10n, pasid: PASID, write: true });
  expect(r.ok).toBe(true);
  expect(r.spa).toBe(page + 0x10);
  const pte = tb.memory.read64(table.entryAddress(GVA, 1));
  expect(pte & BigInt(spec.LM_A | spec.LM_D)).toBe(BigInt(spec.LM_A | spec.LM_D));
});

it("after the driver clears the PTE and flushes the PASID, the device's next access is an IO_PAGE_FAULT with GN and the PASID", () => {
  const { tb, table } = setup();
  tb.iommu.translate({ deviceId: DEV, address: GVA, pasid: PASID });          // cached in the IOTLB
  table.unmap(GVA);
  // still cached: the hardware keeps using the stale translation until software flushes it
  expect(tb.iommu.translate({ deviceId: DEV, address: GVA, pasid: PASID }).ok).toBe(true);
  expect(tb.sync(spec.buildInvalidateIommuPages({ domainId: DOMAIN, pasid: PASID, gn: true, address: GVA }))).toBe(true);
  const r = tb.iommu.translate({ deviceId: DEV, address: GVA, pasid: PASID, write: true });
  expect(r.ok).toBe(false);
  const events = tb.events();                                                  // read the event log as software does
  expect(events).toHaveLength(1);
  expect(events[0]).toMatchObject({ name: "IO_PAGE_FAULT", deviceId: DEV, pasid: PASID, address: GVA });
  expect(events[0]!.flags).toMatchObject({ GN: true, RW: true, PR: false });
});
