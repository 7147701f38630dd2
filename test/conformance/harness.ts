/**
 * The translation conformance harness: one suite, run against every configuration
 * (4- and 5-level guest tables; IOTLB and page-directory caches on and off) and every way
 * of issuing a request (functional; other modes register themselves in TRANSLATE_MODES).
 */
import { IommuTestbench, LongModeTable, V1PageTable, Gcr3Table } from "../../src/builders/index.js";
import type { AmdIommu, TranslationRequest, TranslationResult } from "../../src/index.js";

export type TranslateFn = (iommu: AmdIommu, req: TranslationRequest) => TranslationResult;

/** The request with its address as a number when it fits (the fast path takes only numbers), else unchanged. */
export function withNumberAddress(req: TranslationRequest): TranslationRequest {
  const a = req.address;
  return typeof a === "bigint" && a <= BigInt(Number.MAX_SAFE_INTEGER) ? { ...req, address: Number(a) } : req;
}
/** The request with its address as a bigint (served by the general path only). */
export function withBigintAddress(req: TranslationRequest): TranslationRequest {
  const a = req.address;
  return typeof a === "number" && Number.isSafeInteger(a) && a >= 0 ? { ...req, address: BigInt(a) } : req;
}

/**
 * Ways to issue a translation. Functional translation runs twice: with every address a
 * number (the fast path, fastHit / fastWalk, serves what it can: host and guest) and with
 * every address a bigint (the general path only). Timed and stepped modes replace these.
 */
export const TRANSLATE_MODES: Record<string, TranslateFn> = {
  "functional, number addresses": (iommu, req) => iommu.translate(withNumberAddress(req)),
  "functional, bigint addresses": (iommu, req) => iommu.translate(withBigintAddress(req)),
};

export interface ConformanceConfig {
  name: string;
  guestLevels: 4 | 5;
  iotlb: boolean;
  pde: boolean;
}

export const CONFIGS: ConformanceConfig[] = [];
for (const guestLevels of [4, 5] as const) {
  for (const iotlb of [true, false]) {
    for (const pde of [true, false]) {
      CONFIGS.push({ name: `${guestLevels}-level guest, IOTLB ${iotlb ? "on" : "off"}, PDE cache ${pde ? "on" : "off"}`, guestLevels, iotlb, pde });
    }
  }
}

export const MiB2 = 2 * 1024 * 1024;
export const GiB1 = 1024 * 1024 * 1024;

export class Rig {
  readonly tb: IommuTestbench;
  readonly translateFn: TranslateFn;
  constructor(readonly cfg: ConformanceConfig, mode: string, extra: ConstructorParameters<typeof IommuTestbench>[0] = {}) {
    const io = extra.iommu ?? {};
    this.tb = new IommuTestbench({
      bytes: 128 * 1024 * 1024,
      ...extra,
      iommu: { iotlb: { entries: cfg.iotlb ? 64 : 0 }, pdeCache: { entries: cfg.pde ? 64 : 0 }, ...io },
    });
    this.translateFn = TRANSLATE_MODES[mode]!;
  }
  get iommu(): AmdIommu { return this.tb.iommu; }
  get memory() { return this.tb.memory; }
  translate(req: TranslationRequest): TranslationResult { return this.translateFn(this.tb.iommu, req); }
  /** A v1 table with `mode` levels. */
  v1(mode = 4): V1PageTable { return new V1PageTable(this.tb.memory, this.tb.pages, mode); }
  /** A guest table with the configuration's level count. */
  guest(levels: 4 | 5 = this.cfg.guestLevels): LongModeTable { return new LongModeTable(this.tb.memory, this.tb.pages, levels); }
  gcr3(glx: 0 | 1 | 2 = 0): Gcr3Table { return new Gcr3Table(this.tb.memory, this.tb.pages, glx); }
  /** A fresh data page (SPA). */
  page(): number { return this.tb.pages.alloc(); }
  /** A 2 MiB-aligned SPA region. */
  region(bytes: number): number {
    const used = this.tb.pages.used;
    const aligned = Math.ceil(used / bytes) * bytes;
    while (this.tb.pages.used < aligned) this.tb.pages.alloc();
    return this.tb.pages.allocContiguous(bytes / 4096);
  }
  /** DTE for guest translation of a device through `gcr3` (Mode 0 unless host given). */
  guestDte(deviceId: number, gcr3: Gcr3Table, o: { domain?: number; host?: V1PageTable; giov?: boolean; glx?: 0 | 1 | 2; ir?: boolean; iw?: boolean; sa?: boolean; se?: boolean; ats?: boolean; ppr?: boolean } = {}): void {
    this.tb.deviceTable.set(deviceId, {
      V: true, TV: true, IR: o.ir ?? true, IW: o.iw ?? true, DomainID: o.domain ?? 1, GV: true, GLX: o.glx ?? gcr3.glx,
      GCR3TableRootPtr: gcr3.root, GuestPagingMode: this.cfg.guestLevels === 5 ? 1 : 0, GIoV: o.giov ?? false,
      Mode: o.host ? o.host.mode : 0, HostPageTableRootPtr: o.host ? o.host.root : 0, SA: o.sa ?? false, SE: o.se ?? false,
      I: o.ats ?? false, PPR: o.ppr ?? false,
    });
  }
  hostDte(deviceId: number, t: V1PageTable, o: { domain?: number; ir?: boolean; iw?: boolean; had?: number; ex?: boolean; sa?: boolean } = {}): void {
    this.tb.deviceTable.set(deviceId, {
      V: true, TV: true, IR: o.ir ?? true, IW: o.iw ?? true, DomainID: o.domain ?? 1, Mode: t.mode, HostPageTableRootPtr: t.root,
      HAD: o.had ?? 0, EX: o.ex ?? false, SA: o.sa ?? false,
    });
  }
}

/** Guest virtual address used by the suites: a canonical lower-half address above 4 GiB. */
export const GVA = 0x0000_7f12_3456_7000n;
