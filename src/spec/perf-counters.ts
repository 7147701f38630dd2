/**
 * Performance counter layout (spec: "IOMMU performance counters", EFR.PCSup), built from
 * spec-tables/perf-counters.json (docs/spec-readings.md irq section 3).
 */
import table from "../../spec-tables/perf-counters.json" with { type: "json" };

export const PERF_WINDOW_BYTES = table.windowBytes;
export const PERF_CONFIG_OFFSET = Number.parseInt(table.configOffset, 16);
export const PERF_BANK_BASE = Number.parseInt(table.bankBase, 16);
export const PERF_BANK_SHIFT = table.bankShift;
export const PERF_COUNTER_SHIFT = table.counterShift;
export const PERF_COUNTER_BITS = table.counterBits;
export const PERF_RESERVED_REGISTER = Number.parseInt(table.reservedRegister, 16);
const reg = (n: string) => Number.parseInt(table.counterRegisters.find((r) => r.name === n)!.offset, 16);
/** Register offsets within a counter's 256-byte block. */
export const PERF_REG = {
  Counter: reg("Counter"), CounterSource: reg("CounterSource"), PasidMatch: reg("PasidMatch"),
  DomainIdMatch: reg("DomainIdMatch"), DeviceIdMatch: reg("DeviceIdMatch"), CounterReport: reg("CounterReport"),
} as const;
export interface PerfEventSpec { readonly code: number; readonly name: string; readonly kind: "derived" | "direct"; readonly reading: string }
export const PERF_EVENTS: readonly PerfEventSpec[] = table.events as PerfEventSpec[];
export const PERF_EVENT_CODE: Readonly<Record<string, number>> = Object.fromEntries(PERF_EVENTS.map((e) => [e.name, e.code]));

/** Address of register `r` of counter `c` in bank `b`: 0x40000 | b << 12 | c << 8 | r. */
export function perfCounterRegister(bank: number, counter: number, r: number): number {
  return PERF_BANK_BASE | (bank << PERF_BANK_SHIFT) | (counter << PERF_COUNTER_SHIFT) | r;
}
/** Counter configuration register (0x4000) value for a geometry. */
export function perfConfigValue(banks: number, countersPerBank: number): number {
  return ((countersPerBank & 0xf) << 7 | (banks & 0x3f) << 12) >>> 0;
}
