/**
 * Command buffer entry codecs (16-byte commands, opcode in bits 63:60), built from
 * spec-tables/commands.json, plus builders that software (tests, the driver shim, the
 * co-simulation pipe) uses to write commands, and the S-bit range encoding of
 * INVALIDATE_IOMMU_PAGES / INVALIDATE_IOTLB_PAGES / PREFETCH_IOMMU_PAGES.
 */
import table from "../../spec-tables/commands.json" with { type: "json" };
import { field, getField, getFieldBig, reservedMasks, setField, type FieldSpec } from "./bitfield.js";

export interface CommandFieldSpec extends FieldSpec { readonly feature?: string }
export interface CommandSpec {
  readonly opcode: number;
  readonly name: string;
  readonly feature?: string;
  readonly fields: readonly CommandFieldSpec[];
  /** Per-dword masks of reserved bits (opcode excluded). */
  readonly reserved: Uint32Array;
}

export const COMMAND_BYTES = table.entryBytes;
export const COMMANDS: readonly CommandSpec[] = table.commands.map((c) => ({
  opcode: c.opcode,
  name: c.name,
  ...("feature" in c ? { feature: (c as { feature: string }).feature } : {}),
  fields: c.fields as CommandFieldSpec[],
  reserved: reservedMasks(c.fields as CommandFieldSpec[], 4),
}));
const byOpcode: (CommandSpec | undefined)[] = [];
for (const c of COMMANDS) byOpcode[c.opcode] = c;
export function commandSpec(opcode: number): CommandSpec | undefined { return byOpcode[opcode]; }
export function commandByName(name: string): CommandSpec {
  const c = COMMANDS.find((x) => x.name === name);
  if (!c) throw new Error(`no command ${name}`);
  return c;
}

export const OP_COMPLETION_WAIT = commandByName("COMPLETION_WAIT").opcode;
export const OP_INVALIDATE_DEVTAB_ENTRY = commandByName("INVALIDATE_DEVTAB_ENTRY").opcode;
export const OP_INVALIDATE_IOMMU_PAGES = commandByName("INVALIDATE_IOMMU_PAGES").opcode;
export const OP_INVALIDATE_IOTLB_PAGES = commandByName("INVALIDATE_IOTLB_PAGES").opcode;
export const OP_INVALIDATE_INTERRUPT_TABLE = commandByName("INVALIDATE_INTERRUPT_TABLE").opcode;
export const OP_PREFETCH_IOMMU_PAGES = commandByName("PREFETCH_IOMMU_PAGES").opcode;
export const OP_COMPLETE_PPR_REQUEST = commandByName("COMPLETE_PPR_REQUEST").opcode;
export const OP_INVALIDATE_IOMMU_ALL = commandByName("INVALIDATE_IOMMU_ALL").opcode;

/** The "all pages" address with S = 1 (bits 62:12 set, bit 63 clear). */
export const ALL_PAGES_ADDRESS = BigInt(table.allPagesAddress);
export const PPR_RESPONSE = table.pprResponseCodes;

export function opcodeOf(dw: ArrayLike<number>): number { return (dw[1]! >>> 28) & 0xf; }

/** Read a named field of a command (number; use commandFieldBig for > 53-bit fields). */
export function commandField(spec: CommandSpec, dw: ArrayLike<number>, name: string): number {
  const f = field(spec.fields, name);
  return getField(dw, f.lo, f.hi);
}
export function commandFieldBig(spec: CommandSpec, dw: ArrayLike<number>, name: string): bigint {
  const f = field(spec.fields, name);
  return getFieldBig(dw, f.lo, f.hi);
}

/** Decode any command into { opcode, name, fields } (debugging, traces, tests). */
export function decodeCommand(dw: ArrayLike<number>): { opcode: number; name: string; fields: Record<string, bigint> } {
  const op = opcodeOf(dw);
  const spec = byOpcode[op];
  const fields: Record<string, bigint> = {};
  if (spec) for (const f of spec.fields) if (!f.reserved) fields[f.name] = getFieldBig(dw, f.lo, f.hi);
  return { opcode: op, name: spec ? spec.name : `UNKNOWN_${op}`, fields };
}

/** Build a command from named field values. Unknown names are a programming error. */
export function encodeCommand(name: string, values: Record<string, number | bigint | boolean>): Uint32Array {
  const spec = commandByName(name);
  const dw = new Uint32Array(4);
  setField(dw, table.opcodeField.lo, table.opcodeField.hi, spec.opcode);
  for (const [k, v] of Object.entries(values)) {
    const f = field(spec.fields, k);
    setField(dw, f.lo, f.hi, typeof v === "boolean" ? (v ? 1 : 0) : v);
  }
  return dw;
}

// ---- the S-bit range encoding (docs/spec-readings.md cmd 1.4) ----

/**
 * Decode Address/S into the naturally aligned range it names: S = 0 is one 4 KiB page;
 * S = 1: the lowest clear address bit n >= 12 gives a range of 2^(n+1) bytes, whatever the
 * bits above n hold (cmd 1.4). "All pages" is the range that covers the whole 64-bit space:
 * first clear bit 63 (Linux's 0x7FFF_FFFF_FFFF_F000) or none. A first clear bit at 51 is the
 * 2^52-byte block, not all pages (an IOVA at or above 2^52 lies outside it; QEMU's "51 or
 * higher is everything" is an emulator shortcut). Returns [start, size] as bigints; size 0n = all.
 */
