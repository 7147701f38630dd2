/**
 * MMIO register map, Control / Status / Extended Feature register bits, built from
 * spec-tables/registers.json (spec: "MMIO registers", offsets 0x0000-0x3FFF).
 */
import table from "../../spec-tables/registers.json" with { type: "json" };
import { dwordMask, type FieldSpec } from "./bitfield.js";

export type RegisterAccess = "RW" | "RO" | "W1C" | "IOMMU";

export interface RegisterFieldSpec extends FieldSpec {
  readonly access: RegisterAccess;
}

export interface RegisterSpec {
  readonly offset: number;
  readonly name: string;
  /** Reset value, or "model" when the model computes it (feature registers). */
  readonly reset: bigint | "model";
  readonly presentWhen?: string;
  readonly fields: readonly RegisterFieldSpec[];
  /** Per 32-bit half: bits software may write. */
  readonly writable: readonly [number, number];
  /** Per 32-bit half: write-1-to-clear bits. */
  readonly w1c: readonly [number, number];
  /** Per 32-bit half: bits that exist (any access kind). */
  readonly defined: readonly [number, number];
}

function halves(fields: readonly RegisterFieldSpec[], pick: (f: RegisterFieldSpec) => boolean): [number, number] {
  let a = 0, b = 0;
  for (const f of fields) if (pick(f)) { a = (a | dwordMask(0, f.lo, f.hi)) >>> 0; b = (b | dwordMask(1, f.lo, f.hi)) >>> 0; }
  return [a, b];
}

export const REGISTERS: readonly RegisterSpec[] = table.registers.map((r) => {
  const fields = r.fields as RegisterFieldSpec[];
  return {
    offset: Number.parseInt(r.offset, 16),
    name: r.name,
    reset: r.reset === "model" ? "model" : BigInt(r.reset),
    ...(("presentWhen" in r) ? { presentWhen: (r as { presentWhen: string }).presentWhen } : {}),
    fields,
    writable: halves(fields, (f) => f.access === "RW"),
    w1c: halves(fields, (f) => f.access === "W1C"),
    defined: halves(fields, () => true),
  };
});

export const MMIO_WINDOW_BYTES = table.windowBytes;

const byName = new Map(REGISTERS.map((r) => [r.name, r]));
export function register(name: string): RegisterSpec {
  const r = byName.get(name);
  if (!r) throw new Error(`no register ${name} in spec-tables/registers.json`);
  return r;
}

/** A register field as (half, shift, mask-in-half) for number-only access. */
export interface BitRef { readonly half: 0 | 1; readonly shift: number; readonly mask: number; readonly lo: number; readonly hi: number }
export function bitRef(regName: string, fieldName: string): BitRef {
  const f = register(regName).fields.find((x) => x.name === fieldName);
  if (!f) throw new Error(`register ${regName} has no field ${fieldName}`);
  if ((f.lo >>> 5) !== (f.hi >>> 5)) throw new Error(`field ${regName}.${fieldName} spans both halves`);
  const half = (f.lo >>> 5) as 0 | 1;
  return { half, shift: f.lo & 31, mask: dwordMask(half, f.lo, f.hi), lo: f.lo, hi: f.hi };
}
/** Mask of a field as a bigint over the 64-bit register. */
export function fieldMask64(regName: string, fieldName: string): bigint {
  const f = register(regName).fields.find((x) => x.name === fieldName);
  if (!f) throw new Error(`register ${regName} has no field ${fieldName}`);
  return ((1n << BigInt(f.hi - f.lo + 1)) - 1n) << BigInt(f.lo);
}

// ---- offsets ----
export const MMIO_DEVICE_TABLE_BASE = register("DeviceTableBase").offset;
export const MMIO_COMMAND_BUFFER_BASE = register("CommandBufferBase").offset;
export const MMIO_EVENT_LOG_BASE = register("EventLogBase").offset;
export const MMIO_CONTROL = register("Control").offset;
export const MMIO_EXCLUSION_BASE = register("ExclusionBase").offset;
export const MMIO_EXCLUSION_LIMIT = register("ExclusionRangeLimit").offset;
export const MMIO_EXTENDED_FEATURE = register("ExtendedFeature").offset;
export const MMIO_PPR_LOG_BASE = register("PprLogBase").offset;
export const MMIO_EXTENDED_FEATURE_2 = register("ExtendedFeature2").offset;
export const MMIO_COMMAND_BUFFER_HEAD = register("CommandBufferHead").offset;
export const MMIO_COMMAND_BUFFER_TAIL = register("CommandBufferTail").offset;
export const MMIO_EVENT_LOG_HEAD = register("EventLogHead").offset;
export const MMIO_EVENT_LOG_TAIL = register("EventLogTail").offset;
export const MMIO_STATUS = register("Status").offset;
export const MMIO_PPR_LOG_HEAD = register("PprLogHead").offset;
export const MMIO_PPR_LOG_TAIL = register("PprLogTail").offset;
// interrupt remapping, GA log, PPR extras (docs/spec-readings.md irq 1.10, 2.1, 4.1)
export const MMIO_GA_LOG_BASE = register("GALogBase").offset;
export const MMIO_GA_LOG_TAIL_ADDRESS = register("GALogTailAddress").offset;
export const MMIO_GA_LOG_HEAD = register("GALogHead").offset;
export const MMIO_GA_LOG_TAIL = register("GALogTail").offset;
export const MMIO_XT_GENERAL_INT_CTRL = register("XtGeneralIntCtrl").offset;
export const MMIO_XT_PPR_INT_CTRL = register("XtPprIntCtrl").offset;
export const MMIO_XT_GA_INT_CTRL = register("XtGaIntCtrl").offset;
export const MMIO_PPR_AUTO_RESPONSE = register("PprAutoResponse").offset;
export const MMIO_PPR_OVERFLOW_EARLY = register("PprOverflowEarly").offset;
export const MMIO_PPR_LOG_B_OVERFLOW_EARLY = register("PprLogBOverflowEarly").offset;
export const MMIO_PPR_LOG_B_BASE = register("PprLogBBase").offset;
export const MMIO_PPR_LOG_B_HEAD = register("PprLogBHead").offset;
export const MMIO_PPR_LOG_B_TAIL = register("PprLogBTail").offset;
export const MMIO_EVENT_LOG_B_BASE = register("EventLogBBase").offset;
export const MMIO_EVENT_LOG_B_HEAD = register("EventLogBHead").offset;
export const MMIO_EVENT_LOG_B_TAIL = register("EventLogBTail").offset;

