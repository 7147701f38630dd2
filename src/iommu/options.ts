/**
 * AmdIommu options: memory, features advertised in the Extended Feature Registers, cache
 * geometry, timing profile, and the named readings of points docs/spec-readings.md marks
 * UNCERTAIN (each with the reading chosen by default and where it comes from).
 */
import type { MemoryPort } from "../memory/memory-port.js";
import type { CacheGeometry } from "./caches/tag-store.js";
import type { PdeCacheGeometry } from "./caches/pde-cache.js";
import type { TimingProfile, TimingProfileName } from "./timing-profile.js";

export interface FeatureOptions {
  /** EFR.PreFSup: PREFETCH_IOMMU_PAGES. */ prefetch: boolean;
  /** EFR.PPRSup: PRI page requests and the PPR log. */ ppr: boolean;
  /** EFR.NXSup: no-execute and privilege checks in guest tables. */ nx: boolean;
  /** EFR.GTSup: guest (PASID/GCR3) translation. */ guestTranslation: boolean;
  /** EFR.IASup: INVALIDATE_IOMMU_ALL. */ invalidateAll: boolean;
  /** EFR.HATS: 0 = 4 host levels, 1 = 5, 2 = 6. */ hats: 0 | 1 | 2;
  /** EFR.GATS: 0 = 4-level, 1 = 5-level guest tables. */ gats: 0 | 1;
  /** EFR.GLXSup: largest DTE.GLX (0..2). */ glxSup: 0 | 1 | 2;
  /** EFR.PASmax: PASIDs 0 .. 2^(pasMax+1) - 1 (0..19). */ pasMax: number;
  /** EFR.USSup. */ userSupervisor: boolean;
  /** EFR.GIoSup: DTE.GIoV. */ guestIo: boolean;
  /** EFR.HASup: host (v1) Accessed updates. */ hostAccessed: boolean;
  /** EFR.HDSup: host (v1) Dirty updates. */ hostDirty: boolean;
  /** EFR.GAUpdateDisSup: Control.GAUpdateDis / GDUpdateDis. */ guestAdUpdateDisable: boolean;
  /** EFR2.GCR3TRPModeSup: Control.GCR3TRPMode. */ gcr3TrpMode: boolean;
  /** EFR.XTSup: x2APIC (32-bit destination) remapping, Control.XTEn/IntCapXTEn, registers 0x170/0x178/0x180. */ x2apic: boolean;
  /** EFR.GASup and GAMSup = 001b: 128-bit IRTEs (Control.GAEn), guest vAPIC mode (GAMEn) and the GA log. */ guestVapic: boolean;
  /** EFR2.NumIntRemapSup = 01b: the 2048-entry interrupt remapping mode (Control.NumIntRemapMode = 01b). */ intRemap2k: boolean;
  /** EFR.PCSup: performance counters (configuration at 0x4000, banks from 0x40000; 512 KiB MMIO window). */ perfCounters: boolean;
  /** Counter banks (1..63) and counters per bank (1..15) when perfCounters. */ perfCounterBanks: number; perfCountersPerBank: number;
  /** EFR.PprAutoRspSup: PPR auto-response (register 0x2080, Control.PprAutoRspEn/Aon). Off by default (no driver uses it). */ pprAutoResponse: boolean;
  /** EFR.PprOvrflwEarlySup: PPR early-overflow warning (register 0x2088). Off by default. */ pprEarlyOverflow: boolean;
  /** EFR.DualPprLogSup = 10b (as Zen parts report): PPR log B (0x00F0, 0x2050/0x2058), Control.DualPprLogEn. Off by default. */ dualPprLog: boolean;
  /** EFR.DualEventLogSup = 10b: event log B (0x00F8, 0x2070/0x2078), Control.DualEventLogEn. Off by default. */ dualEventLog: boolean;
}

export const DEFAULT_FEATURES: FeatureOptions = {
  prefetch: true, ppr: true, nx: true, guestTranslation: true, invalidateAll: true,
  hats: 2, gats: 1, glxSup: 2, pasMax: 15, userSupervisor: true, guestIo: true,
  hostAccessed: true, hostDirty: true, guestAdUpdateDisable: true, gcr3TrpMode: true,
  x2apic: true, guestVapic: true, intRemap2k: true, perfCounters: true, perfCounterBanks: 2, perfCountersPerBank: 4,
  pprAutoResponse: false, pprEarlyOverflow: false, dualPprLog: false, dualEventLog: false,
};

