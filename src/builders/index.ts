/** Table builders and a driver-like testbench for tests, examples and users. */
export { BumpAllocator, type PageSource } from "./page-allocator.js";
export { V1PageTable, type V1MapOptions } from "./v1-page-table.js";
export { LongModeTable, type LongModeMapOptions } from "./long-mode-table.js";
export { Gcr3Table } from "./gcr3-table.js";
export { DeviceTableWriter } from "./device-table-writer.js";
export { IommuTestbench, type TestbenchOptions } from "./testbench.js";
export { InterruptTable, type InterruptTableOptions } from "./interrupt-table.js";
