/**
 * Latency profiles (spec-tables/timing-profiles.json): every latency and resource count of
 * the timing model, each with its source. An AmdIommu option picks a profile by name and can
 * override any value.
 */
import table from "../../spec-tables/timing-profiles.json" with { type: "json" };
import { OPTION_LIMITS } from "./options.js";

export interface TimingProfile {
  clockHz: number; iotlbHit: number; pdeCacheHit: number; dteCacheHit: number; gcr3CacheHit: number;
  /**
   * Cycles of the root complex's own handling of an inbound DMA request (done with the IOMMU
   * off too) that the IOMMU's look-ups overlap: a translation adds
   * max(0, its latency - rootComplexOverlap) to a DMA read (dmaAddedCycles). It does not change
   * the translation's own latency (TranslationResult.cycles, completionCycle). Fitted to B1
   * (docs/calibration.md section 9).
   */
  rootComplexOverlap: number;
  memoryReference: number; memoryReferenceLlc: number; tableCacheLines: number; tableCacheWays: number; walkOverhead: number; walkers: number; adUpdate: number;
  commandFetchPerLine: number; commandDecode: number; invalidationBase: number; invalidationPerSet: number;
  completionWaitStore: number; eventLogWrite: number; pprLogWrite: number; interruptDelivery: number;
  atsRoundTrip: number; pcieLinkLatency: number; atsInvalidationDevice: number;
  hostFaultMinor: number; hostPprDispatch: number;
}
/**
 * Names of the profiles in spec-tables/timing-profiles.json. Spelled out so the published
 * declarations do not import the JSON (declaration emit drops the import attribute, and a
 * consumer's type check then fails); the check below keeps the two in step.
 */
export type TimingProfileName = "amd-default" | "gem5-smmuv3";
type TableNames = keyof typeof table.profiles;
const namesMatchTable: [TimingProfileName] extends [TableNames] ? ([TableNames] extends [TimingProfileName] ? true : false) : false = true;
void namesMatchTable;
export const TIMING_PROFILE_NAMES = Object.keys(table.profiles) as TimingProfileName[];

type Row = { value: number; source: string };
/** The profile's values with their sources, for reports. */
export function profileSources(name: TimingProfileName): Record<string, Row> {
  const p = table.profiles[name] as unknown as Record<string, Row | string>;
  return Object.fromEntries(Object.entries(p).filter(([, v]) => typeof v === "object")) as Record<string, Row>;
}

export function resolveTimingProfile(opt: TimingProfileName | (Partial<TimingProfile> & { profile?: TimingProfileName }) | undefined): TimingProfile {
  const name = typeof opt === "string" ? opt : opt?.profile ?? "amd-default";
  if (!(name in table.profiles)) throw new RangeError(`timing: unknown profile "${String(name)}" (known: ${TIMING_PROFILE_NAMES.join(", ")})`);
  const rows = profileSources(name);
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(rows)) out[k] = v.value;
  if (opt && typeof opt === "object") {
    for (const [k, v] of Object.entries(opt)) {
      if (k === "profile") continue;
      if (!(k in out)) throw new RangeError(`timing.${k} is not a timing parameter (known: ${Object.keys(out).join(", ")})`);
      const max = k === "clockHz" ? OPTION_LIMITS.clockHz : k === "walkers" ? OPTION_LIMITS.walkers : OPTION_LIMITS.latencyCycles;
      if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > max) throw new RangeError(`timing.${k} must be a number 0..${max}, got ${String(v)}`);
      out[k] = v;
    }
  }
  if (opt !== undefined && typeof opt !== "string" && (opt === null || typeof opt !== "object")) throw new TypeError("options.timing must be a profile name or an object of timing parameters");
  if (!(out.clockHz! > 0)) throw new RangeError(`timing.clockHz must be positive, got ${out.clockHz}`);
  if (!Number.isInteger(out.walkers) || out.walkers! < 1) throw new RangeError(`timing.walkers must be a positive integer, got ${out.walkers}`);
  if (!Number.isInteger(out.tableCacheLines)) throw new RangeError(`timing.tableCacheLines must be an integer (0 = no table-line cache), got ${out.tableCacheLines}`);
  if (!Number.isInteger(out.tableCacheWays) || out.tableCacheWays! < 1) throw new RangeError(`timing.tableCacheWays must be a positive integer, got ${out.tableCacheWays}`);
  return out as unknown as TimingProfile;
}

/**
 * Cycles a translation of `translationCycles` adds to a DMA read: the IOMMU's look-ups overlap
 * the root complex's own handling of the request (`rootComplexOverlap`, which the read pays
 * with the IOMMU off too), so only the part beyond it delays the read (docs/calibration.md
 * section 9). The translation's own latency is not changed: this is what the device sees.
 */
export function dmaAddedCycles(p: Readonly<Pick<TimingProfile, "rootComplexOverlap">>, translationCycles: number): number {
  const added = translationCycles - p.rootComplexOverlap;
  return added > 0 ? added : 0;
}