/** Readings of UNCERTAIN points of docs/spec-readings.md. Defaults and sources are in README "Spec readings". */
export interface QuirkOptions {
  /** DTE V=1, TV=0 (docs/spec-readings.md reg 6.4): "io-page-fault" (VBox) or "abort" (QEMU: blocked silently). */
  tvZero: "io-page-fault" | "abort";
  /** DTE Mode = 7 or above HATS (docs/spec-readings.md reg 6.5): "io-page-fault" (VBox) or "illegal-dte". */
  reservedMode: "io-page-fault" | "illegal-dte";
  /** PASID-prefixed request with DTE.GV = 0 or Control.GTEn = 0 (docs/spec-readings.md reg 6.10). */
  pasidWithoutGuest: "invalid-device-request" | "io-page-fault";
  /** DeviceID beyond the programmed device-table size: "illegal-dte" or "dev-tab-hardware-error". */
  deviceIdBeyondTable: "illegal-dte" | "dev-tab-hardware-error";
  /** Set A in v1 PDEs too (docs/spec-readings.md reg 6.3; QEMU sets only the leaf). */
  v1AccessedInPde: boolean;
  /** A request denied by a cached translation re-walks the tables (x86 behaviour) instead of faulting at once. */
  rewalkOnCachedPermissionFault: boolean;
  /** DTE.SE (docs/spec-readings.md reg 6.7): after one logged IO_PAGE_FAULT, further ones for the device are suppressed until its DTE is invalidated. */
  seSuppressesRepeats: boolean;
  /** Status.ComWaitInt is set by COMPLETION_WAIT i=1 even when ComWaitIntEn = 0 (docs/spec-readings.md reg 6.14). */
  comWaitIntStatusWithoutEnable: boolean;
  /** Opcodes of features the EFR does not advertise are ILLEGAL_COMMAND_ERROR (docs/spec-readings.md cmd 6.2). */
  unsupportedOpcodeIsIllegal: boolean;
  /** Writing a ring's base register resets its head and tail to 0 (QEMU); default keeps them (Linux writes both anyway). */
  baseWriteResetsPointers: boolean;
  /** Reserved bits of GCR3 entries (11:1, 63:52) fault with RZ (docs/spec-readings.md reg 6.9). */
  gcr3ReservedBitsFault: boolean;
  /** A v1 entry's invalid NextLevel or page-size encoding faults with RZ = 1 (default: RZ = 0, VBox; docs/spec-readings.md reg 4.3 lists it apart from reserved bits). */
  v1EncodingFaultRz: boolean;
  /** INVALID_DEVICE_REQUEST events carry RW (the generic flag layout, cmd 2.4); false: RW reserved (VBox's layout). */
  invalidDeviceRequestRw: boolean;
  /** TV gates only the host table: with TV = 0, GV = 1 and GTEn, a PASID (or GIoV) request takes the guest walk, not nested (default: refused as TV = 0, docs/spec-readings.md reg 5.1). */
  tvGatesHostTableOnly: boolean;
  /** DTE.GLX above EFR.GLXSup: "capped" (read as GLXSup: AMD describes GLXSup = 00b as GLX ignored, one-level GCR3 look-up) or "illegal-dte". */
  glxAboveSupport: "capped" | "illegal-dte";
  /** SMI-type MSIs (data[10:8] = 010b; digest irq 7.1): "sysmgt" forwards them when DTE.SysMgt = 01b, else aborts; "forward" (VBox); "abort" (QEMU). */
  smiInterrupts: "sysmgt" | "forward" | "abort";
  /** DTE.IG (digest irq 7.4): "all" suppresses every interrupt IO_PAGE_FAULT (VBox); "unmapped" only index-out-of-range and RemapEn = 0. */
  interruptIgScope: "all" | "unmapped";
  /** Reserved IRTE bits set fault with IO_PAGE_FAULT RZ = 1 (digest irq 7.6); IntType and GuestMode are always checked. */
  irteReservedBitsFault: boolean;
}

