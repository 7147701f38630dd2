/**
 * A deterministic IOMMU with one device of every kind, for the embedding tests: building it
 * twice gives two identical models over identical memory (twins), so one can run
 * functionally and the other through the embedding interfaces and the two be compared.
 *
 *   HOST    v1 4-level (HAD = 11b): 4 KiB RW, 4 KiB read-only, write-only, 2 MiB, 16 KiB (NextLevel 7)
 *   GUEST   GCR3 (GLX 0) + long-mode table: PASID 1 (user RW, supervisor-only, NX, 2 MiB), PASID 2
 *   NESTED  guest tables in guest-physical memory behind a v1 table (4 KiB host pages)
 *   GIOV    no-PASID requests through PASID 0's guest table
 *   MODE0   Mode 0 with IR = 1, IW = 0
 *   BAD     V = 1 with a reserved DTE bit set (ILLEGAL_DEV_TABLE_ENTRY)
 */
import { BumpAllocator, Gcr3Table, IommuTestbench, LongModeTable, V1PageTable, type TestbenchOptions } from "../../src/builders/index.js";
import type { TranslationRequest } from "../../src/index.js";

export const HOST = 0x0100, GUEST = 0x0200, NESTED = 0x0300, GIOV = 0x0400, MODE0 = 0x0500, BAD = 0x0600;
export const D_HOST = 1, D_GUEST = 2, D_NESTED = 3, D_GIOV = 4, D_MODE0 = 5;
const MiB = 1024 * 1024;
const MiB2 = 2097152 as const;
/** Guest-physical window of the nested device: GPA [0, 4 MiB) = SPA [8 MiB, 12 MiB). */
export const GPA_WINDOW = 8 * MiB;
export const GVA = 0x0000_7f00_0000_0000n;

export interface Scenario {
  tb: IommuTestbench;
  host: V1PageTable;
  guest1: LongModeTable;
  nestedGuest: LongModeTable;
  nestedHost: V1PageTable;
}

export function buildScenario(o: TestbenchOptions = {}): Scenario {
  const tb = new IommuTestbench({ bytes: 16 * MiB, deviceTableEntries: 4096, ...o });
  const mem = tb.memory;
  // ---- host v1 ----
  const host = new V1PageTable(mem, tb.pages, 4);
  host.map(0x1000_0000, 0x40_0000);
  host.map(0x1000_1000, 0x40_1000, { writable: false });
  host.map(0x1000_2000, 0x40_2000, { readable: false });
  host.map(0x2000_0000, 0x60_0000, { size: MiB2 });
  host.map(0x3000_0000, 0x41_0000, { size: 16 * 1024 });
  tb.deviceTable.set(HOST, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: host.root, IR: true, IW: true, DomainID: D_HOST, HAD: 3 });
  // ---- guest (GCR3 + long mode) ----
  const g1 = new LongModeTable(mem, tb.pages, 4);
  g1.map(GVA, 0x42_0000);
  g1.map(GVA + 0x1000n, 0x42_1000, { user: false });
  g1.map(GVA + 0x2000n, 0x42_2000, { nx: true });
  g1.map(GVA + 0x20_0000n, 0x60_0000, { size: MiB2 });
  g1.map(0xffff_8000_0000_0000n, 0x43_0000);
  const g2 = new LongModeTable(mem, tb.pages, 4);
  g2.map(0x5000n, 0x44_0000, { writable: false });
  const gcr3 = new Gcr3Table(mem, tb.pages, 0);
  gcr3.set(1, g1.root);
  gcr3.set(2, g2.root);
  tb.deviceTable.set(GUEST, { V: true, TV: true, Mode: 0, IR: true, IW: true, DomainID: D_GUEST, GV: true, GLX: 0, GCR3TableRootPtr: gcr3.root });
  // ---- nested: guest tables live at GPAs behind a v1 table ----
  const nestedHost = new V1PageTable(mem, tb.pages, 4);
  for (let gpa = 0; gpa < 4 * MiB; gpa += 4096) nestedHost.map(gpa, GPA_WINDOW + gpa);
  const window = new BumpAllocator(mem, GPA_WINDOW, GPA_WINDOW + 3 * MiB);
  const nestedGuest = new LongModeTable(mem, window, 4, (g) => g + GPA_WINDOW, (s) => s - GPA_WINDOW);
  nestedGuest.map(GVA, 0x30_0000);
  nestedGuest.map(GVA + 0x1000n, 0x30_1000, { writable: false });
  nestedGuest.map(GVA + 0x20_0000n, 0x20_0000, { size: MiB2 });
  const ngcr3 = new Gcr3Table(mem, tb.pages, 0);
  ngcr3.set(1, nestedGuest.root);
  tb.deviceTable.set(NESTED, {
    V: true, TV: true, Mode: 4, HostPageTableRootPtr: nestedHost.root, IR: true, IW: true, DomainID: D_NESTED, GV: true, GLX: 0,
    GCR3TableRootPtr: ngcr3.root,
  });
  // ---- GIoV: no-PASID requests use PASID 0 ----
  const g0 = new LongModeTable(mem, tb.pages, 4);
  g0.map(0x7000n, 0x45_0000);
  const gcr3b = new Gcr3Table(mem, tb.pages, 0);
  gcr3b.set(0, g0.root);
  tb.deviceTable.set(GIOV, { V: true, TV: true, Mode: 0, IR: true, IW: true, DomainID: D_GIOV, GV: true, GIoV: true, GLX: 0, GCR3TableRootPtr: gcr3b.root });
  // ---- Mode 0 and a bad DTE ----
  tb.deviceTable.set(MODE0, { V: true, TV: true, Mode: 0, IR: true, IW: false, DomainID: D_MODE0 });
  tb.deviceTable.setRaw(BAD, [0x3 | (4 << 9), 0, 0xffff_ffff, 0xffff_ffff, 0, 0, 0, 0]);
  tb.sync();
  return { tb, host, guest1: g1, nestedGuest, nestedHost };
}

