/** The spec as code: layouts, offsets, bits and codecs built from spec-tables/. */
export * from "./registers.js";
export * from "./dte.js";
export * from "./commands.js";
export * from "./events.js";
export * from "./ppr.js";
export * from "./page-tables.js";
export { getField, getFieldBig, setField, type FieldSpec } from "./bitfield.js";
export * from "./interrupts.js";
export * from "./perf-counters.js";