export const DEFAULT_QUIRKS: QuirkOptions = {
  tvZero: "io-page-fault", reservedMode: "io-page-fault", pasidWithoutGuest: "invalid-device-request",
  deviceIdBeyondTable: "illegal-dte", v1AccessedInPde: false, rewalkOnCachedPermissionFault: true,
  seSuppressesRepeats: true, comWaitIntStatusWithoutEnable: true, unsupportedOpcodeIsIllegal: true,
  baseWriteResetsPointers: false, gcr3ReservedBitsFault: true, v1EncodingFaultRz: false, invalidDeviceRequestRw: true,
  tvGatesHostTableOnly: false, glxAboveSupport: "capped",
  smiInterrupts: "sysmgt", interruptIgScope: "all", irteReservedBitsFault: true,
};

export type InterruptSource = "event-log" | "ppr-log" | "completion-wait" | "ga-log";

export interface AmdIommuOptions {
  memory: MemoryPort;
  /** IOTLB geometry; { entries: 0 } turns it off. Default 64 entries, 4-way (docs/calibration.md B5). */
  iotlb?: CacheGeometry;
  /** Page-directory cache; default 64 entries, 4-way, levels >= 3 (a warm walk reads 2 entries, docs/calibration.md B18). */
  pdeCache?: PdeCacheGeometry;
  /** DTE cache; default 256 entries, 8-way. */
  dteCache?: CacheGeometry;
  /** GCR3-entry cache; default 64 entries, 4-way. */
  gcr3Cache?: CacheGeometry;
  /** IRTE cache (interrupt remapping); default 128 entries, 8-way. Control.IRTCacheDis = 1 bypasses it. */
  irteCache?: CacheGeometry;
  features?: Partial<FeatureOptions>;
  quirks?: Partial<QuirkOptions>;
  timing?: TimingProfileName | (Partial<TimingProfile> & { profile?: TimingProfileName });
  /** Seed of every random choice (cache replacement "random"). */
  seed?: number;
  /** PCI segment this IOMMU serves (informational; several IOMMUs are independent). */
  segment?: number;
  /** Called when the IOMMU raises an interrupt (MSI) with its source. */
  onInterrupt?: (source: InterruptSource) => void;
  /**
   * "single" (default): one agent at a time uses the memory; "shared": other threads may
   * change tables concurrently, so entries are read low-high-low (docs/ARCHITECTURE.md section 5).
   */
  concurrency?: "single" | "shared";
}

/**
 * Upper limits of every numeric option (snapshots and the pipe's create-iommu are held to the
 * same limits). Cache entries: the tag store's limit; walkers: each timed walk scans the
 * walker slots; latencies: one second at the default 1 GHz clock; the clock: 100 GHz.
 */
export const OPTION_LIMITS = Object.freeze({
  cacheEntries: 1 << 20,
  walkers: 256,
  latencyCycles: 1e9,
  clockHz: 1e11,
  seed: 0xffff_ffff,
  segment: 0xffff,
});

/** The named readings of each string-valued quirk. */
export const QUIRK_CHOICES: Readonly<Record<string, readonly string[]>> = {
  tvZero: ["io-page-fault", "abort"], reservedMode: ["io-page-fault", "illegal-dte"],
  pasidWithoutGuest: ["invalid-device-request", "io-page-fault"], deviceIdBeyondTable: ["illegal-dte", "dev-tab-hardware-error"],
  glxAboveSupport: ["capped", "illegal-dte"],
  smiInterrupts: ["sysmgt", "forward", "abort"], interruptIgScope: ["all", "unmapped"],
};

function checkBool(name: string, v: unknown): void {
  if (typeof v !== "boolean") throw new TypeError(`${name} must be a boolean, got ${typeof v}`);
}