/** Requests over every device and outcome; repeated ones exercise the caches. */
export function scenarioRequests(): TranslationRequest[] {
  const r: TranslationRequest[] = [
    { deviceId: HOST, address: 0x1000_0010 },
    { deviceId: HOST, address: 0x1000_0020, write: true },
    { deviceId: HOST, address: 0x1000_0030, write: true },
    { deviceId: HOST, address: 0x1000_1000, write: true },
    { deviceId: HOST, address: 0x1000_2000 },
    { deviceId: HOST, address: 0x1000_2000, write: true },
    { deviceId: HOST, address: 0x2012_3456 },
    { deviceId: HOST, address: 0x3000_3000, write: true },
    { deviceId: HOST, address: 0x5000_0000 },
    { deviceId: GUEST, address: GVA + 8n, pasid: 1, write: true },
    { deviceId: GUEST, address: GVA + 0x1000n, pasid: 1 },
    { deviceId: GUEST, address: GVA + 0x1000n, pasid: 1, privileged: true },
    { deviceId: GUEST, address: GVA + 0x2000n, pasid: 1, execute: true },
    { deviceId: GUEST, address: GVA + 0x23_4567n, pasid: 1 },
    { deviceId: GUEST, address: 0xffff_8000_0000_0010n, pasid: 1 },
    { deviceId: GUEST, address: 0x5000n, pasid: 2, write: true },
    { deviceId: GUEST, address: 0x5000n, pasid: 3 },
    { deviceId: GUEST, address: 0x8000_0000_0000n, pasid: 1 },
    { deviceId: NESTED, address: GVA + 0x10n, pasid: 1, write: true },
    { deviceId: NESTED, address: GVA + 0x1010n, pasid: 1, write: true },
    { deviceId: NESTED, address: GVA + 0x21_0000n, pasid: 1 },
    { deviceId: NESTED, address: GVA + 0x10n, pasid: 1 },
    { deviceId: GIOV, address: 0x7008 },
    { deviceId: GIOV, address: 0x8000 },
    { deviceId: MODE0, address: 0x1234_5000 },
    { deviceId: MODE0, address: 0x1234_5000, write: true },
    { deviceId: BAD, address: 0x1000 },
    { deviceId: 0x0fff, address: 0x1000 },
  ];
  return [...r, ...r.slice(0, 12)];
}