export function decodeInvalidationRange(address: bigint, s: boolean): { start: bigint; size: bigint; all: boolean } {
  const page = address & ~0xfffn & 0xffff_ffff_ffff_ffffn;
  if (!s) return { start: page, size: 4096n, all: false };
  let n = 12;
  while (n < 64 && ((page >> BigInt(n)) & 1n) === 1n) n++;
  if (n + 1 >= 64) return { start: 0n, size: 0n, all: true };
  const size = 1n << BigInt(n + 1);
  return { start: page & ~(size - 1n), size, all: false };
}

/**
 * Encode [start, start + length) as the smallest naturally aligned power-of-two block
 * that covers it (what Linux does): one page gives S = 0; otherwise S = 1 with the
 * lowest-zero-bit encoding. As Linux's build_inv_address: a range whose start and end first
 * differ above bit 51 (bits 63:52 are a sign extension) becomes "all pages"; differing at
 * bit 51 is still the 2^52-byte block.
 */
export function encodeInvalidationRange(start: bigint, length: bigint): { address: bigint; s: boolean } {
  if (length <= 0n) throw new RangeError("encodeInvalidationRange: length must be positive");
  const first = start & ~0xfffn;
  const last = (start + length - 1n) & ~0xfffn;
  if (first === last) return { address: first, s: false };
  let msb = 0;
  let diff = first ^ last;
  while (diff > 1n) { diff >>= 1n; msb++; }
  if (msb > 51) return { address: ALL_PAGES_ADDRESS, s: true };
  // block of 2^(msb+1) bytes: bits msb-1 .. 12 set, bit msb clear
  const size = 1n << BigInt(msb + 1);
  const base = first & ~(size - 1n);
  const ones = ((1n << BigInt(msb)) - 1n) & ~0xfffn;
  return { address: base | ones, s: true };
}

// ---- builders ----

export function buildCompletionWait(o: { store?: boolean; interrupt?: boolean; fence?: boolean; address?: number | bigint; data?: bigint }): Uint32Array {
  const addr = BigInt(o.address ?? 0);
  return encodeCommand("COMPLETION_WAIT", {
    S: !!o.store, I: !!o.interrupt, F: !!o.fence,
    StoreAddress_31_3: (addr >> 3n) & 0x1fffffffn, StoreAddress_51_32: (addr >> 32n) & 0xfffffn,
    StoreData: o.data ?? 0n,
  });
}
export function buildInvalidateDevtabEntry(deviceId: number): Uint32Array {
  return encodeCommand("INVALIDATE_DEVTAB_ENTRY", { DeviceID: deviceId });
}
export function buildInvalidateIommuPages(o: { domainId: number; pasid?: number; gn?: boolean; pde?: boolean; s?: boolean; address: number | bigint }): Uint32Array {
  const a = BigInt(o.address);
  return encodeCommand("INVALIDATE_IOMMU_PAGES", {
    PASID: o.pasid ?? 0, DomainID: o.domainId, S: !!o.s, PDE: !!o.pde, GN: !!o.gn,
    Address_31_12: (a >> 12n) & 0xfffffn, Address_63_32: (a >> 32n) & 0xffffffffn,
  });
}
export function buildInvalidateIotlbPages(o: { deviceId: number; pasid?: number; gn?: boolean; s?: boolean; address: number | bigint; maxPend?: number; queueId?: number }): Uint32Array {
  const a = BigInt(o.address);
  const p = o.pasid ?? 0;
  return encodeCommand("INVALIDATE_IOTLB_PAGES", {
    DeviceID: o.deviceId, PASID_15_8: (p >>> 8) & 0xff, MaxPend: o.maxPend ?? 0, QueueID: o.queueId ?? o.deviceId,
    PASID_7_0: p & 0xff, PASID_19_16: (p >>> 16) & 0xf, S: !!o.s, GN: !!o.gn,
    Address_31_12: (a >> 12n) & 0xfffffn, Address_63_32: (a >> 32n) & 0xffffffffn,
  });
}
export function buildInvalidateInterruptTable(deviceId: number): Uint32Array {
  return encodeCommand("INVALIDATE_INTERRUPT_TABLE", { DeviceID: deviceId });
}
export function buildPrefetchIommuPages(o: { deviceId: number; pasid?: number; gn?: boolean; s?: boolean; inval?: boolean; count?: number; address: number | bigint }): Uint32Array {
  const a = BigInt(o.address);
  return encodeCommand("PREFETCH_IOMMU_PAGES", {
    DeviceID: o.deviceId, PFCount: o.count ?? 1, PASID: o.pasid ?? 0, S: !!o.s, GN: !!o.gn, Inval: !!o.inval,
    Address_31_12: (a >> 12n) & 0xfffffn, Address_63_32: (a >> 32n) & 0xffffffffn,
  });
}
export function buildCompletePprRequest(o: { deviceId: number; pasid?: number; gn?: boolean; prgIndex: number; responseCode: number }): Uint32Array {
  return encodeCommand("COMPLETE_PPR_REQUEST", {
    DeviceID: o.deviceId, PASID: o.pasid ?? 0, GN: !!o.gn, PRGIndex: o.prgIndex, ResponseCode: o.responseCode,
  });
}
export function buildInvalidateIommuAll(): Uint32Array {
  return encodeCommand("INVALIDATE_IOMMU_ALL", {});
}