// ---- Control bits ----
export const CONTROL = {
  IommuEn: bitRef("Control", "IommuEn"),
  EventLogEn: bitRef("Control", "EventLogEn"),
  EventIntEn: bitRef("Control", "EventIntEn"),
  ComWaitIntEn: bitRef("Control", "ComWaitIntEn"),
  InvTimeOut: bitRef("Control", "InvTimeOut"),
  Coherent: bitRef("Control", "Coherent"),
  CmdBufEn: bitRef("Control", "CmdBufEn"),
  PPRLogEn: bitRef("Control", "PPRLogEn"),
  PprIntEn: bitRef("Control", "PprIntEn"),
  PPREn: bitRef("Control", "PPREn"),
  GTEn: bitRef("Control", "GTEn"),
  GDUpdateDis: bitRef("Control", "GDUpdateDis"),
  GAUpdateDis: bitRef("Control", "GAUpdateDis"),
  GCR3TRPMode: bitRef("Control", "GCR3TRPMode"),
  GAEn: bitRef("Control", "GAEn"),
  GAMEn: bitRef("Control", "GAMEn"),
  GALogEn: bitRef("Control", "GALogEn"),
  GAIntEn: bitRef("Control", "GAIntEn"),
  PprAutoRspEn: bitRef("Control", "PprAutoRspEn"),
  PprAutoRspAon: bitRef("Control", "PprAutoRspAon"),
  NumIntRemapMode: bitRef("Control", "NumIntRemapMode"),
  XTEn: bitRef("Control", "XTEn"),
  IntCapXTEn: bitRef("Control", "IntCapXTEn"),
  IRTCacheDis: bitRef("Control", "IRTCacheDis"),
  DualPprLogEn: bitRef("Control", "DualPprLogEn"),
  DualEventLogEn: bitRef("Control", "DualEventLogEn"),
} as const;

// ---- the translator's fast-path checks as compile-time constants ----
// (V8 loads an imported const from its module cell and checks it at every use; TypeScript
// inlines const enum members. test/spec/register-words.test.ts checks each against the
// offsets and fields above, derived from spec-tables/registers.json.)

/** 32-bit word indices of the MMIO window (offset / 4) and masks within those words. */
export const enum RegWord {
  /** Control, low word: IommuEn is bit 0, GTEn bit 16. */
  Control = 6, IommuEn = 0x1, GTEn = 0x10000,
  /** Exclusion Base, low word: ExEn is bit 0. */
  ExclusionBase = 8, ExEn = 0x1,
}

// ---- Status bits ----
export const STATUS = {
  EventOverflow: bitRef("Status", "EventOverflow"),
  EventLogInt: bitRef("Status", "EventLogInt"),
  ComWaitInt: bitRef("Status", "ComWaitInt"),
  EventLogRun: bitRef("Status", "EventLogRun"),
  CmdBufRun: bitRef("Status", "CmdBufRun"),
  PprOverflow: bitRef("Status", "PprOverflow"),
  PprInt: bitRef("Status", "PprInt"),
  PprLogRun: bitRef("Status", "PprLogRun"),
  GALogRun: bitRef("Status", "GALogRun"),
  GALOverflow: bitRef("Status", "GALOverflow"),
  GAInt: bitRef("Status", "GAInt"),
  PprOverflowEarly: bitRef("Status", "PprOverflowEarly"),
  PprOverflowEarlyB: bitRef("Status", "PprOverflowEarlyB"),
  PprOverflowB: bitRef("Status", "PprOverflowB"),
  PprLogActive: bitRef("Status", "PprLogActive"),
  EventOverflowB: bitRef("Status", "EventOverflowB"),
  EventLogActive: bitRef("Status", "EventLogActive"),
} as const;

/** Extended Feature Register field names, for options and decoding. */
export const EFR_FIELDS = register("ExtendedFeature").fields;
export const EFR2_FIELDS = register("ExtendedFeature2").fields;

/** Device-IOTLB invalidation timeout in nanoseconds per InvTimeOut encoding (null = reserved). */
export const INV_TIMEOUT_NS: readonly (number | null)[] = table.invTimeOutCycles1GHz;
export const RING_MIN_LEN = table.ringLength.minLen;
export const RING_MAX_LEN = table.ringLength.maxLen;
export const RING_ENTRY_BYTES = table.ringLength.entryBytes;
