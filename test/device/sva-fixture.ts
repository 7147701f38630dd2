/**
 * A programmed IOMMU with one shared-virtual-addressing function, as the Linux driver sets
 * it up (docs/spec-readings.md cmd 5.b/5.c): DTE with V, TV, IR, IW, GV, GLX = 0, the GCR3
 * root, I (ATS) and PPR; PASID 1 bound to a 4-level long-mode table; a PcieEndpoint with an
 * ATC and PRI attached at the DeviceID. Shared by the device, command and PPR-log tests.
 */
import { IommuTestbench, type TestbenchOptions } from "../../src/builders/testbench.js";
import { Gcr3Table } from "../../src/builders/gcr3-table.js";
import { LongModeTable } from "../../src/builders/long-mode-table.js";
import { V1PageTable } from "../../src/builders/v1-page-table.js";
import { PcieEndpoint, type PcieEndpointOptions } from "../../src/device/pcie-endpoint.js";
import type { DteFields } from "../../src/spec/dte.js";

export const DEVICE_ID = 0x0100;
export const DOMAIN_ID = 5;
export const PASID = 1;

export interface SvaSetup {
  tb: IommuTestbench;
  ep: PcieEndpoint;
  gcr3: Gcr3Table;
  table: LongModeTable;
  /** A fresh zeroed 4 KiB frame. */
  frame(): number;
  /** Rewrite the DTE with some fields changed (no invalidation). */
  setDte(changes: Partial<DteFields>): void;
}

export function svaSetup(o: { tb?: TestbenchOptions; ep?: Partial<PcieEndpointOptions>; dte?: Partial<DteFields> } = {}): SvaSetup {
  const tb = new IommuTestbench({ bytes: 16 * 1024 * 1024, deviceTableEntries: 1024, ...(o.tb ?? {}) });
  const gcr3 = new Gcr3Table(tb.memory, tb.pages, 0);
  const table = new LongModeTable(tb.memory, tb.pages, 4);
  gcr3.set(PASID, table.root);
  const base: Partial<DteFields> = {
    V: true, TV: true, IR: true, IW: true, Mode: 0, DomainID: DOMAIN_ID, GV: true, GLX: 0, GCR3TableRootPtr: gcr3.root, I: true, PPR: true,
  };
  let dte = { ...base, ...(o.dte ?? {}) };
  tb.deviceTable.set(DEVICE_ID, dte);
  const ep = new PcieEndpoint(tb.iommu, { deviceId: DEVICE_ID, ...(o.ep ?? {}) });
  return {
    tb, ep, gcr3, table,
    frame: () => tb.pages.alloc(),
    setDte: (changes) => { dte = { ...dte, ...changes }; tb.deviceTable.set(DEVICE_ID, dte); },
  };
}

/** A host (v1) domain for a device without PASID: DTE Mode 4, IR/IW, DomainID; returns the table. */
export function hostDomain(tb: IommuTestbench, deviceId: number, domainId: number, extra: Partial<DteFields> = {}): V1PageTable {
  const pt = new V1PageTable(tb.memory, tb.pages, 4);
  tb.deviceTable.set(deviceId, { V: true, TV: true, IR: true, IW: true, Mode: 4, HostPageTableRootPtr: pt.root, DomainID: domainId, ...extra });
  return pt;
}

/** A Status or Control bit as software reads it (32-bit MMIO read of the half that holds it). */
export function regBit(io: IommuTestbench["iommu"], offset: number, ref: { half: 0 | 1; mask: number }): boolean {
  return (io.mmioRead32(offset + 4 * ref.half) & ref.mask) !== 0;
}

/** Byte offset of the command at Head (what software reads from the Head register). */
export function headOf(io: IommuTestbench["iommu"], headReg: number): number {
  return Number(io.mmioRead64(headReg));
}