export function resolveFeatures(f: Partial<FeatureOptions> | undefined): FeatureOptions {
  if (f !== undefined && (f === null || typeof f !== "object")) throw new TypeError("options.features must be an object");
  const out = { ...DEFAULT_FEATURES, ...(f ?? {}) };
  for (const k of Object.keys(f ?? {})) if (!(k in DEFAULT_FEATURES)) throw new RangeError(`options.features.${k} is not a feature (known: ${Object.keys(DEFAULT_FEATURES).join(", ")})`);
  for (const k of ["prefetch", "ppr", "nx", "guestTranslation", "invalidateAll", "userSupervisor", "guestIo", "hostAccessed", "hostDirty", "guestAdUpdateDisable", "gcr3TrpMode", "x2apic", "guestVapic", "intRemap2k", "perfCounters", "pprAutoResponse", "pprEarlyOverflow", "dualPprLog", "dualEventLog"] as const) checkBool(`options.features.${k}`, out[k]);
  if (![0, 1, 2].includes(out.hats)) throw new RangeError(`options.features.hats must be 0, 1 or 2, got ${String(out.hats)}`);
  if (![0, 1].includes(out.gats)) throw new RangeError(`options.features.gats must be 0 or 1, got ${String(out.gats)}`);
  if (![0, 1, 2].includes(out.glxSup)) throw new RangeError(`options.features.glxSup must be 0, 1 or 2, got ${String(out.glxSup)}`);
  if (!Number.isInteger(out.perfCounterBanks) || out.perfCounterBanks < 1 || out.perfCounterBanks > 63) throw new RangeError(`options.features.perfCounterBanks must be an integer 1..63, got ${String(out.perfCounterBanks)}`);
  if (!Number.isInteger(out.perfCountersPerBank) || out.perfCountersPerBank < 1 || out.perfCountersPerBank > 15) throw new RangeError(`options.features.perfCountersPerBank must be an integer 1..15, got ${String(out.perfCountersPerBank)}`);
  if (!Number.isInteger(out.pasMax) || out.pasMax < 0 || out.pasMax > 19) throw new RangeError(`options.features.pasMax must be an integer 0..19, got ${String(out.pasMax)}`);
  return out;
}

export function resolveQuirks(q: Partial<QuirkOptions> | undefined): QuirkOptions {
  if (q !== undefined && (q === null || typeof q !== "object")) throw new TypeError("options.quirks must be an object");
  for (const k of Object.keys(q ?? {})) if (!(k in DEFAULT_QUIRKS)) throw new RangeError(`options.quirks.${k} is not a quirk (known: ${Object.keys(DEFAULT_QUIRKS).join(", ")})`);
  const out = { ...DEFAULT_QUIRKS, ...(q ?? {}) };
  for (const [k, v] of Object.entries(out)) {
    const d = (DEFAULT_QUIRKS as unknown as Record<string, unknown>)[k];
    if (typeof d === "boolean") checkBool(`options.quirks.${k}`, v);
    else if (typeof v !== "string") throw new TypeError(`options.quirks.${k} must be a string`);
  }
  for (const [k, allowed] of Object.entries(QUIRK_CHOICES)) {
    const v = (out as unknown as Record<string, string>)[k]!;
    if (!allowed.includes(v)) throw new RangeError(`options.quirks.${k} must be one of ${allowed.join(", ")}, got ${v}`);
  }
  return out;
}

const OPTION_KEYS = ["memory", "iotlb", "pdeCache", "dteCache", "gcr3Cache", "irteCache", "features", "quirks", "timing", "seed", "segment", "onInterrupt", "concurrency"];
const GEOMETRY_KEYS = ["entries", "ways", "replacement"];

/**
 * Names and ranges AmdIommu's constructor checks before building anything: an unknown
 * (misspelt) option or cache-geometry field is an error naming it, as is a seed or segment
 * out of range. Returns the seed.
 */
export function checkOptionNames(options: object): number {
  for (const k of Object.keys(options)) {
    if (!OPTION_KEYS.includes(k)) throw new RangeError(`options.${k} is not an option (known: ${OPTION_KEYS.join(", ")})`);
  }
  const o = options as Record<string, unknown>;
  for (const name of ["iotlb", "pdeCache", "dteCache", "gcr3Cache", "irteCache"]) {
    const g = o[name];
    if (g === null || typeof g !== "object") continue; // the geometry check names it
    for (const k of Object.keys(g)) {
      if (!GEOMETRY_KEYS.includes(k) && !(name === "pdeCache" && k === "minLevel")) {
        throw new RangeError(`options.${name}.${k} is not a cache-geometry field (known: ${GEOMETRY_KEYS.join(", ")}${name === "pdeCache" ? ", minLevel" : ""})`);
      }
    }
  }
  const seed = o.seed ?? 1;
  if (typeof seed !== "number" || !Number.isInteger(seed) || seed < 0 || seed > OPTION_LIMITS.seed) {
    throw new RangeError(`options.seed must be an integer 0..${OPTION_LIMITS.seed}, got ${String(seed)}`);
  }
  return seed;
}
