/** Shared set-up for the interrupt-remapping tests: a testbench, a device with an interrupt table. */
import { builders, spec, type AmdIommuOptions } from "../../../src/index.js";

export const DEV = 0x0200;
export const MSI = 0xfee0_0000;

export interface IrSetup {
  tb: builders.IommuTestbench;
  table: builders.InterruptTable;
  setDte(extra?: Partial<spec.DteFields>): void;
}

/** format "128" turns Control.GAEn on (and XTEn / GAMEn when asked). */
export function irSetup(o: {
  format?: "32" | "128"; intTabLen?: number; xt?: boolean; gam?: boolean; iommu?: Omit<AmdIommuOptions, "memory">;
  dte?: Partial<spec.DteFields>;
} = {}): IrSetup {
  const tb = new builders.IommuTestbench({ iommu: o.iommu ?? {} });
  const format = o.format ?? "128";
  const table = new builders.InterruptTable(tb.memory, tb.pages, { format, intTabLen: o.intTabLen ?? 9 });
  const set: (keyof typeof spec.CONTROL)[] = [];
  if (format === "128") set.push("GAEn");
  if (o.xt) set.push("XTEn");
  if (set.length) tb.control(set);
  if (o.gam) tb.iommu.mmioWrite64(spec.MMIO_CONTROL, tb.iommu.mmioRead64(spec.MMIO_CONTROL) | (1n << 25n));
  const setDte = (extra: Partial<spec.DteFields> = {}) => {
    tb.deviceTable.set(DEV, { V: true, TV: true, Mode: 0, DomainID: 7, ...table.dteFields(), ...(o.dte ?? {}), ...extra });
    tb.sync(spec.buildInvalidateDevtabEntry(DEV));
  };
  setDte();
  return { tb, table, setDte };
}
